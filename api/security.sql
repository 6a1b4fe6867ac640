-- The API's security records: the audit log, revoked tokens, and the technician-to-device check for commands.

-- name: insert_audit
INSERT INTO audit_log (at, actor, actor_user_id, actor_role, action, target_type, target_id, details, client_ip)
VALUES (%(at)s, %(actor)s, %(user_id)s, %(role)s, %(action)s, %(target_type)s, %(target_id)s, %(details)s,
        %(client_ip)s);

-- name: list_audit
SELECT id, at, actor, actor_role, action, target_type, target_id, details, client_ip FROM audit_log
WHERE (%(action)s::text IS NULL OR action = %(action)s)
ORDER BY at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: revoke_token
INSERT INTO revoked_tokens (jti, user_id, revoked_at, expires_at) VALUES (%(jti)s, %(user_id)s, %(at)s, %(exp)s)
ON CONFLICT ON CONSTRAINT revoked_tokens_pk DO NOTHING;

-- name: revoked_jtis
SELECT jti FROM revoked_tokens WHERE expires_at > %(now)s;

-- name: technician_on_device
-- A technician may command a device only while one of their own jobs on it is active.
SELECT EXISTS (SELECT 1 FROM work_orders WHERE device_id = %(device_id)s AND technician_id = %(tid)s
               AND status IN ('assigned', 'en_route', 'on_site')) AS allowed;

-- name: signing_keys
-- Keys that may still verify a token: the current one, and retired ones whose tokens have not all expired.
SELECT kid, secret, retired_at FROM signing_keys
WHERE retired_at IS NULL OR retired_at > %(now)s - make_interval(secs => %(ttl_s)s)
ORDER BY created_at DESC;

-- name: create_first_signing_key
-- The first process to start creates the key; the others' inserts hit the one-current index and do nothing.
INSERT INTO signing_keys (kid, secret, created_at) VALUES (%(kid)s, %(secret)s, %(now)s)
ON CONFLICT DO NOTHING;

-- name: retire_signing_key
UPDATE signing_keys SET retired_at = %(now)s WHERE retired_at IS NULL RETURNING kid;

-- name: active_users
-- Who may still use a token: users that exist and are not disabled, with the role and scope they hold now.
-- (users.disabled: migration 0800, administration.)
SELECT id, role, customer_id, technician_id FROM users WHERE NOT disabled;

-- name: user_active
-- One user's current role and scope, when a token names a user the cached set does not hold (created since).
SELECT id, role, customer_id, technician_id FROM users WHERE id = %(id)s AND NOT disabled;
