-- Read models for the API. Every query takes the caller's scope: all (admin/dispatcher), cid (a customer's
-- own id) or tid (a technician's own id); rows outside the scope are never returned.

-- name: user_by_name
-- A disabled account (administration, migration 0800) cannot sign in.
SELECT id, username, password_hash, role, customer_id, technician_id FROM users
WHERE username = %(username)s AND NOT disabled;

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

-- name: asset_open_incidents
-- The asset's open incidents (a detector's suspicion, or a reported problem), newest first: the RUL panel says
-- when one is open, because an estimate from a wear trend can be "healthy" while a detector suspects a fault.
SELECT i.id, i.fault_mode, i.source, i.detector, i.status, i.opened_at
FROM incidents i
WHERE i.device_id = %(device_id)s AND i.status NOT IN ('resolved_remote', 'resolved_onsite', 'closed')
ORDER BY i.opened_at DESC, i.id DESC;

-- name: latest_telemetry
SELECT signal, ts, value FROM telemetry_latest WHERE device_id = %(device_id)s ORDER BY signal;

-- name: telemetry_window
-- One index range scan on telemetry_samples_device_ts_ix through the reading-level view (migration 0110);
-- date_bin buckets on both storage paths.
SELECT signal, date_bin(%(bucket)s, ts, TIMESTAMPTZ '2000-01-01') AS bucket, avg(value) AS avg,
       min(value) AS min, max(value) AS max, count(*) AS n
FROM telemetry
WHERE device_id = %(device_id)s AND ts >= %(start)s AND ts < %(end)s
GROUP BY signal, bucket
ORDER BY signal, bucket;

-- name: list_incidents
SELECT i.id, i.device_id, i.customer_id, i.source, i.fault_mode, i.detector, i.severity, i.status, i.summary,
       i.summary_message, i.evidence, i.opened_at, i.response_due, i.onsite_due, i.repair_due, i.resolved_at,
       c.tier
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
SELECT id, at, kind, summary, message, incident_id, work_order_id, data FROM timeline_events
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

-- ---------------------------------------------------------------------------------------------------------
-- The three faces: route board (staff), technician's phone view, customer portal. Appended by feat/ui.
-- ---------------------------------------------------------------------------------------------------------

-- name: board_technicians
-- Every technician with where they are and how much work they hold; the map and the timeline lanes.
SELECT t.id, t.code, t.name, t.skills, t.region, t.lat, t.lon, t.state,
       count(w.id) FILTER (WHERE w.status IN ('assigned', 'en_route', 'on_site')) AS active_jobs
FROM technicians t LEFT JOIN work_orders w ON w.technician_id = t.id
GROUP BY t.id ORDER BY t.code;

