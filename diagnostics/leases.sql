-- Diagnose leases (diagnostics/leases.py, migration 0270). Times are wall time: clock_timestamp(), not now(),
-- because a pass's transaction may have started a while ago.

-- name: ensure_partitions
INSERT INTO diagnose_leases (part)
SELECT generate_series(0, %(n)s - 1)
ON CONFLICT ON CONSTRAINT diagnose_leases_pk DO NOTHING;

-- name: ensure_cursors
-- Each partition's cursor starts where the single cursor '*' stood (an upgrade from one unleased worker), else 0.
INSERT INTO diagnose_progress (device_id, watermark, batch_id)
SELECT '*p' || g, NULL, coalesce((SELECT batch_id FROM diagnose_progress WHERE device_id = '*'), 0)
FROM generate_series(0, %(n)s - 1) g
ON CONFLICT ON CONSTRAINT diagnose_progress_pk DO NOTHING;

-- name: heartbeat
-- Also forgets workers silent for long (a crashed worker's row would otherwise stay forever; it no longer counts
-- as live after one TTL anyway).
WITH gone AS (DELETE FROM diagnose_workers WHERE seen_at < clock_timestamp() - make_interval(secs => 100 * %(ttl)s))
INSERT INTO diagnose_workers (worker_id, seen_at) VALUES (%(me)s, clock_timestamp())
ON CONFLICT ON CONSTRAINT diagnose_workers_pk DO UPDATE SET seen_at = excluded.seen_at;

-- name: renew
UPDATE diagnose_leases SET expires_at = clock_timestamp() + make_interval(secs => %(ttl)s)
WHERE owner = %(me)s
RETURNING part;

-- name: live_workers
SELECT count(*) FROM diagnose_workers WHERE seen_at > clock_timestamp() - make_interval(secs => %(ttl)s);

-- name: claim_expired
-- Another worker's lease it did not renew in time: that worker is dead (or stalled, and then it drops the lease at
-- its next renewal). Taken whatever our share, so its devices are watched again at once; sharing evens out later.
UPDATE diagnose_leases l
SET owner = %(me)s, expires_at = clock_timestamp() + make_interval(secs => %(ttl)s), moved_at = clock_timestamp(),
    moves = l.moves + 1
WHERE l.part IN (SELECT part FROM diagnose_leases
                 WHERE owner IS NOT NULL AND owner <> %(me)s AND expires_at < clock_timestamp()
                 FOR UPDATE SKIP LOCKED)
RETURNING l.part;

-- name: claim
-- Free leases (released by a worker over its share, or never taken), lowest partition first, up to our share; one
-- another pass holds (locked) is skipped, never waited on.
UPDATE diagnose_leases l
SET owner = %(me)s, expires_at = clock_timestamp() + make_interval(secs => %(ttl)s), moved_at = clock_timestamp(),
    moves = l.moves + 1
WHERE l.part IN (SELECT part FROM diagnose_leases WHERE owner IS NULL
                 ORDER BY part LIMIT %(need)s FOR UPDATE SKIP LOCKED)
RETURNING l.part;

-- name: release
UPDATE diagnose_leases SET owner = NULL, expires_at = '-infinity'
WHERE owner = %(me)s AND part = ANY(%(parts)s::integer[]);

-- name: leave
DELETE FROM diagnose_workers WHERE worker_id = %(me)s;

-- name: lease_owners
SELECT part, owner, expires_at FROM diagnose_leases ORDER BY part;

-- name: load_cursors
SELECT substr(device_id, 3)::integer, batch_id FROM diagnose_progress WHERE device_id LIKE '*p%%';

-- name: ensure_star
-- The '*' row (slowest partition's cursor) exists before any pass saves cursors: save_cursors only updates it.
INSERT INTO diagnose_progress (device_id, watermark, batch_id)
SELECT '*', NULL, coalesce(min(batch_id), 0) FROM diagnose_progress WHERE device_id LIKE '*p%%'
ON CONFLICT ON CONSTRAINT diagnose_progress_pk DO NOTHING;

-- name: has_star
SELECT 1 FROM diagnose_progress WHERE device_id = '*';

-- name: save_cursors
-- The held partitions' cursors, then '*' as the slowest partition's. Every worker writes '*': a pass that finds it
-- locked (another worker's pass has not committed yet) skips it instead of waiting for that whole transaction
-- (checkpoints, RUL...), which serialised the workers' passes. That worker writes it; a '*' a pass behind only
-- makes the backlog watchdog see a little more backlog, never less (it is computed from committed cursors).
WITH saved AS (
    INSERT INTO diagnose_progress (device_id, watermark, batch_id)
    SELECT '*p' || p, NULL, c FROM unnest(%(parts)s::integer[], %(cursors)s::bigint[]) AS u(p, c)
    ON CONFLICT ON CONSTRAINT diagnose_progress_pk DO UPDATE SET batch_id = excluded.batch_id
    RETURNING device_id, batch_id),
star AS (SELECT device_id FROM diagnose_progress WHERE device_id = '*' FOR UPDATE SKIP LOCKED)
UPDATE diagnose_progress d
SET batch_id = (SELECT min(coalesce(s.batch_id, p.batch_id))
                FROM diagnose_progress p LEFT JOIN saved s ON s.device_id = p.device_id
                WHERE p.device_id LIKE '*p%%')
WHERE d.device_id IN (SELECT device_id FROM star);

-- name: load_marks
SELECT device_id, watermark FROM diagnose_progress WHERE device_id = ANY(%(ids)s::text[]);
