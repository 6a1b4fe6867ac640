-- Telemetry as one row per SAMPLE (device, timestamp, all signals of that sample) instead of one row per reading.
--
-- Why: ingest was bound by PostgreSQL's COPY into the narrow table, one B-tree insertion per reading into
-- (device_id, signal, ts DESC) (docs/ingest.md). A sample-wide row carries all its signals in two aligned arrays,
-- so the B-tree (device_id, ts DESC) gets one entry per sample (5 readings in the simulated fleet), the heap one
-- tuple header per sample, and WAL shrinks accordingly. This is the "wide row" layout TimescaleDB recommends for
-- devices that report several metrics at the same instant.
--
-- Readers keep the reading-level shape through the view `telemetry (device_id, signal, ts, value)`: a LATERAL
-- unnest over telemetry_samples that the planner flattens, so device_id / ts predicates reach the base table's
-- indexes (EXPLAIN-tested in tests/ingest/test_lifecycle_integration.py). Small writers (fixtures, tests, seeds)
-- may still INSERT/COPY into the view: an INSTEAD OF trigger stores each reading as a one-signal sample. Ingest
-- never does: it COPYs whole samples into telemetry_samples.
--
-- Existing data is moved (grouped by device and timestamp) and the narrow table dropped. On TimescaleDB the
-- continuous aggregates built on the narrow hypertable are replaced by plain rollup tables (contents kept):
-- a continuous aggregate cannot contain the LATERAL unnest that turns a sample row back into readings
-- (set-returning functions in FROM are not supported in continuous aggregates), so both storage paths now refresh
-- telemetry_1m / telemetry_1h with quietfix_refresh_rollups from ingest's lifecycle job.

-- @plain
CREATE TABLE telemetry_samples (
    device_id text NOT NULL,
    ts        timestamptz NOT NULL,
    signals   text[] NOT NULL,              -- signal names of this sample, aligned with readings
    readings  double precision[] NOT NULL,  -- one value per signal, same position
    CONSTRAINT telemetry_samples_aligned CHECK (cardinality(signals) = cardinality(readings))
) PARTITION BY RANGE (ts);
-- As before: rows outside the pre-created daily partitions land here instead of being rejected.
CREATE TABLE telemetry_samples_default PARTITION OF telemetry_samples DEFAULT;

