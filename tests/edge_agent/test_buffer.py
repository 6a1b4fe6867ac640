"""Disk buffer: persisted seq, bounded with drop-oldest, oldest-first replay, survives reopen."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.buffer import BufferStore, DiskBuffer, fresh_seq_base


def _payload(seq: int, size: int = 10) -> bytes:
    return str(seq).encode().ljust(size, b".")


def test_seq_increases_and_survives_reopen(tmp_path: Path) -> None:
    store = BufferStore(tmp_path / "b.sqlite")
    buf = DiskBuffer(store, "pump-1")
    assert [buf.append(_payload) for _ in range(3)] == [0, 1, 2]
    buf.ack(0)
    buf.ack(1)
    buf.ack(2)
    store.close()
    store = BufferStore(tmp_path / "b.sqlite")
    buf = DiskBuffer(store, "pump-1")
    assert buf.append(_payload) == 3  # never reuses a seq, even when the buffer was empty
    store.close()


def test_rows_survive_reopen_in_order(tmp_path: Path) -> None:
    store = BufferStore(tmp_path / "b.sqlite")
    buf = DiskBuffer(store, "pump-1")
    for _ in range(5):
        buf.append(_payload)
    buf.ack(1)
    store.close()
    buf = DiskBuffer(BufferStore(tmp_path / "b.sqlite"), "pump-1")
    assert [s for s, *_ in buf.pending(-1, 100)] == [0, 2, 3, 4]
    assert buf.rows == 4 and buf.bytes == 40
    buf.store.close()


def test_pending_is_oldest_first_after_cursor_and_limited(tmp_path: Path) -> None:
    buf = DiskBuffer(BufferStore(tmp_path / "b.sqlite"), "d")
    for _ in range(10):
        buf.append(_payload)
    assert [s for s, *_ in buf.pending(-1, 3)] == [0, 1, 2]
    assert [s for s, *_ in buf.pending(6, 10)] == [7, 8, 9]
    assert buf.pending(3, 1) == [(4, _payload(4), "telemetry")]


def test_row_bound_drops_oldest_and_counts(tmp_path: Path) -> None:
    store = BufferStore(tmp_path / "b.sqlite")
    buf = DiskBuffer(store, "d", max_rows=4)
    for _ in range(10):
        buf.append(_payload)
    assert [s for s, *_ in buf.pending(-1, 100)] == [6, 7, 8, 9]
    assert (buf.rows, buf.dropped) == (4, 6)
    store.close()
    again = DiskBuffer(BufferStore(tmp_path / "b.sqlite"), "d", max_rows=4)
    assert (again.rows, again.dropped, again.next_seq) == (4, 6, 10)
    again.store.close()


def test_byte_bound_drops_oldest_but_keeps_the_newest(tmp_path: Path) -> None:
    buf = DiskBuffer(BufferStore(tmp_path / "b.sqlite"), "d", max_bytes=25)
    for _ in range(5):
        buf.append(_payload)  # 10 bytes each: only 2 fit
    assert [s for s, *_ in buf.pending(-1, 100)] == [3, 4]
    assert buf.dropped == 3
    buf.append(lambda seq: _payload(seq, 100))  # larger than the bound: kept alone rather than lost
    assert [s for s, *_ in buf.pending(-1, 100)] == [5] and buf.dropped == 5


def test_ack_is_idempotent(tmp_path: Path) -> None:
    buf = DiskBuffer(BufferStore(tmp_path / "b.sqlite"), "d")
    buf.append(_payload)
    assert buf.ack(0) is True
    assert buf.ack(0) is False
    assert (buf.rows, buf.bytes) == (0, 0)


def test_devices_in_one_store_are_independent(tmp_path: Path) -> None:
    store = BufferStore(tmp_path / "b.sqlite")
    a, b = DiskBuffer(store, "a", max_rows=2), DiskBuffer(store, "b", max_rows=2)
    for _ in range(3):
        a.append(_payload)
    b.append(_payload)
    assert [s for s, *_ in a.pending(-1, 9)] == [1, 2]
    assert [s for s, *_ in b.pending(-1, 9)] == [0]
    assert (a.dropped, b.dropped) == (1, 0)


def test_failed_payload_builder_allocates_no_seq(tmp_path: Path) -> None:
    buf = DiskBuffer(BufferStore(tmp_path / "b.sqlite"), "d")

    def boom(seq: int) -> bytes:
        raise ValueError("bad batch")

    with pytest.raises(ValueError):
        buf.append(boom)
    assert buf.append(_payload) == 0


def test_bounds_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        DiskBuffer(BufferStore(tmp_path / "b.sqlite"), "d", max_rows=0)


def test_initial_seq_applies_only_to_a_new_buffer(tmp_path: Path) -> None:
    store = BufferStore(tmp_path / "b.sqlite")
    buf = DiskBuffer(store, "d", initial_seq=500)
    assert buf.append(_payload) == 500
    assert DiskBuffer(store, "d", initial_seq=10**9).append(_payload) == 501
    with pytest.raises(ValueError):
        DiskBuffer(store, "e", initial_seq=-1)


def test_fresh_seq_base_is_above_what_an_earlier_buffer_could_issue() -> None:
    earlier, later = fresh_seq_base(1_732_370_000.0), fresh_seq_base(1_732_370_000.5)
    assert later - earlier == 500_000  # half a second: room for 500k batches of the earlier buffer
    assert later < 2**62  # contract upper bound for seq
