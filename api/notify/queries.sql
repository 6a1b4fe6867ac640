-- The notification sender's SQL (outbox rows, preferences, endpoints, per-target delivery records).

-- name: claim_due
-- One due row, locked; concurrent senders skip it. Rows past max_attempts wait for a human.
SELECT n.id, n.customer_id, n.device_id, n.incident_id, n.kind, n.subject, n.body, n.created_at, n.attempts,
       n.message, c.email, c.language, c.timezone
FROM notifications n JOIN customers c ON c.id = n.customer_id
WHERE n.sent_at IS NULL AND n.attempts < %(max_attempts)s
  AND (n.next_attempt_at IS NULL OR n.next_attempt_at <= %(now)s)
ORDER BY n.created_at, n.id
LIMIT 1
FOR UPDATE OF n SKIP LOCKED;

-- name: preferences
SELECT kind, channel, enabled FROM notification_preferences WHERE customer_id = %(customer_id)s;

-- name: webhook_endpoints
SELECT id, url, secret FROM webhook_endpoints WHERE customer_id = %(customer_id)s AND active ORDER BY id;

-- name: delivered_targets
SELECT channel, target FROM notification_deliveries WHERE notification_id = %(id)s;

-- name: record_delivery
INSERT INTO notification_deliveries (notification_id, channel, target, sent_at)
VALUES (%(id)s, %(channel)s, %(target)s, %(at)s)
ON CONFLICT DO NOTHING;

-- name: mark_sent
UPDATE notifications SET sent_at = %(at)s, attempts = attempts + 1, next_attempt_at = NULL, last_error = %(note)s
WHERE id = %(id)s;

-- name: mark_failed
UPDATE notifications SET attempts = attempts + 1, next_attempt_at = %(next_at)s, last_error = %(error)s
WHERE id = %(id)s;
