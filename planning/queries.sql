-- name: contracts_of_customer
-- 24:00 has no Python time: it is read as the last microsecond of the day.
SELECT id, code, customer_id, device_id, name, sla_tier, coverage_days, coverage_start,
       CASE WHEN coverage_end = '24:00' THEN '23:59:59.999999'::time ELSE coverage_end END AS coverage_end,
       starts_on, ends_on, warranty_until, labour_included, parts_included, included_parts,
       inspection_interval_days, last_inspection_on,
       -- the contract's deadlines, else its tier's defaults; its overrides of the service targets
       coalesce(response_min, (SELECT t.response_min FROM sla_tier_defaults t WHERE t.tier = sla_tier)) AS response_min,
       coalesce(onsite_min, (SELECT t.onsite_min FROM sla_tier_defaults t WHERE t.tier = sla_tier)) AS onsite_min,
       coalesce(repair_h, (SELECT t.repair_h FROM sla_tier_defaults t WHERE t.tier = sla_tier)) AS repair_h,
       target_response_min, target_onsite_min, target_repair_h
FROM contracts
WHERE customer_id = %(customer_id)s
ORDER BY id;

-- name: all_contracts
SELECT id, code, customer_id, device_id, name, sla_tier, coverage_days, coverage_start,
       CASE WHEN coverage_end = '24:00' THEN '23:59:59.999999'::time ELSE coverage_end END AS coverage_end,
       starts_on, ends_on, warranty_until, labour_included, parts_included, included_parts,
       inspection_interval_days, last_inspection_on,
       -- the contract's deadlines, else its tier's defaults; its overrides of the service targets
       coalesce(response_min, (SELECT t.response_min FROM sla_tier_defaults t WHERE t.tier = sla_tier)) AS response_min,
       coalesce(onsite_min, (SELECT t.onsite_min FROM sla_tier_defaults t WHERE t.tier = sla_tier)) AS onsite_min,
       coalesce(repair_h, (SELECT t.repair_h FROM sla_tier_defaults t WHERE t.tier = sla_tier)) AS repair_h,
       target_response_min, target_onsite_min, target_repair_h
FROM contracts
ORDER BY id;

-- name: insert_contract
INSERT INTO contracts (code, customer_id, device_id, name, sla_tier, coverage_days, coverage_start, coverage_end,
                       starts_on, ends_on, warranty_until, labour_included, parts_included, included_parts,
                       inspection_interval_days, last_inspection_on)
VALUES (%(code)s, %(customer_id)s, %(device_id)s, %(name)s, %(sla_tier)s, %(coverage_days)s, %(coverage_start)s,
        %(coverage_end)s, %(starts_on)s, %(ends_on)s, %(warranty_until)s, %(labour_included)s, %(parts_included)s,
        %(included_parts)s, %(inspection_interval_days)s, %(last_inspection_on)s)
RETURNING id;

-- name: set_contract_terms
UPDATE contracts SET parts_included = %(parts_included)s, inspection_interval_days = %(inspection_interval_days)s,
       last_inspection_on = %(last_inspection_on)s
WHERE customer_id = %(customer_id)s AND device_id IS NULL;

-- name: work_order_subject
-- A work order with what its entitlement depends on: the incident's opening, severity and planned parts.
SELECT w.id, w.incident_id, w.device_id, w.customer_id, w.status, i.opened_at, i.severity, c.tier AS customer_tier,
       c.name AS customer_name, coalesce(i.evidence -> 'parts', '[]'::jsonb) AS parts,
       i.response_due, i.onsite_due, i.repair_due
FROM work_orders w JOIN incidents i ON i.id = w.incident_id JOIN customers c ON c.id = w.customer_id
WHERE w.id = %(work_order_id)s;

-- name: open_work_orders
SELECT w.id, w.incident_id, w.device_id, w.customer_id, w.status, i.opened_at, i.severity, c.tier AS customer_tier,
       c.name AS customer_name, coalesce(i.evidence -> 'parts', '[]'::jsonb) AS parts,
       i.response_due, i.onsite_due, i.repair_due
FROM work_orders w JOIN incidents i ON i.id = w.incident_id JOIN customers c ON c.id = w.customer_id
WHERE w.status IN ('open', 'assigned', 'en_route', 'on_site')
ORDER BY w.created_at DESC
LIMIT %(limit)s;

