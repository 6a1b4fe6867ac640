-- Diagnostics: the editable knowledge base, versioned normal models, remote fix attempts, the diagnose loop's
-- progress through ingest_batches, and the incident fields the streaming state machine needs across restarts.
-- The knowledge base rows are seeded from diagnostics/knowledge_base.json by diagnostics.repository.seed_knowledge
-- (called by the diagnose loop at start and by the demo), not here: SQL cannot read the package's JSON.

CREATE TABLE knowledge_base (
    equipment_type text NOT NULL,
    fault_mode     text NOT NULL,
    entry          jsonb NOT NULL,
    version        integer NOT NULL DEFAULT 1,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     text NOT NULL DEFAULT 'seed',
    CONSTRAINT knowledge_base_pk PRIMARY KEY (equipment_type, fault_mode)
);

-- Work orders whose technician feedback was already counted into the knowledge base (counted once).
CREATE TABLE knowledge_feedback (
    work_order_id bigint CONSTRAINT knowledge_feedback_pk PRIMARY KEY
                  CONSTRAINT knowledge_feedback_work_order_fk REFERENCES work_orders (id),
    applied_at    timestamptz NOT NULL
);

CREATE TABLE normal_models (
    equipment_type text NOT NULL,
    version        integer NOT NULL,
    model          bytea NOT NULL,
    trained_at     timestamptz NOT NULL,
    rows_used      integer NOT NULL,
    devices_used   integer NOT NULL,
    CONSTRAINT normal_models_pk PRIMARY KEY (equipment_type, version)
);

CREATE TABLE remote_fix_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT remote_fix_attempts_pk PRIMARY KEY,
    incident_id  bigint NOT NULL CONSTRAINT remote_fix_attempts_incident_fk REFERENCES incidents (id),
    device_id    text NOT NULL CONSTRAINT remote_fix_attempts_device_fk REFERENCES devices (id),
    command_id   text NOT NULL CONSTRAINT remote_fix_attempts_command_uq UNIQUE,
    command      text NOT NULL,
    status       text NOT NULL DEFAULT 'sent'
                 CONSTRAINT remote_fix_attempts_status_ck CHECK (status IN ('sent', 'acked', 'failed', 'timeout',
                     'verified', 'not_verified')),
    sent_at      timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    verify_until timestamptz NOT NULL,
    result_at    timestamptz,
    result       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX remote_fix_attempts_open_ix ON remote_fix_attempts (status) WHERE status IN ('sent', 'acked');

-- One row per device: readings up to `watermark` were fed to its monitor (late data older than it is skipped),
-- plus the highest ingest_batches.id seen (device_id '*'), so a restart resumes instead of re-reading history.
CREATE TABLE diagnose_progress (
    device_id  text CONSTRAINT diagnose_progress_pk PRIMARY KEY,
    watermark  timestamptz,
    batch_id   bigint NOT NULL DEFAULT 0
);

ALTER TABLE incidents ADD COLUMN last_abnormal_at timestamptz;
ALTER TABLE incidents ADD COLUMN confidence real NOT NULL DEFAULT 1.0;
ALTER TABLE incidents ADD COLUMN reopen_count integer NOT NULL DEFAULT 0;
