-- Telemetry: narrow rows (one reading = one signal value). TimescaleDB hypertable when the extension is
-- available, otherwise native range partitioning by day. Same columns, indexes and queries on both paths.
-- Sections between "-- @timescale" / "-- @plain" and "-- @end" run only on that path (core/migrate.py).

-- @timescale
CREATE TABLE telemetry (
    device_id text NOT NULL,
    signal    text NOT NULL,
    ts        timestamptz NOT NULL,
    value     double precision NOT NULL
);
SELECT create_hypertable('telemetry', 'ts', chunk_time_interval => interval '1 day');
-- @end

-- @plain
CREATE TABLE telemetry (
    device_id text NOT NULL,
    signal    text NOT NULL,
    ts        timestamptz NOT NULL,
    value     double precision NOT NULL
) PARTITION BY RANGE (ts);
-- Catches rows outside the pre-created daily partitions (e.g. a device with a wrong clock) so no reading is
-- rejected for lack of a partition; quietfix_ensure_partitions keeps it empty in normal operation.
CREATE TABLE telemetry_default PARTITION OF telemetry DEFAULT;

CREATE FUNCTION quietfix_ensure_partitions(from_ts timestamptz, to_ts timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    d date := date_trunc('day', from_ts AT TIME ZONE 'UTC')::date;
    created integer := 0;
    part text;
BEGIN
    WHILE d <= (to_ts AT TIME ZONE 'UTC')::date LOOP
        part := format('telemetry_%s', to_char(d, 'YYYYMMDD'));
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF telemetry FOR VALUES FROM (%L) TO (%L)',
                           part, (d::timestamp AT TIME ZONE 'UTC'), ((d + 1)::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN created;
END $$;
-- @end

-- "Latest value per device" and "window around a time" both seek this index (device, signal, newest first).
CREATE INDEX telemetry_device_signal_ts_ix ON telemetry (device_id, signal, ts DESC);

-- Idempotency ledger: one row per (device, seq). Ingest inserts here first (ON CONFLICT DO NOTHING) and COPYs
-- only the batches that were new, in the same transaction, so a redelivered message never duplicates rows.
CREATE TABLE ingest_batches (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    readings    integer NOT NULL,
    first_ts    timestamptz NOT NULL,
    last_ts     timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ingest_batches_pk PRIMARY KEY (device_id, seq)
);
CREATE INDEX ingest_batches_id_ix ON ingest_batches (id);

-- Latest value per device and signal, maintained by ingest; the API and the route board read this.
CREATE TABLE telemetry_latest (
    device_id text NOT NULL,
    signal    text NOT NULL,
    ts        timestamptz NOT NULL,
    value     double precision NOT NULL,
    CONSTRAINT telemetry_latest_pk PRIMARY KEY (device_id, signal)
);

-- Everything ingest refuses, with the reason, so bad input is visible and nothing is silently lost.
CREATE TABLE dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT dead_letters_pk PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text NOT NULL,
    device_id   text,
    reason      text NOT NULL,
    payload     bytea NOT NULL
);
CREATE INDEX dead_letters_received_ix ON dead_letters (received_at DESC);
