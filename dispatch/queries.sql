-- name: unassigned_work_orders
-- appointment_start/end: the customer's window (earliest arrival, latest start) of a rescheduled job, or NULL.
SELECT w.id, w.incident_id, w.device_id, w.customer_id, w.required_skills, w.lat, w.lon, w.onsite_due,
       w.created_at, c.tier, d.name AS device_name, w.appointment_start, w.appointment_end
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
                         actual_fix = %(fix)s, notes = %(notes)s, outcome = 'fixed',
                         fix_code = %(fix_code)s, found_fault_mode = %(fault_mode)s
WHERE w.id = %(work_order_id)s AND w.status = 'on_site'
RETURNING w.id, w.incident_id, w.device_id, w.customer_id, w.technician_id, w.lat, w.lon;

-- name: depart
-- The technician sets off towards the job (the phone's "on my way", or the field simulation).
UPDATE work_orders SET status = 'en_route', departed_at = %(at)s
WHERE id = %(work_order_id)s AND status = 'assigned'
RETURNING id, incident_id, device_id, customer_id, technician_id, eta;

-- name: complete_unfixed
-- A visit that ended without the fix (wrong part, wrong diagnosis): the visit closes, the incident stays open.
UPDATE work_orders w SET status = 'completed', completed_at = %(at)s, outcome = %(outcome)s,
                         actual_cause = %(cause)s, notes = %(notes)s, found_fault_mode = %(fault_mode)s
WHERE w.id = %(work_order_id)s AND w.status = 'on_site'
RETURNING w.id, w.incident_id, w.device_id, w.customer_id, w.technician_id, w.lat, w.lon, w.visit_no;

-- name: create_return_visit
-- The return visit: a new work order on the same incident, same site and skills, the same time allowance to
-- reach the site from now as the first visit had (deadline and service target); the parts the technician says
-- are needed, if any.
INSERT INTO work_orders (incident_id, device_id, customer_id, required_skills, estimated_minutes, lat, lon,
                         created_at, onsite_due, required_parts, kind, visit_no, onsite_target)
SELECT w.incident_id, w.device_id, w.customer_id, w.required_skills, w.estimated_minutes, w.lat, w.lon,
       %(at)s, %(at)s + (w.onsite_due - w.created_at), coalesce(%(parts)s, w.required_parts), 'corrective',
       w.visit_no + 1,
       -- the service target's allowance again (the first visit's target counted from the incident's opening)
       %(at)s + (coalesce(w.onsite_target, i.onsite_target) - i.opened_at)
FROM work_orders w JOIN incidents i ON i.id = w.incident_id WHERE w.id = %(work_order_id)s
ON CONFLICT (incident_id) WHERE status IN ('open', 'assigned', 'en_route', 'on_site') DO NOTHING
RETURNING id;

-- name: audit_visit
INSERT INTO audit_log (at, actor, actor_role, action, target_type, target_id, details)
VALUES (%(at)s, %(actor)s, 'technician', %(action)s, 'work_order', %(work_order_id)s, %(details)s);

-- name: resolve_incident_onsite
UPDATE incidents SET status = 'resolved_onsite', resolved_at = %(at)s WHERE id = %(incident_id)s;

-- ---------------------------------------------------------------------------------------------------------
-- Live re-planning (dispatch/repository.py)
-- ---------------------------------------------------------------------------------------------------------

-- name: change_cursor
-- Cheap "did anything change" probe: the trigger-maintained counter plus the number of visits running past
-- their estimate (an over-run changes nothing in the database, only the clock).
SELECT (SELECT changes FROM dispatch_cursor WHERE id = 1) AS changes,
       (SELECT count(*) FROM work_orders
        WHERE status = 'on_site' AND arrived_at + make_interval(mins => estimated_minutes) <= %(now)s) AS overrunning;

-- name: mark_dispatch_writer
SELECT set_config('quietfix.dispatch_writer', 'on', true);

-- name: lock_planner
-- One planner at a time (transaction-scoped advisory lock; another process skips its pass).
SELECT pg_try_advisory_xact_lock(7305119300);

-- name: active_orders
SELECT w.id, w.status, w.lat, w.lon, w.required_skills, w.estimated_minutes, c.tier, i.severity,
       w.created_at, w.onsite_due, w.technician_id, w.assigned_at, w.eta, w.arrived_at, w.pinned_technician_id,
       w.locked, w.required_parts, w.kind,
       -- a preventive visit's window of days, or the window the customer chose for a rescheduled job (0350)
       coalesce(w.earliest_start, w.appointment_start) AS earliest_start,
       coalesce(w.latest_start, w.appointment_end) AS latest_start, w.service_windows,
       CASE WHEN w.kind = 'corrective' THEN coalesce(w.onsite_target, i.onsite_target) END AS onsite_target,
       c.region
FROM work_orders w JOIN customers c ON c.id = w.customer_id JOIN incidents i ON i.id = w.incident_id
WHERE w.status IN ('open', 'assigned', 'en_route', 'on_site')
ORDER BY w.id;

-- name: field_technicians
-- A technician inside an absence or holiday (technician_absences, migration 0800) is planned as 'off', and so is
-- a free technician on a weekday their working pattern (in their own time zone) leaves out; on a working day the
-- day's first span and its breaks are the shift. An empty pattern (the default) means shift_start/shift_end/breaks
-- every day, as before. An approved roster shift (migration 0810) running now or starting within 24 h takes the
-- place of the pattern (planning/roster.py). Times of day are the technician's own zone (``timezone``).
SELECT id, code, name, timezone,
       CASE WHEN EXISTS (SELECT 1 FROM technician_absences a WHERE a.technician_id = t.id
                         AND a.starts_at <= %(at)s AND %(at)s < a.ends_at) THEN 'off'
            WHEN t.state = 'free' AND r.starts_at IS NULL AND t.working_pattern <> '{}' AND day.span IS NULL THEN 'off'
            ELSE state END AS state,
       lat, lon, home_lat, home_lon, skills,
       CASE WHEN r.starts_at IS NOT NULL THEN (r.starts_at AT TIME ZONE t.timezone)::time
            ELSE coalesce((day.span ->> 'start')::time, shift_start) END AS shift_start,
       CASE WHEN r.starts_at IS NOT NULL THEN (r.ends_at AT TIME ZONE t.timezone)::time
            WHEN day.span ->> 'end' = '24:00' THEN '23:59:59'::time
            ELSE coalesce((day.span ->> 'end')::time, shift_end) END AS shift_end,
       coalesce(day.span -> 'breaks', breaks) AS breaks, region
FROM technicians t
CROSS JOIN LATERAL (SELECT t.working_pattern -> extract(isodow FROM %(at)s AT TIME ZONE t.timezone)::int::text -> 0
                    AS span) day
LEFT JOIN LATERAL (SELECT starts_at, ends_at FROM roster_shifts rs
                   WHERE rs.technician_id = t.id AND rs.ends_at > %(at)s
                     AND rs.starts_at < %(at)s::timestamptz + interval '24 hours'
                   ORDER BY rs.starts_at LIMIT 1) r ON true
ORDER BY id;

-- name: van_stock
-- Units held for active work orders count as available: those orders are being re-planned and their holds
-- follow the plan (spares.service.apply_plan); without this a job's own van hold would send it to a depot.
SELECT l.technician_id, s.sku, s.on_hand - s.reserved + coalesce(h.held, 0) AS available
FROM stock_levels s JOIN stock_locations l ON l.id = s.location_id
LEFT JOIN LATERAL (SELECT sum(r.qty) AS held FROM reservations r JOIN work_orders w ON w.id = r.work_order_id
                   WHERE r.location_id = s.location_id AND r.sku = s.sku AND r.status = 'active'
                     AND w.status IN ('open', 'assigned', 'en_route', 'on_site')) h ON true
WHERE l.kind = 'van' AND s.sku = ANY(%(skus)s) AND s.on_hand - s.reserved + coalesce(h.held, 0) > 0;

-- name: depot_stock
-- Depots and warehouses a technician can drive to and collect from (holds of active orders count, as above).
SELECT l.id, l.lat, l.lon, s.sku, s.on_hand - s.reserved + coalesce(h.held, 0) AS available
FROM stock_levels s JOIN stock_locations l ON l.id = s.location_id
LEFT JOIN LATERAL (SELECT sum(r.qty) AS held FROM reservations r JOIN work_orders w ON w.id = r.work_order_id
                   WHERE r.location_id = s.location_id AND r.sku = s.sku AND r.status = 'active'
                     AND w.status IN ('open', 'assigned', 'en_route', 'on_site')) h ON true
WHERE l.kind IN ('depot', 'warehouse') AND s.sku = ANY(%(skus)s) AND s.on_hand - s.reserved + coalesce(h.held, 0) > 0
ORDER BY l.id;

-- name: current_plan
SELECT id, created_at, trigger, planner, objective, kpis, inputs, solve_seconds FROM plans WHERE is_current;

-- name: plan_stops
SELECT p.technician_id, p.seq, p.kind, p.work_order_id, p.stock_location_id, p.skus, p.eta, p.start_at, p.end_at,
       t.code AS technician_code, t.name AS technician_name, w.status, w.lat, w.lon, w.device_id,
       l.name AS depot_name, l.lat AS depot_lat, l.lon AS depot_lon
FROM plan_stops p
JOIN technicians t ON t.id = p.technician_id
JOIN work_orders w ON w.id = p.work_order_id
LEFT JOIN stock_locations l ON l.id = p.stock_location_id
WHERE p.plan_id = %(plan_id)s AND (%(tid)s::bigint IS NULL OR p.technician_id = %(tid)s)
ORDER BY p.technician_id, p.seq;

-- name: plan_drops
SELECT work_order_id, reason FROM plan_drops WHERE plan_id = %(plan_id)s ORDER BY work_order_id;

-- name: retire_current_plan
UPDATE plans SET is_current = false WHERE is_current;

-- name: insert_plan
INSERT INTO plans (created_at, trigger, planner, objective, kpis, inputs, solve_seconds, is_current)
VALUES (%(created_at)s, %(trigger)s, %(planner)s, %(objective)s, %(kpis)s, %(inputs)s, %(solve_seconds)s, true)
RETURNING id;

-- name: insert_plan_stop
INSERT INTO plan_stops (plan_id, technician_id, seq, kind, work_order_id, stock_location_id, skus, eta, start_at,
                        end_at)
VALUES (%(plan_id)s, %(technician_id)s, %(seq)s, %(kind)s, %(work_order_id)s, %(stock_location_id)s, %(skus)s,
        %(eta)s, %(start_at)s, %(end_at)s);

-- name: insert_plan_drop
INSERT INTO plan_drops (plan_id, work_order_id, reason) VALUES (%(plan_id)s, %(work_order_id)s, %(reason)s);

-- name: prune_plans
DELETE FROM plans WHERE NOT is_current AND created_at < %(before)s;

-- name: order_for_notice
SELECT w.id, w.status, w.incident_id, w.device_id, w.customer_id, w.technician_id, w.eta, w.onsite_due,
       d.name AS device_name
FROM work_orders w JOIN devices d ON d.id = w.device_id WHERE w.id = %(work_order_id)s FOR UPDATE OF w;

-- name: plan_assign
-- Assign or re-time; only an order still open or assigned (a technician's tap on "on my way" wins).
UPDATE work_orders SET status = 'assigned', technician_id = %(technician_id)s, eta = %(eta)s,
       assigned_at = CASE WHEN technician_id IS DISTINCT FROM %(technician_id)s OR status = 'open'
                          THEN %(at)s ELSE assigned_at END
WHERE id = %(work_order_id)s AND status IN ('open', 'assigned');

-- name: plan_retime
UPDATE work_orders SET eta = %(eta)s WHERE id = %(work_order_id)s AND status IN ('assigned', 'en_route');

-- name: plan_unassign
UPDATE work_orders SET status = 'open', technician_id = NULL, eta = NULL, assigned_at = NULL
WHERE id = %(work_order_id)s AND status = 'assigned';

-- name: sync_technician_states
-- On site / travelling / free from the technician's active work orders; 'off' is left alone.
UPDATE technicians t SET state = x.state
FROM (SELECT t2.id,
             CASE WHEN bool_or(w.status = 'on_site') THEN 'on_site'
                  WHEN bool_or(w.status IN ('assigned', 'en_route')) THEN 'travelling'
                  ELSE 'free' END AS state
      FROM technicians t2 LEFT JOIN work_orders w
           ON w.technician_id = t2.id AND w.status IN ('assigned', 'en_route', 'on_site')
      WHERE t2.state <> 'off' GROUP BY t2.id) x
WHERE t.id = x.id AND t.state <> x.state;

-- name: pin_work_order
UPDATE work_orders SET pinned_technician_id = %(technician_id)s
WHERE id = %(work_order_id)s AND status IN ('open', 'assigned', 'en_route', 'on_site')
RETURNING id, status, technician_id, customer_id, device_id, incident_id;

-- name: lock_work_order
UPDATE work_orders SET locked = true
WHERE id = %(work_order_id)s AND status IN ('open', 'assigned', 'en_route', 'on_site')
RETURNING id, status, technician_id, customer_id, device_id, incident_id;

-- name: release_work_order
UPDATE work_orders SET locked = false, pinned_technician_id = NULL
WHERE id = %(work_order_id)s AND status IN ('open', 'assigned', 'en_route', 'on_site')
RETURNING id, status, technician_id, customer_id, device_id, incident_id;

-- name: technician_exists
SELECT id, code, skills, state FROM technicians WHERE id = %(technician_id)s;

-- ---------------------------------------------------------------------------------------------------------
-- Routes for the board and the phone (api/routes/board.py, api/routes/technician.py)
-- ---------------------------------------------------------------------------------------------------------

-- name: route_stops
-- Every stop of the current plan in route order; a pick-up names the depot, a job its device and customer.
SELECT p.technician_id, t.code AS technician_code, t.name AS technician_name, p.seq, p.kind, p.work_order_id,
       p.stock_location_id, p.skus, p.eta, p.start_at, p.end_at, w.status AS work_order_status,
       CASE WHEN p.kind = 'pickup' THEN l.lat ELSE w.lat END AS lat,
       CASE WHEN p.kind = 'pickup' THEN l.lon ELSE w.lon END AS lon,
       CASE WHEN p.kind = 'pickup' THEN l.name ELSE d.name || ' (' || c.name || ')' END AS location_name
FROM plans pl
JOIN plan_stops p ON p.plan_id = pl.id
JOIN technicians t ON t.id = p.technician_id
JOIN work_orders w ON w.id = p.work_order_id
JOIN devices d ON d.id = w.device_id
JOIN customers c ON c.id = w.customer_id
LEFT JOIN stock_locations l ON l.id = p.stock_location_id
WHERE pl.is_current AND (%(tid)s::bigint IS NULL OR p.technician_id = %(tid)s)
ORDER BY p.technician_id, p.seq;

-- name: route_jobs
-- The phone's job card for work orders on a technician's planned route (same columns as api's tech_jobs).
SELECT w.id, w.incident_id, w.device_id, w.status, w.eta, w.onsite_due, w.assigned_at, w.arrived_at,
       w.completed_at, w.estimated_minutes, w.required_skills, w.lat, w.lon, w.actual_cause, w.actual_fix,
       d.name AS device_name, d.equipment_type, c.name AS customer_name, c.email AS customer_email,
       c.timezone AS customer_timezone,
       i.summary, i.evidence, i.fault_mode, i.severity, i.opened_at, i.source
FROM work_orders w
JOIN devices d ON d.id = w.device_id
JOIN customers c ON c.id = w.customer_id
JOIN incidents i ON i.id = w.incident_id
WHERE w.id = ANY(%(ids)s);

-- name: on_route_of
-- Whether a work order is on this technician's current route (a planned, not yet assigned, job is theirs to see).
SELECT 1 FROM plan_stops p JOIN plans pl ON pl.id = p.plan_id
WHERE pl.is_current AND p.technician_id = %(tid)s AND p.work_order_id = %(work_order_id)s LIMIT 1;

-- name: emergency_arrivals
-- Creation times of the emergencies (corrective work orders, any status) since :since: the arrival rate the
-- preventive gate expects (planner.emergency_rate).
SELECT created_at FROM work_orders WHERE kind = 'corrective' AND created_at > %(since)s ORDER BY created_at;

-- name: suspend_visit
-- Preemption: a preventive visit whose technician is sent to an emergency goes back to the queue (open).
UPDATE work_orders SET status = 'open', technician_id = NULL, eta = NULL, assigned_at = NULL, arrived_at = NULL
WHERE id = %(work_order_id)s AND kind = 'preventive' AND technician_id = %(technician_id)s
  AND status IN ('assigned', 'en_route', 'on_site')
RETURNING id, customer_id, device_id, incident_id;

-- name: free_technician_at
UPDATE technicians SET state = 'free', lat = %(lat)s, lon = %(lon)s
WHERE id = %(technician_id)s AND state <> 'off';

-- name: planned_notice_rows
-- Open work orders (not yet a technician's next stop) with what their customer was last told (dispatch/notices.py).
SELECT w.id, w.incident_id, w.device_id, w.customer_id, w.planned_eta_told, w.planned_told_at,
       d.name AS device_name
FROM work_orders w JOIN devices d ON d.id = w.device_id
WHERE w.id = ANY(%(ids)s) AND w.status = 'open'
FOR UPDATE OF w;

-- name: set_planned_eta_told
UPDATE work_orders SET planned_eta_told = %(eta)s, planned_told_at = %(at)s WHERE id = %(work_order_id)s;
