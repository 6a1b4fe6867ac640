-- Learning in the product (diagnostics/trainer.py): healthy history for normal models, run-to-failure histories
-- for the fleet's RUL model, and both models' versions (migration 0255).

-- name: equipment_types
SELECT DISTINCT equipment_type FROM devices ORDER BY 1;

-- name: normal_model_versions
SELECT equipment_type, version, trained_at, window_start, window_end, rows_used AS samples,
       devices_used AS devices, metrics
FROM normal_models ORDER BY equipment_type, version DESC;

-- name: rul_model_versions
SELECT equipment_type, version, trained_at, window_start, window_end, failures, samples, metrics
FROM rul_models ORDER BY equipment_type, version DESC;

-- name: healthy_extent
-- Healthy samples of one type in [start, end): none within exclude_before of an incident opening on the device,
-- nor before exclude_after past its close (an open incident excludes everything after it). Imported tickets
-- (source 'import', migration 0660: the previous system's history) are not read here: they predate this
-- system's telemetry, and the demo's are drawn at random over assets whose simulated readings stayed healthy.
SELECT count(*) AS samples, min(s.ts) AS first_ts, max(s.ts) AS last_ts, count(DISTINCT s.device_id) AS devices
FROM telemetry_samples s JOIN devices d ON d.id = s.device_id
WHERE d.equipment_type = %(equipment_type)s AND s.ts >= %(start)s AND s.ts < %(end)s
  AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.device_id = s.device_id AND i.source <> 'import'
                  AND s.ts > i.opened_at - make_interval(secs => %(before_s)s)
                  AND s.ts < coalesce(i.closed_at, i.resolved_at, 'infinity') + make_interval(secs => %(after_s)s));

-- name: healthy_samples
-- The same samples, every stride-th per device in time order (consecutive samples stay consecutive).
SELECT device_id, ts, signals, readings FROM (
    SELECT s.device_id, s.ts, s.signals, s.readings,
           row_number() OVER (PARTITION BY s.device_id ORDER BY s.ts) AS n
    FROM telemetry_samples s JOIN devices d ON d.id = s.device_id
    WHERE d.equipment_type = %(equipment_type)s AND s.ts >= %(start)s AND s.ts < %(end)s
      AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.device_id = s.device_id AND i.source <> 'import'
                      AND s.ts > i.opened_at - make_interval(secs => %(before_s)s)
                      AND s.ts < coalesce(i.closed_at, i.resolved_at, 'infinity')
                                 + make_interval(secs => %(after_s)s))
) x
WHERE mod(n, %(stride)s) = 0
ORDER BY device_id, ts;

-- name: insert_normal_model
INSERT INTO normal_models (equipment_type, version, model, trained_at, rows_used, devices_used, window_start,
                           window_end, metrics)
VALUES (%(equipment_type)s, %(version)s, %(model)s, %(at)s, %(samples)s, %(devices)s, %(start)s, %(end)s,
        %(metrics)s);

-- name: run_to_failure
-- Wear failures of one type that a completed on-site repair confirmed (the label): the incident's opening is the
-- failure, the previous completed repair of the asset (if any) the start of that life.
SELECT i.device_id, i.fault_mode, i.opened_at AS failed_at,
       (SELECT max(p.completed_at) FROM work_orders p
        WHERE p.device_id = i.device_id AND p.status = 'completed' AND coalesce(p.outcome, 'fixed') = 'fixed'
          AND p.completed_at < i.opened_at) AS life_start
FROM incidents i JOIN devices d ON d.id = i.device_id
WHERE d.equipment_type = %(equipment_type)s AND i.source = 'telemetry' AND i.fault_mode = ANY(%(modes)s)
  AND i.opened_at >= %(since)s
  AND EXISTS (SELECT 1 FROM work_orders w WHERE w.incident_id = i.id AND w.status = 'completed'
              AND coalesce(w.outcome, 'fixed') = 'fixed')
ORDER BY i.opened_at, i.id;

