-- Detection by arrival (issue #19, block 0230-0249): diagnose tracks what it evaluated by ingest *commit order*,
-- not by device timestamps, so a device clock that jumps ahead can no longer hide later data from the detectors.

-- Commit order of ingest batches. ingest_batches.id is an identity value taken when the row is inserted, and
-- transactions commit in another order than they took their ids: a reader that remembers "the highest id seen"
-- skips a lower id that commits later. `arrival` is taken at the END of the ingest transaction while holding a
-- transaction-scoped advisory lock (ingest/queries.sql stamp_arrival), and the lock is only released after the
-- commit is visible, so arrival values become visible in increasing order: every arrival <= the highest one a
-- reader sees is already visible to it. (Rolled-back transactions leave gaps, which is harmless.) Chosen over
-- pg_snapshot_xmin because the xmin horizon is cluster-wide: any long writing transaction anywhere (a report, a
-- 2PC prepared transaction, another database on the same server) would stall detection with it.
CREATE SEQUENCE ingest_arrival_seq;
ALTER TABLE ingest_batches ADD COLUMN arrival bigint;
ALTER SEQUENCE ingest_arrival_seq OWNED BY ingest_batches.arrival;  -- TRUNCATE ... RESTART IDENTITY resets it
UPDATE ingest_batches SET arrival = id;  -- existing rows: id order (their samples carry no batch id: see below)
SELECT setval('ingest_arrival_seq', greatest(coalesce((SELECT max(id) FROM ingest_batches), 0), 1),
              (SELECT max(id) FROM ingest_batches) IS NOT NULL);
CREATE INDEX ingest_batches_arrival_ix ON ingest_batches (arrival);

-- How far ahead of its receive time a batch's newest sample was (ms), NULL when its clock was plausible. Such a
-- batch's samples are stored apart in telemetry_clock_faults (docs/contracts.md, "Device clocks").
ALTER TABLE ingest_batches ADD COLUMN clock_offset_ms bigint;

-- Which batch stored each sample, so diagnose reads exactly the samples of the batches it evaluates (a sample
-- is evaluated once even if another batch of the device overlaps it in time). NULL for rows written before this
-- migration or through the `telemetry` view; diagnose matches those by the batch's time span.
ALTER TABLE telemetry_samples ADD COLUMN batch_id bigint;

-- Readings of batches stamped too far ahead of their receive time: kept (same columns) but apart from the
-- telemetry readers, the rollups and telemetry_latest, which a day-ahead timestamp would otherwise pin.
CREATE TABLE telemetry_clock_faults (
    device_id text NOT NULL,
    ts        timestamptz NOT NULL,
    signals   text[] NOT NULL,
    readings  double precision[] NOT NULL,
    batch_id  bigint NOT NULL
);
CREATE INDEX telemetry_clock_faults_device_ix ON telemetry_clock_faults (device_id, ts);

-- Set while the device's newest batch had a clock fault (ingest): one timeline event when it starts, one when
-- it ends, and the board lists the devices that have it.
ALTER TABLE devices ADD COLUMN clock_fault_at timestamptz;
ALTER TABLE devices ADD COLUMN clock_offset_ms bigint;

-- A detector checkpoint remembers the arrival cursor it includes: a restart replays the device's batches that
-- arrived after it (instead of a time watermark).
ALTER TABLE detector_state ADD COLUMN arrival bigint;

-- Operational alarms (the detection watchdog): at most one open alarm per kind.
CREATE TABLE ops_alarms (
    id         bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT ops_alarms_pk PRIMARY KEY,
    kind       text NOT NULL,
    raised_at  timestamptz NOT NULL,
    cleared_at timestamptz,
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX ops_alarms_open_ux ON ops_alarms (kind) WHERE cleared_at IS NULL;
