"""SQLite disk buffer: every batch lives here from the moment it is made until it is acknowledged.

Acknowledged means: by ingest end to end (``qf/v1/{id}/ack``, after the rows are committed) when the agent runs
with server acks (the default), or by the broker's PUBACK without them. Events (``event`` topic) share the
buffer and the seq counter with telemetry batches; ``leaf`` says which topic a row goes to.

Why SQLite: one file, atomic commits, survives a process crash and reopen, and the ``seq`` counter is stored in
the same transaction as the batch that uses it, so seq never repeats or goes backwards across restarts.

Full-buffer policy: drop the OLDEST batches and count them (``dropped``). During a long outage the newest data
is what tells whether the equipment is healthy *now* and is what a remote fix is verified against; old
readings of an already-past period are the least useful. The drop counter is persisted and reported, so the
loss is visible, never silent.

One ``BufferStore`` (one SQLite connection, one thread) can hold the buffers of many devices: a fleet
simulator uses one file per worker thread instead of thousands of files.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_MAX_ROWS = 10_000  # ~3 h of 1 s batches per device: covers a typical broker/network outage
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # 64 MiB per device: small next to any edge gateway's flash

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    device_id TEXT NOT NULL, seq INTEGER NOT NULL, payload BLOB NOT NULL,
    leaf TEXT NOT NULL DEFAULT 'telemetry',
    PRIMARY KEY (device_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    device_id TEXT PRIMARY KEY, next_seq INTEGER NOT NULL, dropped INTEGER NOT NULL,
    rows INTEGER NOT NULL, bytes INTEGER NOT NULL);
"""


def fresh_seq_base(wall_time_s: float) -> int:
    """First seq for a device whose buffer is new: wall-clock microseconds.

    The server stores each (device_id, seq) once, so a device that lost its buffer (a fresh simulator run with a
    temporary buffer, a replaced SD card) and restarted at 0 would have its new batches discarded as duplicates.
    Starting a new buffer at the current time in microseconds stays above every seq an earlier buffer of the
    same device can have issued (it would need more than one batch per microsecond), and fits easily in the
    server's bigint (about 1.8e15 today; the contract allows up to 2**62).
    """
    return int(wall_time_s * 1_000_000)


