-- name: new_batches
-- What arrived since the last pass, in ingest commit order (migration 0230): each batch is evaluated once,
-- whatever its device timestamps. arrival values become visible in increasing order, so nothing is skipped.
SELECT id, device_id, arrival, first_ts, last_ts, received_at, clock_offset_ms
FROM ingest_batches
WHERE arrival > %(after)s
ORDER BY arrival
LIMIT %(limit)s;

-- name: missed_batches
-- Restored checkpoints' replay: each device's batches in its own (after, upto]; lo/hi bound the arrival index scan.
SELECT b.id, b.device_id, b.arrival, b.first_ts, b.last_ts, b.received_at, b.clock_offset_ms
FROM ingest_batches b
JOIN unnest(%(device_ids)s::text[], %(afters)s::bigint[], %(uptos)s::bigint[]) AS u(device_id, after, upto)
  ON b.device_id = u.device_id AND b.arrival > u.after AND b.arrival <= u.upto
WHERE b.arrival > %(lo)s AND b.arrival <= %(hi)s
ORDER BY b.arrival;

-- name: batch_samples
-- Exactly these batches' samples: the device/time-span predicates reach the (device_id, ts) index and prune
-- partitions, batch_id picks this batch's rows (NULL: written before 0230 or through the telemetry view).
SELECT s.device_id, date_part('epoch', s.ts) AS t, s.signals, s.readings
FROM unnest(%(ids)s::bigint[], %(device_ids)s::text[], %(firsts)s::timestamptz[], %(lasts)s::timestamptz[])
     AS b(id, device_id, first_ts, last_ts)
JOIN telemetry_samples s ON s.device_id = b.device_id AND s.ts >= b.first_ts AND s.ts <= b.last_ts
                        AND (s.batch_id = b.id OR s.batch_id IS NULL)
ORDER BY s.device_id, s.ts;

-- name: device_readings
-- One device's readings in a time window, oldest first (pivoted into samples by the caller).
SELECT ts, signal, value
FROM telemetry
WHERE device_id = %(device_id)s AND ts > %(after)s AND ts <= %(until)s
ORDER BY ts, signal;

-- name: load_progress
SELECT device_id, watermark, batch_id FROM diagnose_progress;

-- name: save_progress
INSERT INTO diagnose_progress (device_id, watermark, batch_id)
SELECT * FROM unnest(%(device_ids)s::text[], %(watermarks)s::timestamptz[], %(batch_ids)s::bigint[])
ON CONFLICT ON CONSTRAINT diagnose_progress_pk DO UPDATE
    SET watermark = excluded.watermark, batch_id = excluded.batch_id;

-- name: devices
-- tier: the SLA tier of the asset's covering contract (planning's device_contracts view), else the customer's;
-- coverage_*: that contract's coverage hours (SLA clocks start when they open; 24:00 read as end of day);
-- response_min/onsite_min/repair_h: the contract's deadlines, else its tier's default (sla_tier_defaults; the
-- last fallback only for a tier without a row); target_*: the contract's overrides of the service targets.
SELECT d.id, d.customer_id, d.equipment_type, d.name, d.lat, d.lon, d.online, coalesce(dc.sla_tier, c.tier) AS tier,
       c.name AS customer_name, dc.coverage_days, dc.coverage_start,
       CASE WHEN dc.coverage_end = '24:00' THEN '23:59:59.999999'::time ELSE dc.coverage_end END AS coverage_end,
       coalesce(dc.response_min, t.response_min, 15) AS response_min,
       coalesce(dc.onsite_min, t.onsite_min, 120) AS onsite_min,
       coalesce(dc.repair_h, t.repair_h, 24) AS repair_h,
       dc.target_response_min, dc.target_onsite_min, dc.target_repair_h
FROM devices d JOIN customers c ON c.id = d.customer_id LEFT JOIN device_contracts dc ON dc.device_id = d.id
LEFT JOIN sla_tier_defaults t ON t.tier = coalesce(dc.sla_tier, c.tier);

-- name: device_context
SELECT d.id, d.customer_id, d.equipment_type, d.name, d.lat, d.lon, d.online, coalesce(dc.sla_tier, c.tier) AS tier,
       c.name AS customer_name, dc.coverage_days, dc.coverage_start,
       CASE WHEN dc.coverage_end = '24:00' THEN '23:59:59.999999'::time ELSE dc.coverage_end END AS coverage_end,
       coalesce(dc.response_min, t.response_min, 15) AS response_min,
       coalesce(dc.onsite_min, t.onsite_min, 120) AS onsite_min,
       coalesce(dc.repair_h, t.repair_h, 24) AS repair_h,
       dc.target_response_min, dc.target_onsite_min, dc.target_repair_h