-- name: board_queue
-- Active work orders with their incident's SLA clocks, most at risk first: an ETA already past the on-site
-- deadline, then the next deadline or service target that can still be missed (response until assigned, then
-- on site). Held jobs (0350) come after the running ones, with their hold; a job whose on-site clock moved (a hold
-- that paused it, the customer's window) shows its own clock (work_orders.onsite_due/target) instead of the
-- incident's original one.
SELECT w.id, w.incident_id, w.device_id, w.customer_id, w.status, w.required_skills, w.estimated_minutes,
       w.lat, w.lon, w.technician_id, t.code AS technician_code, w.assigned_at, w.eta, w.arrived_at,
       w.pinned_technician_id, w.locked,
       i.source, i.severity, i.fault_mode, i.summary, i.summary_message, i.opened_at, i.response_due,
       clk.onsite_due,
       i.response_target, clk.onsite_target,
       c.name AS customer_name, c.tier, c.region, d.name AS device_name,
       (w.eta IS NOT NULL AND w.arrived_at IS NULL AND w.eta > clk.onsite_due) AS eta_late,
       (w.eta IS NOT NULL AND w.arrived_at IS NULL AND w.eta > clk.onsite_target) AS eta_past_target,
       -- the earlier of the service target and the contract deadline (least() skips a missing target)
       CASE WHEN w.assigned_at IS NULL THEN least(i.response_target, i.response_due)
            ELSE least(clk.onsite_target, clk.onsite_due) END AS next_due,
       w.appointment_start, w.appointment_end, h.kind AS hold_kind, h.started_at AS held_since,
       h.pauses_sla AS hold_pauses_sla, h.note AS hold_note, clk.moved AS clock_moved,
       -- the visit (2 = first return visit), why the visit before failed, and this visit's times (#15 item 3)
       w.visit_no, pv.outcome AS previous_outcome, pv.found_fault_mode AS previous_found_fault_mode,
       w.departed_at
FROM work_orders w
JOIN incidents i ON i.id = w.incident_id
JOIN customers c ON c.id = w.customer_id
JOIN devices d ON d.id = w.device_id
LEFT JOIN technicians t ON t.id = w.technician_id
LEFT JOIN work_order_pauses h ON h.work_order_id = w.id AND h.ended_at IS NULL AND h.kind <> 'customer_window'
CROSS JOIN LATERAL (
    SELECT m.moved,
           CASE WHEN m.moved THEN w.onsite_due ELSE i.onsite_due END AS onsite_due,
           CASE WHEN m.moved THEN coalesce(w.onsite_target, i.onsite_target) ELSE i.onsite_target END AS onsite_target
    FROM (SELECT w.appointment_start IS NOT NULL
                 OR EXISTS (SELECT 1 FROM work_order_pauses p WHERE p.work_order_id = w.id AND p.pauses_sla
                            AND p.ended_at IS NOT NULL AND p.kind <> 'customer_window') AS moved) m) clk
LEFT JOIN LATERAL (SELECT p.outcome, p.found_fault_mode FROM work_orders p
                   WHERE p.incident_id = w.incident_id AND p.visit_no < w.visit_no
                   ORDER BY p.visit_no DESC, p.id DESC LIMIT 1) pv ON w.visit_no > 1
WHERE w.status IN ('open', 'assigned', 'en_route', 'on_site', 'on_hold')
ORDER BY (w.arrived_at IS NOT NULL), (w.status = 'on_hold'), eta_late DESC, next_due, w.id
LIMIT %(limit)s;

-- name: kpi_strip
-- Today's service KPIs per region and tier, with region subtotals and a grand total ('*' = all): the *contract*
-- figures (each incident's own deadlines). The promise figures (2 h, 15 min) and first-time fix are the kpis
-- package's (docs/kpis.md), merged in by api/routes/board.py. Response = a technician assigned (or remotely resolved) by response_due; on site = arrived by onsite_due,
-- judged only once the deadline has passed or the technician arrived; first-visit fix = an incident repaired
-- on site by its only work order; NPS = percent promoters (9-10) minus percent detractors (0-6) of today's answers.
WITH inc AS (
    SELECT i.id, c.region, c.tier, i.response_due, i.onsite_due, i.resolved_at,
           w.assigned_at, w.arrived_at, w.status AS wo_status,
           (SELECT count(*) FROM work_orders x WHERE x.incident_id = i.id) AS visits
    FROM incidents i
    JOIN customers c ON c.id = i.customer_id
    -- the first visit (a failed one may be followed by return visits: one row per incident all the same)
    LEFT JOIN LATERAL (SELECT x.assigned_at, x.arrived_at, x.status FROM work_orders x
                       WHERE x.incident_id = i.id AND x.status <> 'cancelled' ORDER BY x.id LIMIT 1) w ON true
    WHERE i.opened_at >= %(start)s AND i.opened_at < %(end)s
      AND i.source NOT IN ('planning', 'import')  -- preventive visits: a window of days; import: before quietfix
), inc_k AS (
    SELECT CASE WHEN GROUPING(region) = 1 THEN '*' ELSE region END AS region,
           CASE WHEN GROUPING(tier) = 1 THEN '*' ELSE tier END AS tier,
           count(*) AS incidents,
           count(*) FILTER (WHERE coalesce(assigned_at, resolved_at) <= response_due) AS responded_in_time,
           count(*) FILTER (WHERE assigned_at IS NOT NULL OR resolved_at IS NOT NULL OR response_due <= %(now)s)
               AS response_judged,
           count(*) FILTER (WHERE arrived_at <= onsite_due) AS onsite_in_time,
           count(*) FILTER (WHERE wo_status IS NOT NULL AND (arrived_at IS NOT NULL OR onsite_due <= %(now)s))
               AS onsite_judged,
           count(*) FILTER (WHERE wo_status = 'completed' AND visits = 1) AS first_visit_fixes,
           count(*) FILTER (WHERE wo_status = 'completed') AS completed
    FROM inc GROUP BY GROUPING SETS ((region, tier), (region), ())
), nps_k AS (
    SELECT CASE WHEN GROUPING(c.region) = 1 THEN '*' ELSE c.region END AS region,
           CASE WHEN GROUPING(c.tier) = 1 THEN '*' ELSE c.tier END AS tier,
           count(*) AS nps_answers,
           count(*) FILTER (WHERE s.score >= 9) - count(*) FILTER (WHERE s.score <= 6) AS nps_net
    FROM nps_surveys s JOIN customers c ON c.id = s.customer_id
    WHERE s.answered_at >= %(start)s AND s.answered_at < %(end)s
    GROUP BY GROUPING SETS ((c.region, c.tier), (c.region), ())
)
SELECT region, tier, coalesce(incidents, 0) AS incidents, coalesce(responded_in_time, 0) AS responded_in_time,
       coalesce(response_judged, 0) AS response_judged, coalesce(onsite_in_time, 0) AS onsite_in_time,
       coalesce(onsite_judged, 0) AS onsite_judged, coalesce(first_visit_fixes, 0) AS first_visit_fixes,
       coalesce(completed, 0) AS completed, coalesce(nps_answers, 0) AS nps_answers,
       coalesce(nps_net, 0) AS nps_net
FROM inc_k FULL JOIN nps_k USING (region, tier)
ORDER BY region = '*' DESC, region, tier = '*' DESC, tier;

-- name: intake_device
SELECT d.id, d.customer_id, d.name, d.lat, d.lon, c.tier, c.name AS customer_name
FROM devices d JOIN customers c ON c.id = d.customer_id WHERE d.id = %(device_id)s;

-- name: assignable_work_order
SELECT w.id, w.incident_id, w.device_id, w.customer_id, w.status, w.lat, w.lon, w.technician_id,
       w.estimated_minutes, w.onsite_due
FROM work_orders w WHERE w.id = %(work_order_id)s FOR UPDATE;

-- name: technician_for_assignment
SELECT id, code, lat, lon, state FROM technicians WHERE id = %(technician_id)s FOR UPDATE;

-- name: technician_last_stop
-- Where and when the technician is free after the jobs already on their list (other than this one).
SELECT w.lat, w.lon, w.eta + make_interval(mins => w.estimated_minutes) AS free_at
FROM work_orders w
WHERE w.technician_id = %(technician_id)s AND w.id <> %(work_order_id)s
  AND w.status IN ('assigned', 'en_route', 'on_site') AND w.eta IS NOT NULL
ORDER BY w.eta DESC LIMIT 1;

-- name: manual_assign
UPDATE work_orders SET status = 'assigned', technician_id = %(technician_id)s, assigned_at = %(at)s, eta = %(eta)s
WHERE id = %(work_order_id)s AND status IN ('open', 'assigned', 'en_route')
RETURNING id;

-- name: release_technician_if_idle
-- The previous technician goes back to free when a reassignment left them without active work.
UPDATE technicians t SET state = 'free'
WHERE t.id = %(technician_id)s AND t.state = 'travelling'
  AND NOT EXISTS (SELECT 1 FROM work_orders w WHERE w.technician_id = t.id
                  AND w.status IN ('assigned', 'en_route', 'on_site'));

-- name: set_travelling
UPDATE technicians SET state = 'travelling' WHERE id = %(technician_id)s AND state IN ('free', 'travelling');

-- name: tech_jobs
-- A technician's day in route order: active jobs by ETA, then today's completed ones.
SELECT w.id, w.incident_id, w.device_id, w.status, w.eta, w.onsite_due, w.assigned_at, w.arrived_at,
       w.completed_at, w.estimated_minutes, w.required_skills, w.lat, w.lon, w.actual_cause, w.actual_fix,
       d.name AS device_name, d.equipment_type, c.name AS customer_name, c.email AS customer_email,
       c.timezone AS customer_timezone,
       i.summary, i.summary_message, i.evidence, i.fault_mode, i.severity, i.opened_at, i.source
FROM work_orders w
JOIN devices d ON d.id = w.device_id
JOIN customers c ON c.id = w.customer_id
JOIN incidents i ON i.id = w.incident_id
WHERE w.technician_id = %(tid)s
  AND (w.status IN ('assigned', 'en_route', 'on_site') OR w.completed_at >= %(since)s)
ORDER BY (w.status = 'completed'), w.eta NULLS LAST, w.id;

-- name: tech_job_owner
SELECT id, status FROM work_orders WHERE id = %(work_order_id)s AND technician_id = %(tid)s FOR UPDATE;

-- name: record_action
-- Every phone step, keyed by the phone's id (one table since migration 0820): a replayed id inserts nothing.
INSERT INTO technician_actions (action_id, technician_id, work_order_id, action, received_at, applied, parts_used)
VALUES (%(action_id)s, %(tid)s, %(work_order_id)s, %(action)s, %(at)s, false, %(parts)s)
ON CONFLICT (action_id) DO NOTHING
RETURNING action_id;

-- name: action_result
SELECT action_id, work_order_id, action, applied, technician_id FROM technician_actions
WHERE action_id = %(action_id)s;

-- name: mark_action_applied
UPDATE technician_actions SET applied = %(applied)s WHERE action_id = %(action_id)s;

-- name: mark_en_route
-- Only the assigned technician's own job, only from 'assigned': a replayed tap changes nothing.
UPDATE work_orders SET status = 'en_route', departed_at = coalesce(%(at)s, departed_at)
WHERE id = %(work_order_id)s AND technician_id = %(tid)s AND status = 'assigned'
RETURNING id, incident_id, device_id, customer_id, eta;

-- name: portal_assets
-- A customer's assets with their latest values and open incidents (with the technician's ETA).
SELECT d.id, d.name, d.equipment_type, d.online, d.last_seen,
       coalesce((SELECT jsonb_agg(jsonb_build_object('signal', l.signal, 'value', l.value, 'ts', l.ts)
                                  ORDER BY l.signal)
                 FROM telemetry_latest l WHERE l.device_id = d.id), '[]') AS latest,
       coalesce((SELECT jsonb_agg(jsonb_build_object('id', i.id, 'summary', i.summary,
                                                     'summary_message', i.summary_message, 'status', i.status,
                                                     'opened_at', i.opened_at, 'onsite_due', i.onsite_due,
                                                     'eta', w.eta, 'work_order_status', w.status,
                                                     'fault_mode', i.fault_mode, 'source', i.source,
                                                     'detector', i.detector)
                                  ORDER BY i.opened_at)
                 FROM incidents i LEFT JOIN work_orders w ON w.incident_id = i.id AND w.status <> 'cancelled'
                 WHERE i.device_id = d.id
                   AND i.status NOT IN ('resolved_remote', 'resolved_onsite', 'closed')), '[]') AS open_incidents
FROM devices d WHERE d.customer_id = %(cid)s ORDER BY d.id;

-- name: portal_pending_surveys
SELECT w.id AS work_order_id, w.device_id, d.name AS device_name, w.completed_at, w.actual_fix
FROM work_orders w JOIN devices d ON d.id = w.device_id
WHERE w.customer_id = %(cid)s AND w.status = 'completed'
  AND NOT EXISTS (SELECT 1 FROM nps_surveys s WHERE s.work_order_id = w.id)
ORDER BY w.completed_at DESC LIMIT 20;

-- name: survey_work_order
SELECT id, device_id, status FROM work_orders WHERE id = %(work_order_id)s AND customer_id = %(cid)s;

-- name: insert_survey
INSERT INTO nps_surveys (work_order_id, customer_id, score, comment, answered_at)
VALUES (%(work_order_id)s, %(cid)s, %(score)s, %(comment)s, %(at)s)
ON CONFLICT (work_order_id) DO NOTHING
RETURNING id;

-- name: change_cursor
-- Live updates: a few index-only maxima and a checksum of the (small) technicians table, within the caller's
-- scope. The stream sends an event only when this row changes.
SELECT (SELECT max(id) FROM timeline_events e
        WHERE %(all)s OR e.customer_id = %(cid)s
           OR e.work_order_id IN (SELECT id FROM work_orders WHERE technician_id = %(tid)s)) AS timeline,
       (SELECT max(id) FROM incidents WHERE %(all)s OR customer_id = %(cid)s) AS incidents,
       (SELECT max(id) FROM work_orders WHERE %(all)s OR customer_id = %(cid)s OR technician_id = %(tid)s)
           AS work_orders,
       (SELECT md5(string_agg(concat_ws(',', id, state, lat, lon), ';' ORDER BY id)) FROM technicians
        WHERE %(all)s OR id = %(tid)s) AS technicians,
       (SELECT max(id) FROM nps_surveys WHERE %(all)s OR customer_id = %(cid)s) AS surveys;

-- name: set_incident_source
-- Manual intake: diagnostics' insert defaults to 'telemetry'; the board records how the customer reached us.
UPDATE incidents SET source = %(source)s WHERE id = %(incident_id)s;

-- name: portal_preferences
SELECT kind, channel, enabled FROM notification_preferences WHERE customer_id = %(cid)s ORDER BY kind, channel;

-- name: upsert_preference
INSERT INTO notification_preferences (customer_id, kind, channel, enabled)
VALUES (%(cid)s, %(kind)s, %(channel)s, %(enabled)s)
ON CONFLICT (customer_id, kind, channel) DO UPDATE SET enabled = EXCLUDED.enabled;

-- name: portal_webhooks
SELECT id, url, active FROM webhook_endpoints WHERE customer_id = %(cid)s ORDER BY id;

-- name: insert_webhook
INSERT INTO webhook_endpoints (customer_id, url, secret) VALUES (%(cid)s, %(url)s, %(secret)s) RETURNING id;

-- name: deactivate_webhook
UPDATE webhook_endpoints SET active = false WHERE id = %(id)s AND customer_id = %(cid)s RETURNING id;

-- name: board_version
-- The key of the staff-wide board snapshots (api/snapshot.py): what the live cursor sees for staff, plus the
-- current plan (a re-plan re-times routes without a timeline event) and the dispatch change counter (pins,
-- locks, new and changed orders). Index-only maxima and two one-row reads: ~1 ms.
SELECT (SELECT max(id) FROM timeline_events) AS timeline, (SELECT max(id) FROM incidents) AS incidents,
       (SELECT max(id) FROM work_orders) AS work_orders,
       (SELECT md5(string_agg(concat_ws(',', id, state, lat, lon), ';' ORDER BY id)) FROM technicians) AS technicians,
       (SELECT max(id) FROM nps_surveys) AS surveys, (SELECT id FROM plans WHERE is_current) AS plan,
       (SELECT changes FROM dispatch_cursor WHERE id = 1) AS dispatch;


-- name: asset_people
-- Who the asset belongs to and who looks after it: the customer, and the technicians of its work orders (the one
-- on a live job first, then the most recent visits).
SELECT c.id AS customer_id, c.name AS customer_name, c.tier AS customer_tier,
       coalesce((SELECT jsonb_agg(jsonb_build_object('id', x.id, 'code', x.code, 'name', x.name, 'active', x.active,
                                                     'last_visit', x.last_visit) ORDER BY x.active DESC,
                                                     x.last_visit DESC NULLS LAST, x.code)
                 FROM (SELECT t.id, t.code, t.name,
                              bool_or(w.status IN ('assigned', 'en_route', 'on_site')) AS active,
                              max(coalesce(w.arrived_at, w.assigned_at)) AS last_visit
                       FROM work_orders w JOIN technicians t ON t.id = w.technician_id
                       WHERE w.device_id = d.id GROUP BY t.id, t.code, t.name
                       ORDER BY 4 DESC, 5 DESC NULLS LAST LIMIT 5) x), '[]') AS team
FROM devices d JOIN customers c ON c.id = d.customer_id
WHERE d.id = %(device_id)s;

-- name: user_locale
-- The account's own language and zone, when the user chose each (migration 0550), and its customer's or
-- technician's (i18n.resolve_locale picks).
SELECT u.language, u.timezone, u.language_chosen_at, u.timezone_chosen_at,
       coalesce(c.language, t.language) AS linked_language, coalesce(c.timezone, t.timezone) AS linked_timezone
FROM users u
LEFT JOIN customers c ON c.id = u.customer_id AND u.role = 'customer'
LEFT JOIN technicians t ON t.id = u.technician_id AND u.role = 'technician'
WHERE u.id = %(user_id)s;

-- name: set_user_locale
UPDATE users SET language = coalesce(%(language)s, language), timezone = coalesce(%(timezone)s, timezone),
       language_chosen_at = CASE WHEN %(language)s::text IS NULL THEN language_chosen_at ELSE %(at)s END,
       timezone_chosen_at = CASE WHEN %(timezone)s::text IS NULL THEN timezone_chosen_at ELSE %(at)s END
WHERE id = %(user_id)s;
