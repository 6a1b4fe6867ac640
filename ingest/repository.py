"""Ingest's SQL: the idempotent batch write (claim, COPY, latest values) and device liveness."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter

import psycopg

from core.contracts import TelemetryBatch
from core.events import record_timeline
from core.sql import Queries
from i18n import Message
from ingest.copy_rows import SIGNATURE, TRAILER, encode_rows

Q = Queries(__file__)
_T_MS = attrgetter("t_ms")  # min/max over a batch's sample times in C (a generator cost ~0.1 µs per sample)
_VALUES = attrgetter("values")


def readings_of(batch: TelemetryBatch) -> int:
    """``batch.reading_count`` without Python code per sample."""
    return sum(map(len, map(_VALUES, batch.samples)))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    received_at: datetime
    topic: str
    device_id: str | None
    reason: str
    payload: bytes


def names_array(names: Iterable[str]) -> str:
    """A text[] literal of device ids / signal names, every element quoted (a device may be called NULL).

    Why literals: psycopg adapts list parameters element by element in Python, which was the largest share of a
    flush's client CPU after the COPY; ``str.join`` builds the same array in C. The contracts restrict both
    kinds of name to [A-Za-z0-9_.-], so no element needs escaping; anything else is refused, not mangled.
    """
    items = names if isinstance(names, list) else list(names)
    raw = "".join(items)
    if '"' in raw or "\\" in raw:
        raise ValueError("names in an array literal must not contain quotes or backslashes")
    return '{"' + '","'.join(items) + '"}' if items else "{}"


def ints_array(values: Iterable[int | None]) -> str:
    """A bigint[]/integer[] literal (None becomes NULL)."""
    return "{" + ",".join(["NULL" if v is None else str(int(v)) for v in values]) + "}"


def floats_array(values: Iterable[float]) -> str:
    """A float8[] literal: ``repr`` is the shortest string that reads back as the same double (finite values only;
    the decoder refuses NaN and infinities)."""
    return "{" + ",".join(map(repr, values)) + "}"


def known_devices(conn: psycopg.Connection) -> set[str]:
    return {row[0] for row in conn.execute(Q.known_devices)}


def write_batches(conn: psycopg.Connection, batches: Sequence[TelemetryBatch], received_at: datetime,
                  seen_before: list[TelemetryBatch] | None = None, *,
                  clock_skew_max_s: float | None = None) -> int:
    """Store the batches not stored before; returns the number of readings written. Caller commits.

    Batches whose (device, seq) was already claimed (earlier, or earlier in this same call) are appended to
    ``seen_before`` when given, for :func:`replays_with_other_content`.

    One row per sample goes to ``telemetry_samples`` (migration 0110), tagged with its batch id: the COPY data is
    built per batch by ``ingest.copy_rows`` and written as binary COPY blocks, so the claim, the rows and the
    latest values cost Python work per batch, not per reading.

    Device clocks (migration 0230): a batch whose newest sample is more than ``clock_skew_max_s`` ahead of
    ``received_at`` is a clock fault. Its readings go to ``telemetry_clock_faults`` (kept, but out of telemetry,
    rollups and latest values, which a day-ahead timestamp would otherwise pin), the offset is recorded on its
    claim row, and a change of the device's clock state is a timeline event.

    Last, the new batches get their ``arrival`` number under a transaction-scoped advisory lock: the lock is held
    until the caller commits, so arrival numbers become visible in commit order and diagnose, which follows them,
    never skips a batch that committed late. Call this last in the transaction (the lock serialises commits).
    """
    unique: dict[tuple[str, int], TelemetryBatch] = {}
    for b in batches:
        unique.setdefault((b.device_id, b.seq), b)
    if not unique:
        return 0
    items = list(unique.values())
    firsts = [min(map(_T_MS, b.samples)) for b in items]  # epoch ms
    lasts = [max(map(_T_MS, b.samples)) for b in items]
    counts = [readings_of(b) for b in items]
    received_ms = round(received_at.timestamp() * 1000)
    skew_ms = None if clock_skew_max_s is None else clock_skew_max_s * 1000
    offsets = [None if skew_ms is None or last - received_ms <= skew_ms else last - received_ms for last in lasts]
    with conn.cursor() as cur:
        cur.execute(Q.claim_batches, (
            received_at, names_array([b.device_id for b in items]), ints_array([b.seq for b in items]),
            ints_array(counts), ints_array(firsts), ints_array(lasts),
            ints_array(offsets)))
        ids = {(d, s): int(i) for i, d, s in cur.fetchall()}
        if seen_before is not None:
            firsts_of = {(b.device_id, b.seq): b for b in items}
            seen_before.extend(b for b in batches
                               if (b.device_id, b.seq) not in ids or firsts_of[(b.device_id, b.seq)] is not b)
        if not ids:
            return 0
        latest: dict[tuple[str, str], tuple[int, float]] = {}
        written = 0
        faulty = [b for b, off in zip(items, offsets) if off is not None and (b.device_id, b.seq) in ids]
        blocks = [SIGNATURE]  # block mode: the file header and trailer are ours to send
        for b, off in zip(items, offsets):
            key = (b.device_id, b.seq)
            if key in ids and off is None:
                rows = encode_rows(b.device_id, b.samples, ids[key])
                blocks.append(rows.data)
                written += rows.readings
                for name, t_ms, value in rows.newest:
                    _fold(latest, (b.device_id, name), t_ms, value)
        blocks.append(TRAILER)
        with cur.copy(Q.copy_telemetry) as copy:
            copy.write(b"".join(blocks))  # one write: psycopg's per-write overhead was per batch
        if faulty:
            with cur.copy(Q.copy_clock_faults) as copy:
                copy.write(SIGNATURE)
                for b in faulty:  # rare (a device clock fault): counted per sample
                    copy.write(encode_rows(b.device_id, b.samples, ids[(b.device_id, b.seq)]).data)
                    written += b.reading_count
                copy.write(TRAILER)
        keys = sorted(latest)  # one lock order for every worker: concurrent upserts cannot deadlock
        spans: dict[str, tuple[int, int, int]] = {}  # device -> (first ms, last ms, readings)
        clock: dict[str, int | None] = {}  # device -> offset of its newest new batch (None: clock plausible)
        for b, first, last, off, n in zip(items, firsts, lasts, offsets, counts):
            if (b.device_id, b.seq) in ids:
                clock[b.device_id] = off
                if off is not None:
                    continue
                prev = spans.get(b.device_id)
                spans[b.device_id] = ((first, last, n) if prev is None
                                      else (min(prev[0], first), max(prev[1], last), prev[2] + n))
        devices = sorted({b.device_id for b in items})
        changed = conn.cursor()
        # Statements whose answers are read afterwards: one round trip instead of several (on a busy machine
        # every round trip waits for both processes to be scheduled again).
        with conn.pipeline():
            cur.execute(Q.upsert_latest, (
                names_array([k[0] for k in keys]), names_array([k[1] for k in keys]),
                ints_array([latest[k][0] for k in keys]), floats_array([latest[k][1] for k in keys])))
            cur.execute(Q.queue_rollups, (names_array(spans), ints_array([v[0] for v in spans.values()]),
                                          ints_array([v[1] for v in spans.values()]),
                                          ints_array([v[2] for v in spans.values()])))
            cur.execute(Q.mark_seen, (received_at, names_array(devices)))
            changed.execute(Q.clock_state, (received_at, names_array(clock), ints_array(clock.values())))
            cur.execute(Q.arrival_lock)
            cur.execute(Q.stamp_arrival, (ints_array(ids.values()),))
        for device_id, customer_id, offset_ms in changed.fetchall():
            if offset_ms is None:
                record_timeline(conn, device_id=device_id, customer_id=customer_id, at=received_at,
                                kind="clock_fault", message=Message("summary.clockOk", {"device": device_id}),
                                data={"finding": "clock_fault", "category": "sensor_health", "active": False})
            else:
                record_timeline(conn, device_id=device_id, customer_id=customer_id, at=received_at,
                                kind="clock_fault",
                                message=Message("summary.clockFault", {"device": device_id,
                                                                       "hours": f"{offset_ms / 3.6e6:.1f}"}),
                                data={"finding": "clock_fault", "category": "sensor_health", "active": True,
                                      "offset_s": offset_ms / 1000})
        changed.close()
    return written


def replays_with_other_content(conn: psycopg.Connection,
                               batches: Sequence[TelemetryBatch]) -> list[TelemetryBatch]:
    """Of batches whose (device, seq) is already stored, those that are not a redelivery of it: a different
    reading count or time span than the stored batch. A QoS 1 redelivery or an edge agent's resend is the same
    batch (deduplicated, harmless); a different one under a used seq is a replay or a device whose sequence
    restarted, and would otherwise vanish silently, so the caller dead-letters it with the reason."""
    if not batches:
        return []
    rows = conn.execute(Q.stored_batches, ([b.device_id for b in batches], [b.seq for b in batches])).fetchall()
    stored = {(d, s): (n, first, last) for d, s, n, first, last in rows}
    out = []
    for b in batches:
        have = stored.get((b.device_id, b.seq))
        if have is None:
            continue
        n, first, last = have
        first_ms = min(x.t_ms for x in b.samples)
        last_ms = max(x.t_ms for x in b.samples)
        if (n != b.reading_count or round(first.timestamp() * 1000) != first_ms
                or round(last.timestamp() * 1000) != last_ms):
            out.append(b)
    return out


def _fold(latest: dict[tuple[str, str], tuple[int, float]], key: tuple[str, str], t_ms: int, value: float) -> None:
    prev = latest.get(key)
    if prev is None or prev[0] < t_ms:
        latest[key] = (t_ms, value)


def insert_dead_letters(conn: psycopg.Connection, letters: Sequence[DeadLetter]) -> None:
    if not letters:
        return
    conn.execute(Q.insert_dead_letters, (
        [d.received_at for d in letters], [d.topic for d in letters], [d.device_id for d in letters],
        [d.reason for d in letters], [d.payload for d in letters]))


def set_status(conn: psycopg.Connection, device_id: str, online: bool, at: datetime) -> None:
    row = conn.execute(Q.set_status, {"device_id": device_id, "online": online, "at": at}).fetchone()
    if row:
        record_timeline(conn, device_id=row[0], customer_id=row[1], at=at, kind="device_status",
                        message=Message("summary.deviceStatus", {"device": device_id,
                                                                 "online": "yes" if online else "no"}),
                        data={"online": online})


def mark_stale_offline(conn: psycopg.Connection, now: datetime, timeout: timedelta) -> list[str]:
    rows = conn.execute(Q.mark_stale_offline, {"now": now, "timeout": timeout}).fetchall()
    for device_id, customer_id, at in rows:
        record_timeline(conn, device_id=device_id, customer_id=customer_id, at=at, kind="device_status",
                        message=Message("summary.deviceSilent", {"device": device_id,
                                                                 "seconds": f"{timeout.total_seconds():.0f}"}),
                        data={"online": False, "reason": "stale"})
    return [r[0] for r in rows]


def ensure_partitions(conn: psycopg.Connection, start: datetime, end: datetime) -> int:
    mode = conn.execute(Q.storage_mode).fetchone()
    if not mode or mode[0] != "plain":
        return 0  # TimescaleDB creates chunks itself
    row = conn.execute(Q.ensure_partitions, (start, end)).fetchone()
    return int(row[0]) if row else 0
