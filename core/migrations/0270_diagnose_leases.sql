-- Diagnose scales out (issue #17 item 1, block 0270-0289): N `quietfix diagnose` workers share the fleet through
-- leases. Devices are hashed into a fixed number of partitions (diagnostics/leases.py, PARTITIONS); each partition
-- is leased to one worker at a time, so each device is watched by exactly one worker. A lease that is not renewed
-- (the worker died) expires and a live worker takes the partition over, resuming its devices' detector state from
-- the checkpoints (detector_state) and the partition's arrival cursor (diagnose_progress row '*p<N>').

-- Live workers: each renews seen_at every pass. The number of live workers sets each one's fair share of
-- partitions, so a worker that joins makes the others hand partitions over (released with their checkpoints).
CREATE TABLE diagnose_workers (
    worker_id  text CONSTRAINT diagnose_workers_pk PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL
);

-- One row per partition. owner NULL: free. A worker only evaluates a partition's batches in a transaction that
-- renewed (and so row-locked) its lease: a worker that lost its lease cannot commit anything for those devices.
CREATE TABLE diagnose_leases (
    part       integer CONSTRAINT diagnose_leases_pk PRIMARY KEY,
    owner      text,
    expires_at timestamptz NOT NULL DEFAULT '-infinity',
    moved_at   timestamptz,
    moves      integer NOT NULL DEFAULT 0
);
