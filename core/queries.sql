-- name: insert_timeline
INSERT INTO timeline_events (device_id, customer_id, at, kind, summary, incident_id, work_order_id, data, message)
VALUES (%(device_id)s, %(customer_id)s, %(at)s, %(kind)s, %(summary)s, %(incident_id)s, %(work_order_id)s,
        %(data)s, %(message)s);

-- name: insert_notification
INSERT INTO notifications (customer_id, device_id, incident_id, kind, channel, subject, body, created_at, message)
VALUES (%(customer_id)s, %(device_id)s, %(incident_id)s, %(kind)s, %(channel)s, %(subject)s, %(body)s,
        %(created_at)s, %(message)s)
RETURNING id;
