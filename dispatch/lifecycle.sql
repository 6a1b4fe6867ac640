-- Cancel, reschedule, hold and resume (dispatch/lifecycle.py). Every transition is one guarded UPDATE: it names
-- the statuses it may leave, so a repeated request (a double click, a phone replaying) matches no row and changes
-- nothing; the caller then reads the row to say why (already done, or not allowed from its status).

-- name: order_state
SELECT w.id, w.status, w.kind, w.incident_id, w.device_id, w.customer_id, w.technician_id, w.appointment_start,
       w.appointment_end, w.cancel_reason, w.onsite_due, w.onsite_target,
       h.kind AS hold_kind, h.started_by AS hold_by, d.name AS device_name
FROM work_orders w
JOIN devices d ON d.id = w.device_id
LEFT JOIN work_order_pauses h ON h.work_order_id = w.id AND h.ended_at IS NULL AND h.kind <> 'customer_window' WHERE w.id = %(work_order_id)s FOR UPDATE OF w;

-- name: pause_by_request
SELECT work_order_id, kind, started_by FROM work_order_pauses WHERE request_id = %(request_id)s;

-- name: cancel_reasons
SELECT code, label, closes_incident FROM work_order_cancel_reasons ORDER BY sort, code;

-- name: pause_applies
-- Whether a pause of this kind stops this job's SLA clocks (sla_pause_rules): the covering contract's own rule,
-- else its tier's default, else the customer's tier default; no rule at all: the clock runs.
SELECT coalesce(
         (SELECT r.pauses_sla FROM sla_pause_rules r WHERE r.contract_code = dc.code AND r.kind = %(kind)s),
         (SELECT r.pauses_sla FROM sla_pause_rules r
          WHERE r.tier = coalesce(dc.sla_tier, c.tier) AND r.kind = %(kind)s),
         false) AS pauses_sla,
       dc.code AS contract_code
FROM work_orders w
JOIN customers c ON c.id = w.customer_id
LEFT JOIN device_contracts dc ON dc.device_id = w.device_id
WHERE w.id = %(work_order_id)s;

-- name: cancel
UPDATE work_orders SET status = 'cancelled', cancel_reason = %(reason)s, cancel_note = %(note)s,
                       cancelled_at = %(at)s
WHERE id = %(work_order_id)s AND status IN ('open', 'assigned', 'en_route', 'on_hold')
RETURNING id, incident_id, device_id, customer_id, technician_id, visit_no;

-- name: end_pauses
-- The job stops waiting (resumed, rescheduled again, cancelled): its running hold ends now and a customer window
-- that has not opened yet is cut at now (not on resume: the window still stands). Returns what ended.
UPDATE work_order_pauses SET ended_at = %(at)s, ended_by = %(actor)s
WHERE work_order_id = %(work_order_id)s AND (ended_at IS NULL OR ended_at > %(at)s)
  AND (kind <> 'customer_window' OR %(windows)s)
RETURNING kind, pauses_sla, started_at, ended_at;

-- name: close_incident
UPDATE incidents SET status = 'closed', closed_at = %(at)s
WHERE id = %(incident_id)s AND status NOT IN ('resolved_remote', 'resolved_onsite', 'closed')
RETURNING id;

-- name: requeue
-- A cancelled visit whose incident stays open: a fresh work order on the same incident with the same site, skills,
-- parts and clocks (the cancelled visit was not a visit: same visit number, the promise is not restarted).
INSERT INTO work_orders (incident_id, device_id, customer_id, required_skills, estimated_minutes, lat, lon,
                         created_at, onsite_due, required_parts, kind, visit_no, onsite_target)
SELECT w.incident_id, w.device_id, w.customer_id, w.required_skills, w.estimated_minutes, w.lat, w.lon,
       %(at)s, w.onsite_due, w.required_parts, w.kind, w.visit_no, w.onsite_target
FROM work_orders w WHERE w.id = %(work_order_id)s AND w.kind = 'corrective'
ON CONFLICT (incident_id) WHERE status IN ('open', 'assigned', 'en_route', 'on_site', 'on_hold') DO NOTHING
RETURNING id;

-- name: hold
-- Not on site: a technician on site with a missing part ends the visit unfixed (wrong part), which opens the
-- return visit; that one can then wait for the part. The technician is released; the plan forgets the job.
UPDATE work_orders SET status = 'on_hold', technician_id = NULL, eta = NULL, assigned_at = NULL, departed_at = NULL
WHERE id = %(work_order_id)s AND status IN ('open', 'assigned', 'en_route')
  AND (%(tid)s::bigint IS NULL OR technician_id = %(tid)s)
RETURNING id, incident_id, device_id, customer_id;

-- name: insert_pause
INSERT INTO work_order_pauses (work_order_id, incident_id, kind, note, pauses_sla, started_at, ended_at, window_end,
                               started_by, request_id)
VALUES (%(work_order_id)s, %(incident_id)s, %(kind)s, %(note)s, %(pauses_sla)s, %(started_at)s, %(ended_at)s,
        %(window_end)s, %(actor)s, %(request_id)s)
RETURNING id;

-- name: resume
-- Back in the queue; when the pause stopped the clock, the job's own on-site deadline and target move by the
-- paused time (the optimiser aims at them). The incident keeps the contract's original deadlines: the KPIs take
-- the paused time off instead (docs/kpis.md).
UPDATE work_orders w SET status = 'open',
       onsite_due = w.onsite_due + %(shift)s,
       onsite_target = coalesce(w.onsite_target, i.onsite_target) + %(shift)s
FROM incidents i
WHERE w.id = %(work_order_id)s AND i.id = w.incident_id AND w.status = 'on_hold'
RETURNING w.id, w.incident_id, w.device_id, w.customer_id, w.onsite_due, w.onsite_target;

-- name: reschedule
-- To the customer's window: back to 'open' with the window (the optimiser starts service inside it); when the
-- contract pauses for customer windows the job's on-site deadline and target become the window's latest start
-- (never earlier than they were).
UPDATE work_orders w SET status = 'open', technician_id = NULL, eta = NULL, assigned_at = NULL, departed_at = NULL,
       appointment_start = %(earliest)s, appointment_end = %(latest)s,
       onsite_due = CASE WHEN %(pauses_sla)s THEN greatest(w.onsite_due, %(latest)s) ELSE w.onsite_due END,
       onsite_target = CASE WHEN %(pauses_sla)s
                            THEN greatest(coalesce(w.onsite_target, i.onsite_target), %(latest)s)
                            ELSE w.onsite_target END
FROM incidents i
WHERE w.id = %(work_order_id)s AND i.id = w.incident_id AND w.kind = 'corrective'
  AND w.status IN ('open', 'assigned', 'en_route', 'on_hold')
  AND NOT (w.status = 'open' AND w.appointment_start IS NOT DISTINCT FROM %(earliest)s
           AND w.appointment_end IS NOT DISTINCT FROM %(latest)s)
RETURNING w.id, w.incident_id, w.device_id, w.customer_id, w.onsite_due, w.onsite_target;

-- name: free_idle_technician
-- The technician taken off the job is free again unless they hold another running job.
UPDATE technicians t SET state = 'free'
WHERE t.id = %(technician_id)s AND t.state IN ('travelling', 'on_site')
  AND NOT EXISTS (SELECT 1 FROM work_orders w WHERE w.technician_id = t.id
                  AND w.status IN ('assigned', 'en_route', 'on_site'));
