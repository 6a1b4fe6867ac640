-- Security and operations (block 0520-0539): remote commands, the audit log, revoked API tokens.

-- Remote commands sent to devices on qf/v1/{id}/cmd. The id is the uuid in the MQTT payload, so the device's
-- result (qf/v1/{id}/cmd/result) finds its row; expires_at travels with the command and the edge agent drops
-- it after that, so "sent" past expires_at without a result reads as expired. The row is committed as
-- "pending" before the MQTT publish (a fast reply can never find no row), then marked "sent" or "send_failed".
CREATE TABLE commands (
    id            uuid CONSTRAINT commands_pk PRIMARY KEY,
    device_id     text NOT NULL CONSTRAINT commands_device_fk REFERENCES devices (id),
    cmd           text NOT NULL,
    args          jsonb NOT NULL DEFAULT '{}',
    issued_by     text NOT NULL,
    issued_by_user_id bigint CONSTRAINT commands_user_fk REFERENCES users (id),
    issued_at     timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    status        text NOT NULL DEFAULT 'pending'
                  CONSTRAINT commands_status_ck CHECK (status IN ('pending', 'sent', 'send_failed', 'succeeded', 'failed')),
    result        jsonb,
    result_at     timestamptz,
    CONSTRAINT commands_expiry_ck CHECK (expires_at > issued_at)
);
CREATE INDEX commands_device_ix ON commands (device_id, issued_at DESC);

-- Who did what, when, to what: overrides, commands, configuration changes, logins. Append-only by convention
-- (no UPDATE/DELETE in any query); in production grant the API role INSERT and SELECT only on this table.
CREATE TABLE audit_log (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT audit_log_pk PRIMARY KEY,
    at            timestamptz NOT NULL,
    actor         text NOT NULL,
    actor_user_id bigint,
    actor_role    text,
    action        text NOT NULL,
    target_type   text,
    target_id     text,
    details       jsonb NOT NULL DEFAULT '{}',
    client_ip     text
);
CREATE INDEX audit_log_at_ix ON audit_log (at DESC);
CREATE INDEX audit_log_target_ix ON audit_log (target_type, target_id, at DESC);

-- Tokens revoked before their expiry (logout). Rows are useless after expires_at and may be deleted then.
CREATE TABLE revoked_tokens (
    jti         text CONSTRAINT revoked_tokens_pk PRIMARY KEY,
    user_id     bigint,
    revoked_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expires_ix ON revoked_tokens (expires_at);