-- name: incident_counts
-- History for the workload forecast: incidents per region and hour.
SELECT d.region, date_trunc('hour', i.opened_at) AS hour, count(*) AS n
FROM incidents i JOIN devices d ON d.id = i.device_id
WHERE i.opened_at >= %(since)s AND i.opened_at < %(until)s AND i.source <> 'planning'
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: sites
-- Customer sites (assets) with the skills their equipment needs, from the knowledge base, for the coverage map.
SELECT d.id AS device_id, d.customer_id, c.name AS customer_name, c.tier, d.region, d.lat, d.lon, d.equipment_type,
       coalesce((SELECT array_agg(DISTINCT s) FROM knowledge_base k, jsonb_array_elements_text(k.entry -> 'skills') s
                 WHERE k.equipment_type = d.equipment_type), '{}') AS skills
FROM devices d JOIN customers c ON c.id = d.customer_id
ORDER BY d.id;

-- name: technicians
SELECT id, code, name, skills, region, home_lat, home_lon, shift_start, shift_end
FROM technicians
ORDER BY code;

-- name: insert_escalation
-- A replayed client key inserts nothing (the caller then answers with the first escalation).
INSERT INTO escalations (work_order_id, incident_id, device_id, tier, raised_by, reason, evidence, opened_at,
                         respond_due, parent_id, client_key)
SELECT w.id, w.incident_id, w.device_id, %(tier)s, %(raised_by)s, %(reason)s, %(evidence)s, %(opened_at)s,
       %(respond_due)s, %(parent_id)s, %(client_key)s
FROM work_orders w WHERE w.id = %(work_order_id)s
ON CONFLICT (client_key) DO NOTHING
RETURNING id;

-- name: escalation_by_key
SELECT id, work_order_id, raised_by FROM escalations WHERE client_key = %(client_key)s;

-- name: insert_escalation_photo
INSERT INTO escalation_photos (work_order_id, media_type, data, bytes, sha256, created_at)
VALUES (%(work_order_id)s, %(media_type)s, %(data)s, %(bytes)s, %(sha256)s, %(at)s)
RETURNING id;

-- name: delete_escalation_photos
-- Photos stored for an escalation that lost a race on its client key (the first one keeps its own).
DELETE FROM escalation_photos WHERE id = ANY(%(ids)s);

-- name: escalation_photo
SELECT media_type, data FROM escalation_photos WHERE id = %(id)s AND work_order_id = %(work_order_id)s;

-- name: job_escalations
-- Escalations of a technician's jobs, for the phone: state, tier, answer clock and the answer.
SELECT e.id, e.work_order_id, e.tier, e.status, e.reason, e.opened_at, e.respond_due, e.acknowledged_at,
       e.resolved_at, e.resolution, e.fix, e.parent_id
FROM escalations e
WHERE e.work_order_id = ANY(%(ids)s)
ORDER BY e.work_order_id, e.opened_at, e.id;

-- name: escalation
SELECT e.id, e.work_order_id, e.incident_id, e.device_id, e.tier, e.status, e.raised_by, e.reason, e.evidence,
       e.opened_at, e.respond_due, e.acknowledged_at, e.resolved_at, e.resolution, e.cause, e.fix, e.parent_id,
       w.technician_id, w.customer_id, d.equipment_type, i.fault_mode
FROM escalations e JOIN work_orders w ON w.id = e.work_order_id JOIN devices d ON d.id = e.device_id
JOIN incidents i ON i.id = e.incident_id
WHERE e.id = %(id)s;

-- name: escalation_queue
SELECT e.id, e.work_order_id, e.incident_id, e.device_id, e.tier, e.status, e.raised_by, e.reason, e.evidence,
       e.opened_at, e.respond_due, e.acknowledged_at, e.resolved_at, e.resolution, e.cause, e.fix, e.parent_id,
       w.technician_id, w.customer_id, d.equipment_type, i.fault_mode
FROM escalations e JOIN work_orders w ON w.id = e.work_order_id JOIN devices d ON d.id = e.device_id
JOIN incidents i ON i.id = e.incident_id
WHERE (%(tier)s::smallint IS NULL OR e.tier = %(tier)s::smallint)
  AND (%(open_only)s = false OR e.status IN ('open', 'acknowledged'))