CREATE OR REPLACE FUNCTION quietfix_ensure_partitions(from_ts timestamptz, to_ts timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    d date := date_trunc('day', from_ts AT TIME ZONE 'UTC')::date;
    created integer := 0;
    part text;
BEGIN
    WHILE d <= (to_ts AT TIME ZONE 'UTC')::date LOOP
        part := format('telemetry_samples_%s', to_char(d, 'YYYYMMDD'));
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF telemetry_samples FOR VALUES FROM (%L) TO (%L)',
                           part, (d::timestamp AT TIME ZONE 'UTC'), ((d + 1)::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN created;
END $$;

-- Retention: drop whole daily partitions older than the cut-off (cheap, no vacuum debt).
CREATE OR REPLACE FUNCTION quietfix_drop_partitions(older_than timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part record;
    dropped integer := 0;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'telemetry_samples'::regclass AND c.relname ~ '^telemetry_samples_[0-9]{8}$'
          AND (to_date(substr(c.relname, 19), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= older_than
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END $$;

-- Same days as the narrow table had, so moved rows land in daily partitions, not in the default one.
DO $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT to_date(substr(c.relname, 11), 'YYYYMMDD') AS d FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'telemetry'::regclass AND c.relname ~ '^telemetry_[0-9]{8}$'
    LOOP
        PERFORM quietfix_ensure_partitions(part.d::timestamp AT TIME ZONE 'UTC', part.d::timestamp AT TIME ZONE 'UTC');
    END LOOP;
END $$;
-- @end

-- @timescale
CREATE TABLE telemetry_samples (
    device_id text NOT NULL,
    ts        timestamptz NOT NULL,
    signals   text[] NOT NULL,
    readings  double precision[] NOT NULL,
    CONSTRAINT telemetry_samples_aligned CHECK (cardinality(signals) = cardinality(readings))
);
-- No default (ts DESC) B-tree: it would be a second B-tree insertion per sample; the BRIN below and chunk
-- exclusion serve fleet-wide time ranges, as on the plain path.
SELECT create_hypertable('telemetry_samples', 'ts', chunk_time_interval => interval '1 day',
                         create_default_indexes => false);

-- Keep what the continuous aggregates had materialised (they outlive raw retention), as plain tables.
CREATE TABLE telemetry_1m_kept AS SELECT device_id, signal, bucket, avg, min, max, n FROM telemetry_1m;
CREATE TABLE telemetry_1h_kept AS SELECT device_id, signal, bucket, avg, min, max, n FROM telemetry_1h;
DROP MATERIALIZED VIEW telemetry_1h;
DROP MATERIALIZED VIEW telemetry_1m;
CREATE TABLE telemetry_1m (
    device_id text NOT NULL,
    signal    text NOT NULL,
    bucket    timestamptz NOT NULL,
    avg       double precision NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    n         bigint NOT NULL,
    CONSTRAINT telemetry_1m_pk PRIMARY KEY (device_id, signal, bucket)
);
CREATE TABLE telemetry_1h (
    device_id text NOT NULL,
    signal    text NOT NULL,
    bucket    timestamptz NOT NULL,
    avg       double precision NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    n         bigint NOT NULL,
    CONSTRAINT telemetry_1h_pk PRIMARY KEY (device_id, signal, bucket)
);
CREATE INDEX telemetry_1m_bucket_ix ON telemetry_1m (bucket);
INSERT INTO telemetry_1m SELECT * FROM telemetry_1m_kept WHERE avg IS NOT NULL;
INSERT INTO telemetry_1h SELECT * FROM telemetry_1h_kept WHERE avg IS NOT NULL;
DROP TABLE telemetry_1m_kept;
DROP TABLE telemetry_1h_kept;
CREATE TABLE rollup_watermarks (
    name text CONSTRAINT rollup_watermarks_pk PRIMARY KEY,
    upto timestamptz NOT NULL
);
-- Resume where the aggregate's materialisation stood; the refresh recomputes from here minus the lateness.
INSERT INTO rollup_watermarks (name, upto)
SELECT 'telemetry_1m', max(bucket) + interval '1 minute' FROM telemetry_1m HAVING max(bucket) IS NOT NULL;
-- @end

-- Both paths: move the narrow rows (one sample per device and timestamp; signals in name order).
INSERT INTO telemetry_samples (device_id, ts, signals, readings)
SELECT device_id, ts, array_agg(signal ORDER BY signal), array_agg(value ORDER BY signal)
FROM telemetry GROUP BY device_id, ts;
DROP TABLE telemetry;

-- "Latest value / window of one device" and "one device after its watermark": one B-tree entry per SAMPLE.
-- A signal filter is applied to the (few) unnested readings of each sample the index returns.
CREATE INDEX telemetry_samples_device_ts_ix ON telemetry_samples (device_id, ts DESC);
-- Fleet-wide "everything in the last minutes" (detectors, rollups): BRIN, a few kB, negligible on insert.
CREATE INDEX telemetry_samples_ts_brin ON telemetry_samples USING brin (ts) WITH (pages_per_range = 32);

-- @timescale
ALTER TABLE telemetry_samples SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id',
                                   timescaledb.compress_orderby = 'ts DESC');
SELECT add_compression_policy('telemetry_samples', interval '7 days');
SELECT add_retention_policy('telemetry_samples', interval '90 days');
-- @end

-- The reading-level shape every reader used before (api, diagnostics, rollups, tests).
CREATE VIEW telemetry AS
SELECT s.device_id, r.signal, s.ts, r.value
FROM telemetry_samples s CROSS JOIN LATERAL unnest(s.signals, s.readings) AS r(signal, value);

-- Compatibility for small writers only: one reading in, one one-signal sample out. Ingest COPYs whole samples.
CREATE FUNCTION quietfix_telemetry_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO telemetry_samples (device_id, ts, signals, readings)
    VALUES (NEW.device_id, NEW.ts, ARRAY[NEW.signal], ARRAY[NEW.value]);
    RETURN NEW;
END $$;
CREATE TRIGGER telemetry_insert INSTEAD OF INSERT ON telemetry
    FOR EACH ROW EXECUTE FUNCTION quietfix_telemetry_insert();

-- Rollups from the sample rows (both paths). Recompute every bucket that may have changed since the last run:
-- from the watermark minus the allowed lateness up to the last complete bucket; recomputing from raw rows keeps
-- the refresh idempotent.
CREATE OR REPLACE FUNCTION quietfix_refresh_rollups(now_ts timestamptz, lateness interval) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    from_1m timestamptz;
    to_1m timestamptz := date_bin('1 minute', now_ts, TIMESTAMPTZ '2000-01-01');
    to_1h timestamptz := date_bin('1 hour', now_ts, TIMESTAMPTZ '2000-01-01');
    from_1h timestamptz;
    rows_1m integer;
BEGIN
    SELECT upto - lateness INTO from_1m FROM rollup_watermarks WHERE name = 'telemetry_1m';
    IF from_1m IS NULL THEN
        SELECT date_bin('1 minute', min(ts), TIMESTAMPTZ '2000-01-01') INTO from_1m FROM telemetry_samples;
        IF from_1m IS NULL THEN RETURN 0; END IF;
    END IF;
    from_1m := date_bin('1 minute', from_1m, TIMESTAMPTZ '2000-01-01');
    DELETE FROM telemetry_1m WHERE bucket >= from_1m AND bucket < to_1m;
    INSERT INTO telemetry_1m (device_id, signal, bucket, avg, min, max, n)
    SELECT s.device_id, r.signal, date_bin('1 minute', s.ts, TIMESTAMPTZ '2000-01-01'), avg(r.value),
           min(r.value), max(r.value), count(*)
    FROM telemetry_samples s CROSS JOIN LATERAL unnest(s.signals, s.readings) AS r(signal, value)
    WHERE s.ts >= from_1m AND s.ts < to_1m
    GROUP BY 1, 2, 3;
    GET DIAGNOSTICS rows_1m = ROW_COUNT;
    INSERT INTO rollup_watermarks VALUES ('telemetry_1m', to_1m)
    ON CONFLICT ON CONSTRAINT rollup_watermarks_pk DO UPDATE SET upto = excluded.upto;

    from_1h := date_bin('1 hour', from_1m, TIMESTAMPTZ '2000-01-01');
    DELETE FROM telemetry_1h WHERE bucket >= from_1h AND bucket < to_1h;
    INSERT INTO telemetry_1h (device_id, signal, bucket, avg, min, max, n)
    SELECT device_id, signal, date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01'), sum(avg * n) / sum(n),
           min(min), max(max), sum(n)
    FROM telemetry_1m WHERE bucket >= from_1h AND bucket < to_1h
    GROUP BY 1, 2, 3;
    RETURN rows_1m;
END $$;