FROM devices d JOIN customers c ON c.id = d.customer_id LEFT JOIN device_contracts dc ON dc.device_id = d.id
LEFT JOIN sla_tier_defaults t ON t.tier = coalesce(dc.sla_tier, c.tier)
WHERE d.id = %(device_id)s;

-- name: live_incidents
-- Open incidents plus those resolved within the flap window: the state machine reopens rather than duplicates.
SELECT id, device_id, fault_mode, status, severity, confidence, opened_at, coalesce(resolved_at, closed_at) AS resolved_at,
       coalesce(last_abnormal_at, opened_at) AS last_abnormal_at, reopen_count, evidence
FROM incidents
WHERE source = 'telemetry'
  AND (status IN ('detected', 'remote_fix_attempted', 'work_order')
       OR (coalesce(resolved_at, closed_at) > %(since)s
           -- repaired on site: a recurrence is a new incident (with its own visit), never a reopening
           AND NOT EXISTS (SELECT 1 FROM work_orders w WHERE w.incident_id = incidents.id
                           AND w.status = 'completed')));

-- name: open_incident
INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, summary, evidence,
                       opened_at, response_due, onsite_due, repair_due, last_abnormal_at, confidence,
                       response_target, onsite_target, repair_target, summary_message)
VALUES (%(device_id)s, %(customer_id)s, %(fault_mode)s, %(detector)s, %(severity)s, %(status)s, %(summary)s,
        %(evidence)s, %(opened_at)s, %(response_due)s, %(onsite_due)s, %(repair_due)s, %(opened_at)s,
        %(confidence)s, %(response_target)s, %(onsite_target)s, %(repair_target)s, %(summary_message)s)
ON CONFLICT (device_id, fault_mode) WHERE status NOT IN ('resolved_remote', 'resolved_onsite', 'closed')
DO NOTHING
RETURNING id;

-- name: update_incident
UPDATE incidents
SET status = %(status)s, severity = greatest(severity, %(severity)s), confidence = %(confidence)s,
    last_abnormal_at = %(last_abnormal_at)s, reopen_count = %(reopen_count)s,
    resolved_at = CASE WHEN %(status)s IN ('resolved_remote', 'resolved_onsite') THEN %(at)s
                       WHEN %(status)s IN ('detected', 'remote_fix_attempted', 'work_order') THEN NULL
                       ELSE resolved_at END,
    closed_at = CASE WHEN %(status)s = 'closed' THEN %(at)s
                     WHEN %(status)s IN ('detected', 'remote_fix_attempted', 'work_order') THEN NULL
                     ELSE closed_at END,
    evidence = evidence || %(evidence)s
WHERE id = %(id)s;

-- name: touch_incident
UPDATE incidents SET last_abnormal_at = %(last_abnormal_at)s WHERE id = %(id)s;

-- name: create_work_order
INSERT INTO work_orders (incident_id, device_id, customer_id, required_skills, estimated_minutes, lat, lon,
                         created_at, onsite_due, onsite_target)
VALUES (%(incident_id)s, %(device_id)s, %(customer_id)s, %(required_skills)s, %(estimated_minutes)s,
        %(lat)s, %(lon)s, %(created_at)s, %(onsite_due)s,
        -- the service target is the incident's (from its opening), not restarted by a later visit
        coalesce(%(onsite_target)s::timestamptz, (SELECT onsite_target FROM incidents WHERE id = %(incident_id)s)))
ON CONFLICT (incident_id) WHERE status IN ('open', 'assigned', 'en_route', 'on_site') DO NOTHING
RETURNING id;

-- name: has_required_parts
SELECT EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_name = 'work_orders' AND column_name = 'required_parts'
                 AND table_schema = current_schema());

-- name: insert_attempt
INSERT INTO remote_fix_attempts (incident_id, device_id, command_id, command, sent_at, expires_at, verify_until)
VALUES (%(incident_id)s, %(device_id)s, %(command_id)s, %(command)s, %(sent_at)s, %(expires_at)s,
        %(verify_until)s)
RETURNING id;

-- name: pending_attempts
SELECT a.id, a.incident_id, a.device_id, a.command_id, a.command, a.status, a.sent_at, a.expires_at,
       a.verify_until, i.status AS incident_status
