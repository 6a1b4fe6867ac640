-- Read models for the API. Every query takes the caller's scope: all (admin/dispatcher), cid (a customer's
-- own id) or tid (a technician's own id); rows outside the scope are never returned.

-- name: user_by_name
SELECT id, username, password_hash, role, customer_id, technician_id FROM users WHERE username = %(username)s;

-- name: list_devices
SELECT d.id, d.customer_id, d.equipment_type, d.name, d.region, d.lat, d.lon, d.online, d.last_seen
FROM devices d
WHERE (%(all)s OR d.customer_id = %(cid)s
       OR d.id IN (SELECT device_id FROM work_orders WHERE technician_id = %(tid)s))
ORDER BY d.id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: get_device
SELECT d.id, d.customer_id, d.equipment_type, d.name, d.region, d.lat, d.lon, d.online, d.last_seen
FROM devices d
WHERE d.id = %(device_id)s
  AND (%(all)s OR d.customer_id = %(cid)s
       OR d.id IN (SELECT device_id FROM work_orders WHERE technician_id = %(tid)s));

-- name: latest_telemetry
SELECT signal, ts, value FROM telemetry_latest WHERE device_id = %(device_id)s ORDER BY signal;

-- name: telemetry_window
-- One index range scan per signal on telemetry_device_signal_ts_ix; date_bin buckets on both storage paths.
SELECT signal, date_bin(%(bucket)s, ts, TIMESTAMPTZ '2000-01-01') AS bucket, avg(value) AS avg,
       min(value) AS min, max(value) AS max, count(*) AS n
FROM telemetry
WHERE device_id = %(device_id)s AND ts >= %(start)s AND ts < %(end)s
GROUP BY signal, bucket
ORDER BY signal, bucket;

-- name: list_incidents
SELECT i.id, i.device_id, i.customer_id, i.source, i.fault_mode, i.detector, i.severity, i.status, i.summary,
       i.evidence, i.opened_at, i.response_due, i.onsite_due, i.repair_due, i.resolved_at, c.tier
FROM incidents i JOIN customers c ON c.id = i.customer_id
WHERE (%(all)s OR i.customer_id = %(cid)s
       OR i.id IN (SELECT incident_id FROM work_orders WHERE technician_id = %(tid)s))
  AND (%(open_only)s = false OR i.status NOT IN ('resolved_remote', 'resolved_onsite', 'closed'))
ORDER BY i.onsite_due
LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_work_orders
SELECT w.id, w.incident_id, w.device_id, w.customer_id, w.status, w.required_skills, w.estimated_minutes,
       w.lat, w.lon, w.technician_id, t.code AS technician_code, w.created_at, w.onsite_due, w.assigned_at,
       w.eta, w.arrived_at, w.completed_at
FROM work_orders w LEFT JOIN technicians t ON t.id = w.technician_id
WHERE (%(all)s OR w.customer_id = %(cid)s OR w.technician_id = %(tid)s)
ORDER BY w.onsite_due
LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_technicians
SELECT id, code, name, skills, region, lat, lon, state, shift_start, shift_end FROM technicians
WHERE (%(all)s OR id = %(tid)s)
ORDER BY code;

-- name: device_timeline
SELECT id, at, kind, summary, incident_id, work_order_id, data FROM timeline_events
WHERE device_id = %(device_id)s ORDER BY at DESC, id DESC LIMIT %(limit)s;

-- name: counts
SELECT (SELECT count(*) FROM devices) AS devices,
       (SELECT count(*) FROM devices WHERE online) AS devices_online,
       (SELECT count(*) FROM incidents WHERE status NOT IN ('resolved_remote', 'resolved_onsite', 'closed'))
           AS open_incidents,
       (SELECT count(*) FROM work_orders WHERE status IN ('open', 'assigned', 'en_route', 'on_site'))
           AS active_work_orders,
       (SELECT count(*) FROM dead_letters) AS dead_letters;

-- name: storage_mode
SELECT value FROM quietfix_meta WHERE key = 'storage';
