"""The device -> partition map is part of the stored state (each partition's arrival cursor is kept under its
number): it must not change between versions or processes, or a worker would resume a device from another
partition's cursor and skip or repeat its batches."""

from __future__ import annotations

from diagnostics.leases import PARTITIONS, partition


def test_partition_is_a_fixed_hash_of_the_device_id() -> None:
    # crc32, not Python's hash(): the same in every process (hash() of a str is salted per process)
    assert [partition(d) for d in ("pump-0001", "chiller-0002", "compressor-0003")] == [38, 43, 52]
    assert PARTITIONS == 64


def test_partitions_spread_a_fleet_evenly() -> None:
    counts = [0] * PARTITIONS
    for i in range(20_000):
        counts[partition(f"pump-{i:05d}")] += 1
    assert min(counts) > 0.8 * 20_000 / PARTITIONS and max(counts) < 1.2 * 20_000 / PARTITIONS
