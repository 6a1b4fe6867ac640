-- Detectors scan "everything in the last few minutes" across the fleet. A BRIN index on the append-mostly
-- time column answers that for a few kB of index, where a B-tree would double the write cost.
CREATE INDEX telemetry_ts_brin ON telemetry USING brin (ts) WITH (pages_per_range = 32);