ORDER BY e.respond_due, e.id
LIMIT %(limit)s;

-- name: set_escalation_status
UPDATE escalations
SET status = %(status)s,
    acknowledged_at = CASE WHEN %(status)s = 'acknowledged' THEN %(at)s ELSE coalesce(acknowledged_at, %(at)s) END,
    resolved_at = CASE WHEN %(status)s IN ('resolved', 'escalated') THEN %(at)s ELSE resolved_at END,
    resolution = coalesce(%(resolution)s, resolution), cause = coalesce(%(cause)s, cause), fix = coalesce(%(fix)s, fix)
WHERE id = %(id)s AND status IN ('open', 'acknowledged')
RETURNING id;

-- name: recent_telemetry
-- The telemetry window attached to an escalation as evidence.
SELECT ts, signal, value FROM telemetry
WHERE device_id = %(device_id)s AND ts > %(since)s AND ts <= %(until)s
ORDER BY ts, signal
LIMIT %(limit)s;

-- name: watching_by_region
-- Open incidents not yet sent to a technician: the fleet's failure predictions for the workload forecast.
SELECT d.region, count(*) AS n
FROM incidents i JOIN devices d ON d.id = i.device_id
WHERE i.status IN ('detected', 'remote_fix_attempted')
GROUP BY d.region;

-- name: work_order_technician
SELECT technician_id FROM work_orders WHERE id = %(id)s;

-- name: work_order_feedback
-- An escalation's resolution on the work order, where the knowledge base's feedback loop reads it; the
-- technician's own report, when there is one, is kept.
UPDATE work_orders
SET actual_cause = coalesce(actual_cause, %(cause)s), actual_fix = coalesce(actual_fix, %(fix)s)
WHERE id = %(id)s;

-- name: watching_incidents
-- Open low-severity incidents not yet sent to anyone: degradation caught early, a repair to plan, not rush.
SELECT i.id, i.device_id, i.fault_mode, i.opened_at, d.lat, d.lon, d.region
FROM incidents i JOIN devices d ON d.id = i.device_id
WHERE i.status = 'detected' AND i.severity = 1
ORDER BY i.opened_at;

-- name: preventive_lock
-- One preventive planning run at a time (transaction-scoped; a second runner skips).
SELECT pg_try_advisory_xact_lock(7305119610);

-- name: preventive_keys
SELECT preventive_key FROM work_orders WHERE preventive_key IS NOT NULL AND status <> 'cancelled';

-- name: completed_rul_visits
-- Finished RUL repairs per asset and mode (keys rul:<asset>:<mode>[:r<n>]): the next prediction of the same
-- failure after a repair is a new due item, so its key carries the count.
SELECT split_part(preventive_key, ':', 2) AS device_id, split_part(preventive_key, ':', 3) AS fault_mode,
       count(*) AS n
FROM work_orders
WHERE kind = 'preventive' AND left(preventive_key, 4) = 'rul:' AND status = 'completed'
GROUP BY 1, 2;

-- name: device_site
-- Where a preventive visit goes, and when the site lets a technician in (its access hours, in the customer's
-- zone; a device on no site: always).
SELECT d.id, d.customer_id, d.lat, d.lon, d.name, c.timezone,
       coalesce(s.access_days, '{1,2,3,4,5,6,7}') AS access_days, coalesce(s.access_start, '00:00') AS access_start,
       CASE WHEN s.access_end IS NULL OR s.access_end = '24:00' THEN NULL ELSE s.access_end END AS access_end
FROM devices d JOIN customers c ON c.id = d.customer_id LEFT JOIN sites s ON s.id = d.site_id
WHERE d.id = %(device_id)s;

-- name: insert_preventive_incident
-- The incident a preventive work order hangs off (source 'planning'); none if one is already open for the asset
-- and this mode (the previous visit is not finished).
INSERT INTO incidents (device_id, customer_id, source, fault_mode, detector, severity, status, summary, evidence,
                       opened_at, response_due, onsite_due, repair_due, summary_message)
