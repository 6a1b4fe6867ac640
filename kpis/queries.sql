-- name: incidents
-- Incidents opened in [start, end) (preventive visits from planning have a window of days, not the promise),
-- with the customer's slice, whether a remote fix was verified, and the first response the customer received:
-- the first *delivery* of a plan/ETA notification (an unsent row in the outbox is not a response), or the
-- incident's opening when a person took it on the phone.
SELECT i.id, i.customer_id, c.region, c.tier, i.source, i.opened_at, i.onsite_due,
       CASE WHEN i.status IN ('resolved_remote', 'resolved_onsite', 'closed')
                 AND coalesce(i.resolved_at, i.closed_at) < %(end)s
            THEN coalesce(i.resolved_at, i.closed_at) END AS resolved_at,
       EXISTS (SELECT 1 FROM remote_fix_attempts r WHERE r.incident_id = i.id AND r.status = 'verified')
           AS remote_fix_verified,
       least((SELECT min(nd.sent_at) FROM notifications n
              JOIN notification_deliveries nd ON nd.notification_id = n.id
              WHERE n.incident_id = i.id AND n.kind = ANY(%(response_kinds)s)),
             CASE WHEN i.source = ANY(%(ack_sources)s) THEN i.opened_at END) AS responded_at
FROM incidents i JOIN customers c ON c.id = i.customer_id
WHERE i.opened_at >= %(start)s AND i.opened_at < %(end)s AND i.source NOT IN ('planning', 'import')
  AND i.detector <> 'history'  -- a past failure loaded with its telemetry for the models to learn from
  AND (%(customer_id)s::bigint IS NULL OR i.customer_id = %(customer_id)s)
ORDER BY i.opened_at, i.id;

-- name: visits
-- Corrective work orders whose life overlaps [start, end): the visits of those incidents and the jobs that
-- waited or kept a technician busy in the window (idle-while-waiting).
-- Timestamps after :end are not known yet (a report "as of" an earlier instant): they read as NULL.
-- Not the work orders of recorded history (detector 'history': loaded with past telemetry, never dispatched).
SELECT w.id, w.incident_id, w.technician_id, w.status, w.required_skills, w.created_at,
       CASE WHEN w.departed_at < %(end)s THEN w.departed_at END AS departed_at,
       CASE WHEN w.arrived_at < %(end)s THEN w.arrived_at END AS arrived_at,
       CASE WHEN w.completed_at < %(end)s THEN w.completed_at END AS completed_at,
       CASE WHEN w.completed_at < %(end)s THEN w.outcome END AS outcome
FROM work_orders w
WHERE w.kind = 'corrective' AND w.created_at < %(end)s
  AND NOT EXISTS (SELECT 1 FROM incidents h WHERE h.id = w.incident_id AND h.detector = 'history')
  AND (w.completed_at IS NULL OR w.completed_at >= %(start)s OR w.incident_id = ANY(%(incident_ids)s))
ORDER BY w.id;

-- name: pauses
-- SLA pauses the contract allowed (work_order_pauses, 0350) of the given incidents, as known at :end (a pause
-- still running then has no end yet). A customer window also gives the window itself (on time inside it).
-- A window cut short (rescheduled again, cancelled: ended_by set) is no longer the customer's.
SELECT incident_id, kind, started_at, CASE WHEN ended_at < %(end)s THEN ended_at END AS ended_at,
       CASE WHEN kind = 'customer_window' AND ended_by IS NULL THEN ended_at END AS window_start, window_end
FROM work_order_pauses
WHERE pauses_sla AND incident_id = ANY(%(incident_ids)s) AND started_at < %(end)s
ORDER BY incident_id, started_at;

-- name: technicians
SELECT id, code, region, skills, shift_start, shift_end, breaks, timezone FROM technicians ORDER BY id;

-- name: technicians_on_a_job
-- Technicians travelling to or working at a site now (a job only assigned is not work yet: the technician may be
-- off shift, waiting for the morning).
SELECT DISTINCT technician_id FROM work_orders WHERE status IN ('en_route', 'on_site') AND technician_id IS NOT NULL;

-- name: nps_answers
SELECT s.customer_id, c.region, c.tier, s.score, s.answered_at
FROM nps_surveys s JOIN customers c ON c.id = s.customer_id
WHERE s.answered_at >= %(start)s AND s.answered_at < %(end)s
  AND (%(customer_id)s::bigint IS NULL OR s.customer_id = %(customer_id)s)
ORDER BY s.answered_at;
