-- name: demo_counts
SELECT (SELECT count(*) FROM devices) AS devices,
       (SELECT coalesce(sum(cardinality(readings)), 0) FROM telemetry_samples) AS readings_stored,
       -- this run's: not the imported ticket history, nor the seeded run-to-failure history (detector 'history')
       (SELECT count(*) FROM incidents WHERE source <> 'import' AND detector <> 'history') AS incidents,
       (SELECT count(*) FROM incidents WHERE source = 'import') AS history_incidents,
       (SELECT count(*) FROM work_orders w JOIN incidents i ON i.id = w.incident_id
        WHERE i.detector <> 'history') AS work_orders,
       (SELECT count(*) FROM work_orders w JOIN incidents i ON i.id = w.incident_id
        WHERE i.detector <> 'history' AND w.technician_id IS NOT NULL) AS assigned,
       (SELECT count(*) FROM notifications) AS notifications,
       -- delivered: at least one channel accepted it (what the response KPI counts), not merely marked done
       (SELECT count(DISTINCT notification_id) FROM notification_deliveries) AS notifications_sent,
       (SELECT count(*) FROM work_orders WHERE kind = 'preventive') AS preventive_work_orders,
       (SELECT count(*) FROM replenishment_orders WHERE proposed_by = 'process:replenishment') AS replenishment_proposed,
       (SELECT count(*) FROM dead_letters) AS dead_letters;

-- name: fleet_devices
SELECT id, equipment_type, customer_id, lat, lon FROM devices ORDER BY id;

-- name: field_orders
-- Every active visit with its technician (position = last site until arrival, i.e. where they set off from),
-- ordered by technician and planned arrival: a technician's first assigned job is their next stop.
SELECT w.id, w.status, w.technician_id, w.eta, w.departed_at, w.arrived_at, w.estimated_minutes, w.visit_no,
       w.lat, w.lon, t.lat AS from_lat, t.lon AS from_lon, t.code, t.shift_start, t.shift_end, t.breaks,
       w.device_id, i.fault_mode, t.timezone
FROM work_orders w JOIN technicians t ON t.id = w.technician_id JOIN incidents i ON i.id = w.incident_id
WHERE w.status IN ('assigned', 'en_route', 'on_site')
ORDER BY w.technician_id, w.eta NULLS LAST, w.id;

-- name: set_roster
-- The weekly working pattern (what dispatch reads, migration 0800) is the same shift every day.
UPDATE technicians SET shift_start = %(shift_start)s, shift_end = %(shift_end)s, breaks = %(breaks)s,
       working_pattern = %(pattern)s
WHERE id = %(id)s;

-- name: demo_event_cursor
-- The demo console starts after the seed: events before this are not news.
SELECT coalesce(max(id), 0) AS after FROM timeline_events;

-- name: demo_events
-- The four events a person watching the demo cares about, one row each, in the order they happened.
SELECT e.id, e.kind, e.at, e.device_id, e.incident_id, e.work_order_id, i.fault_mode, w.eta,
       t.code AS technician,
       -- a remote fix verified while a visit was already under way: the technician still confirms on site
       (SELECT min(v.id) FROM work_orders v WHERE v.incident_id = e.incident_id AND v.created_at <= e.at
          AND v.status <> 'cancelled') AS visit_job
FROM timeline_events e
LEFT JOIN incidents i ON i.id = e.incident_id
LEFT JOIN work_orders w ON w.id = e.work_order_id
LEFT JOIN technicians t ON t.id = w.technician_id
WHERE e.id > %(after)s
  AND e.kind IN ('incident_opened', 'remote_fix_verified', 'technician_assigned', 'work_completed')
ORDER BY e.id
LIMIT 500;

-- name: demo_status
-- Technicians and the promise KPIs come from the kpis package (one definition: board, API, bench and this line).
-- "Online" = heard from within %(since)s (simulated time): the demo's fleet sends one batch per `speed` simulated
-- seconds, longer than ingest's offline timeout, so the online flag flickers there.
SELECT (SELECT count(*) FROM devices WHERE last_seen >= %(since)s) AS devices_online,
       (SELECT count(*) FROM devices) AS devices,
       (SELECT count(*) FROM incidents WHERE status IN ('detected', 'remote_fix_attempted', 'work_order'))
           AS open_incidents,
       (SELECT count(*) FROM notifications) AS notifications;

-- name: fix_codes_for_mode
-- The fix codes a technician would choose for a fault mode, in the list's order (the simulation picks one).
SELECT code FROM fix_codes WHERE active AND %(mode)s = ANY(fault_modes) ORDER BY sort_order, code;
