-- Diagnostics, live service (block 0210-0229): detector checkpoints, remaining-useful-life estimates and the
-- predicted_failures view other domains read, and the on-site repairs the diagnose loop has reset and verified.

-- One checkpoint per device: the streaming detectors' state (diagnostics/checkpoint.py), so a restarted diagnose
-- process resumes instead of relearning. `fingerprint` hashes the state's shape, the config and the normal model
-- version; a checkpoint that no longer fits is discarded. `watermark` is the last reading the state includes.
CREATE TABLE detector_state (
    device_id   text CONSTRAINT detector_state_pk PRIMARY KEY
                CONSTRAINT detector_state_device_fk REFERENCES devices (id),
    fingerprint text NOT NULL,
    watermark   timestamptz NOT NULL,
    state       jsonb NOT NULL,
    saved_at    timestamptz NOT NULL
);

-- Remaining useful life per asset, one row per estimate (history kept for trends; pruned by the loop).
-- status: learning (less than a load cycle of data) | healthy | degrading (a failure is predicted) | at_limit.
-- rul_*_s and failure_*_at are NULL when nothing is predicted; failure_latest_at NULL = beyond the horizon.
CREATE TABLE rul_estimates (
    id                  bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT rul_estimates_pk PRIMARY KEY,
    device_id           text NOT NULL CONSTRAINT rul_estimates_device_fk REFERENCES devices (id),
    estimated_at        timestamptz NOT NULL,
    status              text NOT NULL
                        CONSTRAINT rul_estimates_status_ck CHECK (status IN ('learning', 'healthy', 'degrading',
                            'at_limit')),
    signal              text,
    direction           text CONSTRAINT rul_estimates_direction_ck CHECK (direction IN ('up', 'down')),
    level               double precision,
    threshold           double precision,
    slope_per_h         double precision,
    rul_s               double precision,
    rul_low_s           double precision,
    rul_high_s          double precision,
    failure_at          timestamptz,
    failure_earliest_at timestamptz,
    failure_latest_at   timestamptz,
    fault_mode          text,
    method              text NOT NULL DEFAULT 'trend',
    signals             jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX rul_estimates_device_ix ON rul_estimates (device_id, estimated_at DESC);

-- Predicted failures, for spares (parts demand) and planning (preventive visits): each asset's latest estimate
-- when it predicts a failure, with the likely fault mode, the parts the knowledge base lists for it, and the
-- open incident if one exists already. Read through diagnostics.repository.predicted_failures.
CREATE VIEW predicted_failures AS
SELECT r.device_id, d.customer_id, d.equipment_type, d.name AS device_name, d.region, d.lat, d.lon,
       r.estimated_at, r.status, r.signal, r.direction, r.level, r.threshold, r.rul_s, r.rul_low_s, r.rul_high_s,
       r.failure_at, r.failure_earliest_at, r.failure_latest_at, r.fault_mode,
       coalesce(k.entry -> 'parts', '[]'::jsonb) AS likely_parts,
       coalesce((k.entry ->> 'repair_minutes')::integer, 120) AS repair_minutes,
       coalesce(k.entry -> 'skills', '["mechanical"]'::jsonb) AS skills,
       (SELECT i.id FROM incidents i
        WHERE i.device_id = r.device_id AND i.status IN ('detected', 'remote_fix_attempted', 'work_order')
        ORDER BY i.opened_at DESC LIMIT 1) AS open_incident_id
FROM (SELECT DISTINCT ON (device_id) * FROM rul_estimates ORDER BY device_id, estimated_at DESC, id DESC) r
JOIN devices d ON d.id = r.device_id
LEFT JOIN knowledge_base k ON k.equipment_type = d.equipment_type AND k.fault_mode = r.fault_mode
WHERE r.status IN ('degrading', 'at_limit');

-- Completed visits the diagnose loop has acted on: detectors reset at `reset_at`, then the repair is verified
-- from telemetry (`verified`) or the fault came back (`recurred`).
CREATE TABLE diagnose_repairs (
    work_order_id bigint CONSTRAINT diagnose_repairs_pk PRIMARY KEY
                  CONSTRAINT diagnose_repairs_work_order_fk REFERENCES work_orders (id),
    incident_id   bigint NOT NULL CONSTRAINT diagnose_repairs_incident_fk REFERENCES incidents (id),
    device_id     text NOT NULL CONSTRAINT diagnose_repairs_device_fk REFERENCES devices (id),
    completed_at  timestamptz NOT NULL,
    reset_at      timestamptz NOT NULL,
    status        text NOT NULL DEFAULT 'verifying'
                  CONSTRAINT diagnose_repairs_status_ck CHECK (status IN ('verifying', 'verified', 'recurred')),
    decided_at    timestamptz
);
CREATE INDEX diagnose_repairs_verifying_ix ON diagnose_repairs (status) WHERE status = 'verifying';