FROM remote_fix_attempts a JOIN incidents i ON i.id = a.incident_id
WHERE a.status IN ('sent', 'acked');

-- name: attempt_result
UPDATE remote_fix_attempts SET status = %(status)s, result_at = %(at)s, result = %(result)s
WHERE command_id = %(command_id)s AND status IN ('sent', 'acked')
RETURNING id, incident_id, device_id;

-- name: close_attempt
UPDATE remote_fix_attempts SET status = %(status)s WHERE id = %(id)s;

-- name: knowledge_all
SELECT equipment_type, fault_mode, entry, version, updated_at, updated_by FROM knowledge_base
ORDER BY equipment_type, fault_mode;

-- name: knowledge_get
SELECT equipment_type, fault_mode, entry, version, updated_at, updated_by FROM knowledge_base
WHERE equipment_type = %(equipment_type)s AND fault_mode = %(fault_mode)s;

-- name: knowledge_seed
INSERT INTO knowledge_base (equipment_type, fault_mode, entry)
VALUES (%(equipment_type)s, %(fault_mode)s, %(entry)s)
ON CONFLICT ON CONSTRAINT knowledge_base_pk DO NOTHING;

-- name: knowledge_put
INSERT INTO knowledge_base (equipment_type, fault_mode, entry, updated_at, updated_by)
VALUES (%(equipment_type)s, %(fault_mode)s, %(entry)s, %(at)s, %(by)s)
ON CONFLICT ON CONSTRAINT knowledge_base_pk DO UPDATE
    SET entry = excluded.entry, version = knowledge_base.version + 1, updated_at = excluded.updated_at,
        updated_by = excluded.updated_by
RETURNING version;

-- name: unapplied_feedback
-- Completed visits of telemetry incidents not yet counted: the structured outcome (found mode, fix code), the
-- parts the ledger booked as fitted (consumed or issued, less returned), and the minutes on site.
SELECT w.id, d.equipment_type, i.fault_mode, w.found_fault_mode, w.fix_code, w.outcome,
       extract(epoch FROM (w.completed_at - w.arrived_at))::integer / 60 AS repair_minutes,
       (SELECT jsonb_object_agg(f.sku, f.qty) FROM (
            SELECT l.sku, sum(CASE WHEN l.kind = 'return' THEN -l.qty ELSE l.qty END) AS qty
            FROM stock_ledger l WHERE l.work_order_id = w.id AND l.kind IN ('consume', 'issue', 'return')
            GROUP BY l.sku) f) AS parts_fitted
FROM work_orders w
JOIN incidents i ON i.id = w.incident_id
JOIN devices d ON d.id = w.device_id
LEFT JOIN knowledge_feedback k ON k.work_order_id = w.id
WHERE w.status = 'completed' AND w.completed_at IS NOT NULL AND i.fault_mode IS NOT NULL
  AND k.work_order_id IS NULL
ORDER BY w.id
LIMIT 100;

-- name: mark_feedback
INSERT INTO knowledge_feedback (work_order_id, applied_at) VALUES (%(id)s, %(at)s)
ON CONFLICT DO NOTHING;

-- name: latest_models
SELECT DISTINCT ON (equipment_type) equipment_type, version, model
FROM normal_models ORDER BY equipment_type, version DESC;

-- name: next_model_version
SELECT coalesce(max(version), 0) + 1 FROM normal_models WHERE equipment_type = %(equipment_type)s;

-- name: insert_model
INSERT INTO normal_models (equipment_type, version, model, trained_at, rows_used, devices_used)
VALUES (%(equipment_type)s, %(version)s, %(model)s, %(at)s, %(rows)s, %(devices)s);

-- name: healthy_history
-- Readings of one equipment type in [start, end) on devices without a telemetry incident overlapping it.
SELECT t.device_id, t.ts, t.signal, t.value
FROM telemetry t JOIN devices d ON d.id = t.device_id
WHERE d.equipment_type = %(equipment_type)s AND t.ts >= %(start)s AND t.ts < %(end)s
  AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.device_id = t.device_id
                  AND i.opened_at < %(end)s AND coalesce(i.closed_at, i.resolved_at, 'infinity') > %(start)s)
ORDER BY t.device_id, t.ts
LIMIT %(max_rows)s;

-- name: find_open
SELECT id FROM incidents
WHERE device_id = %(device_id)s AND fault_mode = %(fault_mode)s
  AND status NOT IN ('resolved_remote', 'resolved_onsite', 'closed');