-- name: first_sample
SELECT min(ts) FROM telemetry_samples WHERE device_id = %(device_id)s AND ts >= %(since)s AND ts < %(until)s;

-- name: cycle_means
-- Means per cycle (bucket of cycle_s seconds from the epoch) and signal, for one device in [start, end).
SELECT extract(epoch FROM date_bin(make_interval(secs => %(cycle_s)s), s.ts, 'epoch'::timestamptz))::float8
           AS bucket,
       r.signal, avg(r.value) AS mean
FROM telemetry_samples s CROSS JOIN LATERAL unnest(s.signals, s.readings) AS r(signal, value)
WHERE s.device_id = %(device_id)s AND s.ts >= %(start)s AND s.ts < %(end)s AND r.signal = ANY(%(signals)s)
GROUP BY 1, 2 ORDER BY 1;

-- name: last_repairs
-- Each asset's latest completed repair: its wear life starts again there.
SELECT device_id, max(completed_at) AS completed_at FROM work_orders
WHERE status = 'completed' AND coalesce(outcome, 'fixed') = 'fixed' AND device_id = ANY(%(devices)s)
GROUP BY device_id;

-- name: next_rul_version
SELECT coalesce(max(version), 0) + 1 FROM rul_models WHERE equipment_type = %(equipment_type)s;

-- name: insert_rul_model
INSERT INTO rul_models (equipment_type, version, model, trained_at, window_start, window_end, failures, samples,
                        metrics)
VALUES (%(equipment_type)s, %(version)s, %(model)s, %(at)s, %(start)s, %(end)s, %(failures)s, %(samples)s,
        %(metrics)s);

-- name: latest_rul_models
SELECT DISTINCT ON (equipment_type) equipment_type, version, model
FROM rul_models ORDER BY equipment_type, version DESC;

-- name: latest_rul_many
-- Each asset's latest remaining-useful-life estimate, for pages that list several assets (the portal).
SELECT DISTINCT ON (device_id) device_id, estimated_at, status, signal, direction, level, threshold, slope_per_h,
       rul_s, rul_low_s, rul_high_s, failure_at, failure_earliest_at, failure_latest_at, fault_mode, method, signals
FROM rul_estimates WHERE device_id = ANY(%(devices)s)
ORDER BY device_id, estimated_at DESC, id DESC;

-- name: rul_model_heads
SELECT equipment_type, max(version) FROM rul_models GROUP BY 1;

-- name: healthy_lives
-- Assets of one type with no incident since their last completed repair (or ever): lives still running, the
-- censored side of the run-to-failure data (what did not fail, and for how long).
SELECT d.id AS device_id, r.life_start
FROM devices d
CROSS JOIN LATERAL (SELECT max(w.completed_at) AS life_start FROM work_orders w
                    WHERE w.device_id = d.id AND w.status = 'completed'
                      AND coalesce(w.outcome, 'fixed') = 'fixed') r
WHERE d.equipment_type = %(equipment_type)s
  AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.device_id = d.id AND i.source <> 'import'
                  AND i.opened_at > coalesce(r.life_start, '-infinity'::timestamptz))
ORDER BY d.id
LIMIT %(limit)s;

-- name: cycle_means_many
-- cycle_means for several devices over one span (the diagnose loop's incremental RUL pass: one query per pass).
SELECT s.device_id,
       extract(epoch FROM date_bin(make_interval(secs => %(cycle_s)s), s.ts, 'epoch'::timestamptz))::float8
           AS bucket,
       r.signal, avg(r.value) AS mean
FROM telemetry_samples s CROSS JOIN LATERAL unnest(s.signals, s.readings) AS r(signal, value)
WHERE s.device_id = ANY(%(devices)s) AND s.ts >= %(start)s AND s.ts < %(end)s AND r.signal = ANY(%(signals)s)
GROUP BY 1, 2, 3 ORDER BY 1, 2;

-- name: first_samples
SELECT device_id, min(ts) FROM telemetry_samples
WHERE device_id = ANY(%(devices)s) AND ts >= %(since)s AND ts < %(until)s
GROUP BY device_id;
