-- Compact detector checkpoints (issue #17, block 0280-0289): a checkpoint written by the vectorised block path is
-- the device's state-array row packed as little-endian float64 (diagnostics/block_checkpoint.py), ~6x smaller and
-- ~20x cheaper to write than the scalar objects' JSON. `state` then holds only the small JSON part (row layout,
-- active findings restored but not yet re-evaluated, wear history). NULL blob: a checkpoint in the scalar JSON
-- format (written before this migration), still restored by the old loader.
ALTER TABLE detector_state ADD COLUMN blob bytea;