VALUES (%(device_id)s, %(customer_id)s, 'planning', %(fault_mode)s, 'planning', 1, 'work_order', %(summary)s,
        %(evidence)s, %(at)s, %(latest_start)s, %(latest_start)s, %(latest_start)s, %(summary_message)s)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: insert_preventive_work_order
INSERT INTO work_orders (incident_id, device_id, customer_id, required_skills, estimated_minutes, lat, lon,
                         created_at, onsite_due, required_parts, kind, earliest_start, latest_start, preventive_key,
                         service_windows)
VALUES (%(incident_id)s, %(device_id)s, %(customer_id)s, %(skills)s, %(minutes)s, %(lat)s, %(lon)s, %(at)s,
        %(latest_start)s, %(parts)s, 'preventive', %(earliest_start)s, %(latest_start)s, %(key)s, %(windows)s)
RETURNING id;

-- name: inspections_done
-- A contract's scheduled inspection is done when every asset's visit for that due date is finished (completed
-- or cancelled, at least one completed): the schedule moves on from the last completion.
UPDATE contracts k SET last_inspection_on = x.done
FROM (SELECT split_part(preventive_key, ':', 2)::bigint AS contract_id,
             max(completed_at)::date AS done
      FROM work_orders
      WHERE kind = 'preventive' AND left(preventive_key, 5) = 'insp:'
      GROUP BY 1, split_part(preventive_key, ':', 3)
      HAVING bool_and(status IN ('completed', 'cancelled')) AND bool_or(status = 'completed')) x
WHERE k.id = x.contract_id AND (k.last_inspection_on IS NULL OR k.last_inspection_on < x.done)
RETURNING k.id;

-- name: resolve_predictions
-- A completed preventive repair of a predicted failure resolves the prediction it was planned for (same asset
-- and mode, estimated before the visit was completed): a 'learning' estimate (method 'repair') at the
-- completion follows it, because after a repair the asset's wear has to be learnt again. predicted_failures
-- reads each asset's latest estimate, so spares and planning stop counting the failure. Idempotent: once the
-- latest estimate is the repair's, nothing matches.
INSERT INTO rul_estimates (device_id, estimated_at, status, method)
SELECT DISTINCT ON (w.device_id) w.device_id, w.completed_at, 'learning', 'repair'
FROM work_orders w
JOIN LATERAL (SELECT r.estimated_at, r.status, r.fault_mode, r.signal FROM rul_estimates r
              WHERE r.device_id = w.device_id ORDER BY r.estimated_at DESC, r.id DESC LIMIT 1) r ON true
WHERE w.kind = 'preventive' AND w.status = 'completed' AND left(w.preventive_key, 4) = 'rul:'
  AND (%(work_order_id)s::bigint IS NULL OR w.id = %(work_order_id)s::bigint)
  AND r.status IN ('degrading', 'at_limit') AND r.estimated_at <= w.completed_at
  AND w.preventive_key = 'rul:' || w.device_id || ':' || coalesce(r.fault_mode, r.signal)
ORDER BY w.device_id, w.completed_at DESC
RETURNING device_id, estimated_at;

-- name: sla_tier_defaults
SELECT tier, response_min, onsite_min, repair_h FROM sla_tier_defaults;

-- name: roster_technicians
-- Who the roster can name: every technician with region and skills (codes order the choice among equals).
SELECT id, code, region, skills FROM technicians ORDER BY code;

-- name: roster_absences
SELECT technician_id, starts_at, ends_at FROM technician_absences
WHERE starts_at < %(to)s AND ends_at > %(from)s;

-- name: approved_shifts
SELECT r.technician_id, t.code, t.name, r.region, r.shift, r.starts_at, r.ends_at, r.approved_by, r.approved_at
FROM roster_shifts r JOIN technicians t ON t.id = r.technician_id
WHERE r.roster_day = %(day)s ORDER BY r.starts_at, t.code;

-- name: delete_day_shifts
DELETE FROM roster_shifts WHERE roster_day = %(day)s;

-- name: insert_shift
INSERT INTO roster_shifts (technician_id, roster_day, region, shift, starts_at, ends_at, approved_by, approved_at)
VALUES (%(technician_id)s, %(day)s, %(region)s, %(shift)s, %(starts_at)s, %(ends_at)s, %(by)s, %(at)s);
