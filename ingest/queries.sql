-- name: known_devices
SELECT id FROM devices;

-- name: claim_batches
-- Record each (device, seq) once; the RETURNING rows are the batches not seen before, the only ones to COPY.
-- Arrays arrive as literals built by ingest.repository (times as epoch milliseconds); received_at is one value.
INSERT INTO ingest_batches (device_id, seq, readings, first_ts, last_ts, received_at, clock_offset_ms)
SELECT k.device_id, k.seq, k.readings, 'epoch'::timestamptz + k.first_ms * interval '1 millisecond',
       'epoch'::timestamptz + k.last_ms * interval '1 millisecond', %s::timestamptz, k.offset_ms
FROM unnest(%s::text[], %s::bigint[], %s::integer[], %s::bigint[], %s::bigint[], %s::bigint[])
     AS k(device_id, seq, readings, first_ms, last_ms, offset_ms)
ON CONFLICT ON CONSTRAINT ingest_batches_pk DO NOTHING
RETURNING id, device_id, seq;

-- name: arrival_lock
-- Held from here to the commit (transaction-scoped): arrival numbers are taken in commit order (migration 0230).
SELECT pg_advisory_xact_lock(7305119230);

-- name: stamp_arrival
-- The batches' position in commit order, which diagnose follows (taken under arrival_lock, last in the transaction).
UPDATE ingest_batches SET arrival = nextval('ingest_arrival_seq') WHERE id = ANY(%s::bigint[]);

-- name: copy_clock_faults
-- Readings of a batch stamped too far ahead of its receive time: kept, apart from telemetry (migration 0230).
COPY telemetry_clock_faults (device_id, ts, signals, readings, batch_id) FROM STDIN (FORMAT BINARY);

-- name: clock_state
-- A device's clock is faulty while its newest batch is. Only devices whose state changes are updated and
-- returned (one timeline event per change, not per batch).
UPDATE devices d SET clock_fault_at = CASE WHEN s.offset_ms IS NULL THEN NULL ELSE %s::timestamptz END,
                     clock_offset_ms = s.offset_ms
FROM unnest(%s::text[], %s::bigint[]) AS s(id, offset_ms)
WHERE d.id = s.id AND (d.clock_fault_at IS NULL) = (s.offset_ms IS NOT NULL)
RETURNING d.id, d.customer_id, s.offset_ms;

-- name: stored_batches
-- What was stored under these (device, seq)s: the fingerprint that tells a redelivery from a replay.
SELECT b.device_id, b.seq, b.readings, b.first_ts, b.last_ts
FROM ingest_batches b JOIN unnest(%b::text[], %b::bigint[]) AS k(device_id, seq)
     ON b.device_id = k.device_id AND b.seq = k.seq;

-- name: copy_telemetry
-- One row per sample (migration 0110); the binary data is built by ingest/copy_rows.py.
COPY telemetry_samples (device_id, ts, signals, readings, batch_id) FROM STDIN (FORMAT BINARY);

-- name: queue_rollups
-- What this transaction wrote, per device, for the next rollup refresh (migration 0110): committed with the rows.
INSERT INTO rollup_dirty (device_id, first_ts, last_ts, readings)
SELECT k.device_id, 'epoch'::timestamptz + k.first_ms * interval '1 millisecond',
       'epoch'::timestamptz + k.last_ms * interval '1 millisecond', k.readings
FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::bigint[]) AS k(device_id, first_ms, last_ms, readings);

-- name: upsert_latest
INSERT INTO telemetry_latest (device_id, signal, ts, value)
SELECT k.device_id, k.signal, 'epoch'::timestamptz + k.t_ms * interval '1 millisecond', k.value
FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::double precision[]) AS k(device_id, signal, t_ms, value)
ON CONFLICT ON CONSTRAINT telemetry_latest_pk DO UPDATE
    SET ts = excluded.ts, value = excluded.value
    WHERE telemetry_latest.ts < excluded.ts;

-- name: insert_dead_letters
INSERT INTO dead_letters (received_at, topic, device_id, reason, payload)
SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::bytea[]);

-- name: mark_seen
-- Telemetry proves a device is alive: it is online and last seen now (server clock, not the device's).
UPDATE devices d SET last_seen = s.seen,
                     online = true,
                     status_changed_at = CASE WHEN d.online THEN d.status_changed_at ELSE s.seen END
FROM (SELECT id, %s::timestamptz AS seen FROM unnest(%s::text[]) AS u(id)) AS s
WHERE d.id = s.id AND (d.last_seen IS NULL OR d.last_seen < s.seen);

-- name: set_status
UPDATE devices SET online = %(online)s, status_changed_at = %(at)s,
                   last_seen = CASE WHEN %(online)s THEN %(at)s ELSE last_seen END
WHERE id = %(device_id)s AND online IS DISTINCT FROM %(online)s
RETURNING id, customer_id;

-- name: mark_stale_offline
-- A device silent for longer than the timeout is offline even when no last-will arrived (broker restart,
-- half-open TCP). Exactly at last_seen + timeout, not "eventually".
UPDATE devices SET online = false, status_changed_at = last_seen + %(timeout)s
WHERE online AND last_seen <= %(now)s - %(timeout)s
RETURNING id, customer_id, status_changed_at;


-- name: ensure_partitions
SELECT quietfix_ensure_partitions(%s, %s);

-- name: storage_mode
SELECT value FROM quietfix_meta WHERE key = 'storage';

-- name: try_lifecycle_lock
-- Only one ingest worker runs the lifecycle job at a time; the others skip it (transaction-scoped lock).
SELECT pg_try_advisory_xact_lock(7305119100);

-- name: refresh_rollups
SELECT quietfix_refresh_rollups(%s, %s);

-- name: drop_partitions
SELECT quietfix_drop_partitions(%s);

-- name: timescale_retention
SELECT remove_retention_policy('telemetry_samples', if_exists => true),
       add_retention_policy('telemetry_samples', %s::interval);

-- name: timescale_compression
SELECT remove_compression_policy('telemetry_samples', if_exists => true),
       add_compression_policy('telemetry_samples', %s::interval);
