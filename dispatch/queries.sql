-- name: unassigned_work_orders
SELECT w.id, w.incident_id, w.device_id, w.customer_id, w.required_skills, w.lat, w.lon, w.onsite_due,
       w.created_at, c.tier, d.name AS device_name
FROM work_orders w JOIN customers c ON c.id = w.customer_id JOIN devices d ON d.id = w.device_id
WHERE w.status = 'open'
ORDER BY w.onsite_due, w.id
FOR UPDATE OF w SKIP LOCKED;

-- name: free_technicians
SELECT id, code, name, skills, lat, lon FROM technicians WHERE state = 'free' ORDER BY id FOR UPDATE SKIP LOCKED;

-- name: assign
UPDATE work_orders SET status = 'assigned', technician_id = %(technician_id)s, assigned_at = %(at)s, eta = %(eta)s
WHERE id = %(work_order_id)s AND status = 'open';

-- name: set_technician_state
UPDATE technicians SET state = %(state)s WHERE id = %(technician_id)s;

-- name: due_arrivals
SELECT id FROM work_orders WHERE status IN ('assigned', 'en_route') AND eta <= %(now)s ORDER BY eta
FOR UPDATE SKIP LOCKED;

-- name: due_completions
SELECT id FROM work_orders
WHERE status = 'on_site' AND arrived_at + make_interval(mins => estimated_minutes) <= %(now)s
ORDER BY arrived_at FOR UPDATE SKIP LOCKED;

-- name: mark_arrived
UPDATE work_orders w SET status = 'on_site', arrived_at = %(at)s
WHERE w.id = %(work_order_id)s AND w.status IN ('assigned', 'en_route')
RETURNING w.id, w.incident_id, w.device_id, w.customer_id, w.technician_id, w.lat, w.lon, w.onsite_due;

-- name: move_technician
UPDATE technicians SET state = %(state)s, lat = %(lat)s, lon = %(lon)s WHERE id = %(technician_id)s;

-- name: complete
UPDATE work_orders w SET status = 'completed', completed_at = %(at)s, actual_cause = %(cause)s,
                         actual_fix = %(fix)s, notes = %(notes)s
WHERE w.id = %(work_order_id)s AND w.status = 'on_site'
RETURNING w.id, w.incident_id, w.device_id, w.customer_id, w.technician_id, w.lat, w.lon;

-- name: resolve_incident_onsite
UPDATE incidents SET status = 'resolved_onsite', resolved_at = %(at)s WHERE id = %(incident_id)s;
