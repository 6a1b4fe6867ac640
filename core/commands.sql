-- Remote commands (core/commands.py). Status 'expired' is derived, never stored: sent, no result, past expiry.

-- name: insert_command
INSERT INTO commands (id, device_id, cmd, args, issued_by, issued_by_user_id, issued_at, expires_at)
VALUES (%(id)s, %(device_id)s, %(cmd)s, %(args)s, %(issued_by)s, %(user_id)s, %(issued_at)s, %(expires_at)s)
RETURNING (SELECT customer_id FROM devices WHERE id = %(device_id)s);

-- name: set_sent
UPDATE commands SET status = %(status)s WHERE id = %(id)s AND status = 'pending';

-- name: record_result
-- Only the device the command was for may answer it, and only once (a redelivered result changes nothing).
UPDATE commands c SET status = CASE WHEN %(ok)s THEN 'succeeded' ELSE 'failed' END,
                      result = %(result)s, result_at = %(at)s
WHERE c.id = %(id)s AND c.device_id = %(device_id)s AND c.result_at IS NULL
RETURNING c.cmd, c.expires_at, (SELECT customer_id FROM devices d WHERE d.id = c.device_id);

-- name: list_for_device
SELECT id, device_id, cmd, args, issued_by, issued_at, expires_at,
       CASE WHEN status IN ('pending', 'sent') AND expires_at <= %(now)s THEN 'expired' ELSE status END AS status,
       result, result_at
FROM commands WHERE device_id = %(device_id)s
ORDER BY issued_at DESC LIMIT %(limit)s;

-- name: command_exists
SELECT EXISTS (SELECT 1 FROM commands WHERE id = %(id)s AND device_id = %(device_id)s);