-- name: set_required_parts
UPDATE work_orders SET required_parts = %(parts)s WHERE id = %(id)s;

-- ---------------------------------------------------------------------------------------------------------
-- Live service: detector checkpoints, RUL, repairs, escalation (migration 0210)
-- ---------------------------------------------------------------------------------------------------------

-- name: load_checkpoints
SELECT device_id, fingerprint, watermark, state, arrival, blob
FROM detector_state WHERE device_id = ANY(%(ids)s::text[]);

-- name: save_checkpoints
-- One statement for all the pass's due checkpoints (not one per device): device ids are distinct.
INSERT INTO detector_state (device_id, fingerprint, watermark, state, saved_at, arrival, blob)
SELECT u.device_id, u.fingerprint, u.watermark, u.state, %(at)s, u.arrival, u.blob
FROM unnest(%(ids)s::text[], %(fps)s::text[], %(marks)s::timestamptz[], %(states)s::jsonb[], %(arrivals)s::bigint[],
            %(blobs)s::bytea[]) AS u(device_id, fingerprint, watermark, state, arrival, blob)
ON CONFLICT ON CONSTRAINT detector_state_pk DO UPDATE
    SET fingerprint = excluded.fingerprint, watermark = excluded.watermark, state = excluded.state,
        saved_at = excluded.saved_at, arrival = excluded.arrival, blob = excluded.blob;

-- name: delete_checkpoint
DELETE FROM detector_state WHERE device_id = %(device_id)s;

-- name: insert_rul
INSERT INTO rul_estimates (device_id, estimated_at, status, signal, direction, level, threshold, slope_per_h,
                           rul_s, rul_low_s, rul_high_s, failure_at, failure_earliest_at, failure_latest_at,
                           fault_mode, signals, method)
VALUES (%(device_id)s, %(estimated_at)s, %(status)s, %(signal)s, %(direction)s, %(level)s, %(threshold)s,
        %(slope_per_h)s, %(rul_s)s, %(rul_low_s)s, %(rul_high_s)s, %(failure_at)s, %(failure_earliest_at)s,
        %(failure_latest_at)s, %(fault_mode)s, %(signals)s, %(method)s);

-- name: prune_rul
DELETE FROM rul_estimates WHERE estimated_at < %(before)s;

-- name: latest_rul
SELECT device_id, estimated_at, status, signal, direction, level, threshold, slope_per_h, rul_s, rul_low_s,
       rul_high_s, failure_at, failure_earliest_at, failure_latest_at, fault_mode, method, signals
FROM rul_estimates WHERE device_id = %(device_id)s
ORDER BY estimated_at DESC, id DESC LIMIT 1;

-- name: rul_history
SELECT estimated_at, status, signal, rul_s, rul_low_s, rul_high_s, failure_at
FROM rul_estimates WHERE device_id = %(device_id)s AND estimated_at >= %(since)s
ORDER BY estimated_at;

-- name: predicted_failures
-- The documented read for spares and planning (view predicted_failures, migration 0210).
SELECT * FROM predicted_failures
WHERE (%(before)s::timestamptz IS NULL OR failure_at <= %(before)s)
  AND (%(customer_id)s::bigint IS NULL OR customer_id = %(customer_id)s)
ORDER BY failure_at, device_id;

