-- Seeded past telemetry and its repaired failures (quietfix/seed_telemetry_history.py).

-- name: reset_learned
-- The demo starts from a clean region: RUL models learned from a previous run's history go with it.
TRUNCATE rul_models;

-- name: copy_samples
COPY telemetry_samples (device_id, ts, signals, readings) FROM STDIN;

-- name: insert_incident
INSERT INTO incidents (device_id, customer_id, source, fault_mode, detector, severity, status, summary, opened_at,
                       response_due, onsite_due, repair_due, resolved_at, closed_at, summary_message)
SELECT d.id, d.customer_id, 'telemetry', %(mode)s, 'history', 2, 'closed', %(summary)s, %(opened)s, %(opened)s,
       %(due)s, %(due)s, %(repaired)s, %(repaired)s, %(message)s
FROM devices d WHERE d.id = %(device_id)s
RETURNING id;

-- name: insert_work_order
-- Completed and fixed, with the loop's repair already verified (the live loop must not act on it again).
WITH w AS (
    INSERT INTO work_orders (incident_id, device_id, customer_id, status, lat, lon, created_at, onsite_due,
                             arrived_at, completed_at, outcome)
    SELECT i.id, i.device_id, i.customer_id, 'completed', d.lat, d.lon, %(opened)s, %(due)s, %(arrived)s,
           %(repaired)s, 'fixed'
    FROM incidents i JOIN devices d ON d.id = i.device_id WHERE i.id = %(incident_id)s
    RETURNING id, incident_id, device_id, completed_at
)
INSERT INTO diagnose_repairs (work_order_id, incident_id, device_id, completed_at, reset_at, status, decided_at)
SELECT id, incident_id, device_id, completed_at, completed_at, 'verified', completed_at FROM w;
