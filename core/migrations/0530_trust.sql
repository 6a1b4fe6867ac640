-- Trust, second pass (block 0530-0539): the API's token-signing keys and audit read filters.

-- Keys that sign API tokens when QUIETFIX_API__SECRET_KEY is not set. The first API process to start generates
-- one (32 random bytes) and every other process reads the same row, so all workers verify each other's tokens.
-- Rotation (`quietfix rotate-signing-key`) adds a new key and stamps the old one retired_at: a retired key still
-- verifies tokens until retired_at + the token lifetime, never signs again. In production grant the API role
-- SELECT/INSERT on this table and nothing else reads it.
CREATE TABLE signing_keys (
    kid         text CONSTRAINT signing_keys_pk PRIMARY KEY,
    secret      bytea NOT NULL CONSTRAINT signing_keys_secret_ck CHECK (length(secret) >= 32),
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);
-- At most one key signs at a time; two processes racing to create the first key cannot both win.
CREATE UNIQUE INDEX signing_keys_one_current_uq ON signing_keys ((true)) WHERE retired_at IS NULL;

-- The admin audit reader filters by actor and by action over a time range.
CREATE INDEX audit_log_actor_ix ON audit_log (actor, at DESC);
CREATE INDEX audit_log_action_ix ON audit_log (action, at DESC);
