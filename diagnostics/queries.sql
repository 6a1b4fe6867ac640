-- name: window_stats
-- Per device and signal, over the last %(duration)s *ending at that signal's latest reading*: data arrives in
-- batches (seconds to minutes late), so windows anchored at "now" would never see a complete span. Signals
-- silent for longer than %(stale)s are left to the silence detector. One index range scan per device/signal.
SELECT t.device_id, d.equipment_type, t.signal, count(*) AS n, min(t.value) AS lo, max(t.value) AS hi,
       min(t.ts) AS first_ts, max(t.ts) AS last_ts
FROM telemetry_latest l
JOIN devices d ON d.id = l.device_id
JOIN telemetry t ON t.device_id = l.device_id AND t.signal = l.signal
                AND t.ts > l.ts - %(duration)s AND t.ts <= l.ts
WHERE l.signal = ANY(%(signals)s) AND l.ts > %(now)s - %(stale)s
GROUP BY t.device_id, d.equipment_type, t.signal;

-- name: device_context
SELECT d.id, d.customer_id, d.equipment_type, d.name, d.lat, d.lon, c.tier, c.name AS customer_name
FROM devices d JOIN customers c ON c.id = d.customer_id
WHERE d.id = %(device_id)s;

-- name: open_incident
INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, summary, evidence,
                       opened_at, response_due, onsite_due, repair_due)
VALUES (%(device_id)s, %(customer_id)s, %(fault_mode)s, %(detector)s, %(severity)s, %(status)s, %(summary)s,
        %(evidence)s, %(opened_at)s, %(response_due)s, %(onsite_due)s, %(repair_due)s)
ON CONFLICT (device_id, fault_mode) WHERE status NOT IN ('resolved_remote', 'resolved_onsite', 'closed')
DO NOTHING
RETURNING id;

-- name: create_work_order
INSERT INTO work_orders (incident_id, device_id, customer_id, required_skills, estimated_minutes, lat, lon,
                         created_at, onsite_due)
VALUES (%(incident_id)s, %(device_id)s, %(customer_id)s, %(required_skills)s, %(estimated_minutes)s,
        %(lat)s, %(lon)s, %(created_at)s, %(onsite_due)s)
RETURNING id;