-- name: new_repairs
-- Completed visits the loop has not acted on yet: of telemetry incidents, and preventive repairs of a predicted
-- failure (planning's fault mode 'preventive:<mode>', verified as <mode>): both repair the asset, so its
-- detectors and wear model start afresh (otherwise the pre-repair trend would predict the failure again).
SELECT w.id AS work_order_id, w.incident_id, w.device_id, w.completed_at,
       regexp_replace(i.fault_mode, '^preventive:', '') AS fault_mode
FROM work_orders w
JOIN incidents i ON i.id = w.incident_id
LEFT JOIN diagnose_repairs r ON r.work_order_id = w.id
WHERE w.status = 'completed' AND r.work_order_id IS NULL
  AND coalesce(w.outcome, 'fixed') = 'fixed'  -- a visit that ended unfixed repaired nothing (a return visit follows)
  AND (i.source = 'telemetry' OR (i.source = 'planning' AND left(i.fault_mode, 11) = 'preventive:'))
ORDER BY w.completed_at, w.id
LIMIT 200;

-- name: insert_repair
INSERT INTO diagnose_repairs (work_order_id, incident_id, device_id, completed_at, reset_at)
VALUES (%(work_order_id)s, %(incident_id)s, %(device_id)s, %(completed_at)s, %(at)s)
ON CONFLICT DO NOTHING;

-- name: verifying_repairs
SELECT r.work_order_id, r.incident_id, r.device_id, r.completed_at, r.reset_at,
       regexp_replace(i.fault_mode, '^preventive:', '') AS fault_mode, i.status
FROM diagnose_repairs r JOIN incidents i ON i.id = r.incident_id
WHERE r.status = 'verifying';

-- name: decide_repair
UPDATE diagnose_repairs SET status = %(status)s, decided_at = %(at)s
WHERE work_order_id = %(work_order_id)s AND status = 'verifying';

-- name: close_incident
UPDATE incidents SET status = 'closed', closed_at = %(at)s, resolved_at = coalesce(resolved_at, %(at)s)
WHERE id = %(id)s AND status = 'resolved_onsite';

-- name: tighten_sla
-- Escalation: deadlines from the opening time under the new severity, never later than the current ones.
UPDATE incidents SET response_due = least(response_due, %(response_due)s),
                     onsite_due = least(onsite_due, %(onsite_due)s),
                     repair_due = least(repair_due, %(repair_due)s)
WHERE id = %(id)s
RETURNING opened_at, response_due, onsite_due, repair_due;

-- name: tighten_work_order
UPDATE work_orders SET onsite_due = least(onsite_due, %(onsite_due)s)
WHERE incident_id = %(incident_id)s AND status IN ('open', 'assigned', 'en_route')
  AND onsite_due > %(onsite_due)s
RETURNING id, onsite_due;

-- name: incident_opened_at
SELECT opened_at FROM incidents WHERE id = %(id)s;

-- ---------------------------------------------------------------------------------------------------------
-- Detection watchdog and board (migration 0230)
-- ---------------------------------------------------------------------------------------------------------

-- name: pending_by_device
-- Committed batches after diagnose's arrival cursor, per device (the arrival index keeps this cheap when
-- diagnose keeps up; a stopped diagnose makes it grow, which is the point).
SELECT b.device_id, min(b.received_at) AS oldest, count(*) AS batches
FROM ingest_batches b
WHERE b.arrival > coalesce((SELECT p.batch_id FROM diagnose_progress p WHERE p.device_id = '*'), 0)
GROUP BY b.device_id;

-- name: raise_alarm
INSERT INTO ops_alarms (kind, raised_at, detail) VALUES (%(kind)s, %(at)s, %(detail)s)
ON CONFLICT (kind) WHERE cleared_at IS NULL DO NOTHING
RETURNING id;

-- name: refresh_alarm
UPDATE ops_alarms SET detail = %(detail)s WHERE kind = %(kind)s AND cleared_at IS NULL;

-- name: clear_alarm
UPDATE ops_alarms SET cleared_at = %(at)s WHERE kind = %(kind)s AND cleared_at IS NULL;

-- name: open_alarms
SELECT kind, raised_at, detail FROM ops_alarms WHERE cleared_at IS NULL ORDER BY raised_at;

-- name: clock_faults
-- Devices whose newest batch had a clock fault (ingest keeps devices.clock_fault_at).
SELECT id AS device_id, name, clock_fault_at AS since, clock_offset_ms / 1000.0 AS offset_s
FROM devices WHERE clock_fault_at IS NOT NULL ORDER BY clock_fault_at;

-- name: cancel_unstarted_visit
-- A verified remote fix makes the incident's live visit unnecessary, but only while nobody has set off: the
-- conditions are re-checked in the UPDATE itself, so a technician departing in the same instant (the phone's
-- "on my way", dispatch/visits.depart) either wins (0 rows: the visit goes ahead) or finds the order cancelled. A
-- held job (on_hold, 0350) needs no visit either.
UPDATE work_orders SET status = 'cancelled',
       notes = concat_ws(E'\n', notes, 'cancelled: remote fix verified before departure')
WHERE incident_id = %(incident_id)s AND status IN ('open', 'assigned', 'on_hold') AND departed_at IS NULL
RETURNING id, technician_id, visit_no;

-- name: audit_diagnose
INSERT INTO audit_log (at, actor, actor_role, action, target_type, target_id, details)
VALUES (%(at)s, 'diagnose', 'system', %(action)s, %(target_type)s, %(target_id)s, %(details)s);
