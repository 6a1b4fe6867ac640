-- name: demo_counts
SELECT (SELECT count(*) FROM devices) AS devices,
       (SELECT coalesce(sum(cardinality(readings)), 0) FROM telemetry_samples) AS readings_stored,
       (SELECT count(*) FROM incidents) AS incidents,
       (SELECT count(*) FROM work_orders) AS work_orders,
       (SELECT count(*) FROM work_orders WHERE technician_id IS NOT NULL) AS assigned,
       (SELECT count(*) FROM notifications) AS notifications,
       (SELECT count(*) FROM dead_letters) AS dead_letters;

-- name: fleet_devices
SELECT id, equipment_type, customer_id, lat, lon FROM devices ORDER BY id;

-- name: field_orders
-- Every active visit with its technician (position = last site until arrival, i.e. where they set off from),
-- ordered by technician and planned arrival: a technician's first assigned job is their next stop.
SELECT w.id, w.status, w.technician_id, w.eta, w.departed_at, w.arrived_at, w.estimated_minutes, w.visit_no,
       w.lat, w.lon, t.lat AS from_lat, t.lon AS from_lon, t.code, t.shift_start, t.shift_end, t.breaks
FROM work_orders w JOIN technicians t ON t.id = w.technician_id
WHERE w.status IN ('assigned', 'en_route', 'on_site')
ORDER BY w.technician_id, w.eta NULLS LAST, w.id;

-- name: set_roster
UPDATE technicians SET shift_start = %(shift_start)s, shift_end = %(shift_end)s, breaks = %(breaks)s
WHERE id = %(id)s;
