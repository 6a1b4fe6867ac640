-- Telemetry lifecycle: 1-minute and 1-hour rollups, compression and retention.
-- TimescaleDB: continuous aggregates and policies (the policy intervals are re-applied from settings by
-- ingest's lifecycle job). Plain PostgreSQL: rollup tables refreshed incrementally from a watermark, and old
-- daily partitions dropped. Same column names on both paths, so readers do not care which ran.

-- @timescale
CREATE MATERIALIZED VIEW telemetry_1m WITH (timescaledb.continuous) AS
SELECT device_id, signal, time_bucket(interval '1 minute', ts) AS bucket,
       avg(value) AS avg, min(value) AS min, max(value) AS max, count(*) AS n
FROM telemetry GROUP BY device_id, signal, time_bucket(interval '1 minute', ts) WITH NO DATA;
SELECT add_continuous_aggregate_policy('telemetry_1m', start_offset => interval '3 hours',
                                       end_offset => interval '1 minute', schedule_interval => interval '1 minute');
CREATE MATERIALIZED VIEW telemetry_1h WITH (timescaledb.continuous) AS
SELECT device_id, signal, time_bucket(interval '1 hour', bucket) AS bucket,
       sum(avg * n) / sum(n) AS avg, min(min) AS min, max(max) AS max, sum(n) AS n
FROM telemetry_1m GROUP BY device_id, signal, time_bucket(interval '1 hour', bucket) WITH NO DATA;
SELECT add_continuous_aggregate_policy('telemetry_1h', start_offset => interval '3 days',
                                       end_offset => interval '1 hour', schedule_interval => interval '15 minutes');
ALTER TABLE telemetry SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id, signal',
                           timescaledb.compress_orderby = 'ts DESC');
SELECT add_compression_policy('telemetry', interval '7 days');
SELECT add_retention_policy('telemetry', interval '90 days');
-- @end

-- @plain
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

CREATE TABLE rollup_watermarks (
    name text CONSTRAINT rollup_watermarks_pk PRIMARY KEY,
    upto timestamptz NOT NULL
);

-- Recompute every bucket that may have changed since the last run: from the watermark minus the allowed
-- lateness (late, buffered device data) up to the last complete bucket. Recomputing from raw rows (not adding
-- deltas) keeps the refresh idempotent: running it twice gives the same rollups.
CREATE FUNCTION quietfix_refresh_rollups(now_ts timestamptz, lateness interval) RETURNS integer
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
        SELECT date_bin('1 minute', min(ts), TIMESTAMPTZ '2000-01-01') INTO from_1m FROM telemetry;
        IF from_1m IS NULL THEN RETURN 0; END IF;
    END IF;
    from_1m := date_bin('1 minute', from_1m, TIMESTAMPTZ '2000-01-01');
    DELETE FROM telemetry_1m WHERE bucket >= from_1m AND bucket < to_1m;
    INSERT INTO telemetry_1m (device_id, signal, bucket, avg, min, max, n)
    SELECT device_id, signal, date_bin('1 minute', ts, TIMESTAMPTZ '2000-01-01'), avg(value), min(value),
           max(value), count(*)
    FROM telemetry WHERE ts >= from_1m AND ts < to_1m
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

-- Retention on the plain path: drop whole daily partitions older than the cut-off (cheap, no vacuum debt).
CREATE FUNCTION quietfix_drop_partitions(older_than timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part record;
    dropped integer := 0;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'telemetry'::regclass AND c.relname ~ '^telemetry_[0-9]{8}$'
          AND (to_date(substr(c.relname, 11), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= older_than
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END $$;
-- @end