class BufferStore:
    """One SQLite file. WAL + synchronous=NORMAL: a commit survives a process crash without an fsync each."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_SCHEMA)
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(batches)")}
        if "leaf" not in columns:  # a buffer file written before events existed: all its rows are telemetry
            self.conn.execute("ALTER TABLE batches ADD COLUMN leaf TEXT NOT NULL DEFAULT 'telemetry'")

    @contextmanager
    def tx(self) -> Iterator[None]:
        """A transaction that nests: the outermost one commits.

        A fleet worker wraps a whole round of appends (and of acks) in one outer transaction, turning thousands
        of commits per second into tens, while each append stays atomic on its own (inner savepoint).
        """
        c = self.conn
        c.execute("SAVEPOINT qf")
        try:
            yield
        except BaseException:
            c.execute("ROLLBACK TO qf")
            c.execute("RELEASE qf")
            raise
        c.execute("RELEASE qf")

    def close(self) -> None:
        self.conn.close()


class DiskBuffer:
    """The buffer of one device inside a store. Not thread-safe: use from the thread that drives the agent."""

    def __init__(
        self,
        store: BufferStore,
        device_id: str,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        initial_seq: int = 0,
    ) -> None:
        """``initial_seq`` is used only when this device has no buffer yet (see ``fresh_seq_base``)."""
        if max_rows < 1 or max_bytes < 1:
            raise ValueError("buffer bounds must be positive")
        if initial_seq < 0:
            raise ValueError("initial_seq must be >= 0")
        self.store, self.device_id = store, device_id
        self.max_rows, self.max_bytes = max_rows, max_bytes
        c = store.conn
        c.execute("INSERT OR IGNORE INTO meta VALUES (?, ?, 0, 0, 0)", (device_id, initial_seq))
        self._next_seq, self.dropped, self.rows, self.bytes = c.execute(
            "SELECT next_seq, dropped, rows, bytes FROM meta WHERE device_id=?", (device_id,)
        ).fetchone()

    @property
    def next_seq(self) -> int:
        return int(self._next_seq)

    def append(self, make_payload: Callable[[int], bytes], leaf: str = "telemetry") -> int:
        """Allocate the next seq, store ``make_payload(seq)`` and enforce the bounds, atomically."""
        seq = self._next_seq
        payload = make_payload(seq)
        c = self.store.conn
        with self.store.tx():
            c.execute("INSERT INTO batches VALUES (?, ?, ?, ?)", (self.device_id, seq, payload, leaf))
            rows, nbytes, dropped = self.rows + 1, self.bytes + len(payload), self.dropped
            while rows > self.max_rows or (nbytes > self.max_bytes and rows > 1):
                oseq, olen = c.execute(
                    "SELECT seq, length(payload) FROM batches WHERE device_id=? ORDER BY seq LIMIT 1",
                    (self.device_id,),
                ).fetchone()
                c.execute("DELETE FROM batches WHERE device_id=? AND seq=?", (self.device_id, oseq))
                rows, nbytes, dropped = rows - 1, nbytes - olen, dropped + 1
            c.execute(
                "UPDATE meta SET next_seq=?, dropped=?, rows=?, bytes=? WHERE device_id=?",
                (seq + 1, dropped, rows, nbytes, self.device_id),
            )
        if dropped > self.dropped:
            log.warning(
                "%s: buffer full, dropped %d oldest batches",
                self.device_id,
                dropped - self.dropped,
                extra={"device_id": self.device_id, "dropped": dropped - self.dropped},
            )
        self._next_seq, self.rows, self.bytes, self.dropped = seq + 1, rows, nbytes, dropped
        return seq

    def pending(self, after_seq: int, limit: int) -> list[tuple[int, bytes, str]]:
        """Oldest-first (seq, payload, leaf) with seq > after_seq (replay order)."""
        return [
            (int(s), bytes(p), str(leaf))
            for s, p, leaf in self.store.conn.execute(
                "SELECT seq, payload, leaf FROM batches WHERE device_id=? AND seq>? ORDER BY seq LIMIT ?",
                (self.device_id, after_seq, limit),
            )
        ]

    def get(self, seqs: list[int]) -> list[tuple[int, bytes, str]]:
        """The rows of ``seqs`` still buffered (dropped or acked ones are skipped), oldest first."""
        if not seqs:
            return []
        marks = ",".join("?" * len(seqs))
        return [
            (int(s), bytes(p), str(leaf))
            for s, p, leaf in self.store.conn.execute(
                f"SELECT seq, payload, leaf FROM batches WHERE device_id=? AND seq IN ({marks}) ORDER BY seq",
                (self.device_id, *seqs),
            )
        ]

    def oldest(self) -> int | None:
        """The lowest buffered seq (None when empty)."""
        row = self.store.conn.execute(
            "SELECT min(seq) FROM batches WHERE device_id=?", (self.device_id,)
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def ack(self, seq: int) -> bool:
        """Delete an acknowledged batch; False if it was already gone (dropped or a duplicate ack)."""
        c = self.store.conn
        row = c.execute(
            "SELECT length(payload) FROM batches WHERE device_id=? AND seq=?", (self.device_id, seq)
        ).fetchone()
        if row is None:
            return False
        with self.store.tx():
            c.execute("DELETE FROM batches WHERE device_id=? AND seq=?", (self.device_id, seq))
            c.execute(
                "UPDATE meta SET rows=rows-1, bytes=bytes-? WHERE device_id=?", (row[0], self.device_id)
            )
        self.rows -= 1
        self.bytes -= int(row[0])
        return True
