"""Leases: how N diagnose workers share the fleet, each device watched by exactly one of them (issue #17).

Devices hash into a fixed number of partitions (``PARTITIONS``, fixed because a device's partition must be the
same in every worker and across restarts: the partition's arrival cursor is stored under it). A worker holds a
partition through a row in ``diagnose_leases`` (migration 0270) that it renews at the start of every pass, inside
the pass's transaction: the renewal row-locks the lease until the pass commits, so a lease can only move between
passes, and a worker that finds a lease gone (it stalled past the TTL and another worker took it) drops those
devices before evaluating anything. That is the fencing that keeps "exactly one worker" true even for a worker
that pauses and wakes up.

Sharing: every live worker (``diagnose_workers.seen_at`` within the TTL) targets ceil(PARTITIONS / live) leases.
Expired leases (their owner died, or stalled longer than ``lease_ttl_s``) are taken at once whatever the share,
so a dead worker's devices are watched again one TTL after its last renewal. A worker under its share claims
free leases (``FOR UPDATE SKIP LOCKED``: a lease another pass holds is never waited on); a worker over its share
(a worker joined) releases the excess, after checkpointing those devices in the same transaction, so the next
owner resumes with warm detectors and nothing is evaluated twice.

Wall time (the database's ``clock_timestamp()``), never the simulated clock: leases are about processes.
"""

from __future__ import annotations

import math
import os
import socket
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from core.sql import Queries

PARTITIONS = 64
Q = Queries(__file__, "leases.sql")


def partition(device_id: str) -> int:
    """The device's partition: a stable hash (crc32), the same in every process and Python version."""
    return zlib.crc32(device_id.encode()) % PARTITIONS


def default_worker_id() -> str:
    """Unique per process: a restarted worker is a new worker (its old leases expire or were released)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class LeaseChange:
    """The outcome of one renewal: what this worker holds now, what it gained and what it must release."""

    held: frozenset[int]
    gained: frozenset[int]
    lost: frozenset[int]  # held before, no longer ours (expired and taken): drop without writing
    release: frozenset[int]  # ours but over our share: checkpoint, then ``release``


class Leases:
    def __init__(self, worker_id: str, ttl_s: float) -> None:
        self.worker_id = worker_id
        self.ttl_s = ttl_s
        self.held: frozenset[int] = frozenset()
        self._rows_ready = False

    def renew(self, conn: psycopg.Connection) -> LeaseChange:
        """Heartbeat, renew what we hold, claim up to our share, name the excess. Call inside the pass's
        transaction: the renewed rows stay locked until it commits."""
        args = {"me": self.worker_id, "ttl": self.ttl_s}
        if not self._rows_ready:
            conn.execute(Q.ensure_partitions, {"n": PARTITIONS})
            conn.execute(Q.ensure_cursors, {"n": PARTITIONS})
            conn.execute(Q.ensure_star)
            self._rows_ready = True
        conn.execute(Q.heartbeat, args)
        kept = frozenset(int(r[0]) for r in conn.execute(Q.renew, args))
        live = int(conn.execute(Q.live_workers, args).fetchone()[0])  # type: ignore[index]
        share = math.ceil(PARTITIONS / max(live, 1))
        gained = frozenset(int(r[0]) for r in conn.execute(Q.claim_expired, args))
        release: frozenset[int] = frozenset()
        mine = len(kept) + len(gained)
        if mine < share:
            gained |= frozenset(int(r[0]) for r in conn.execute(Q.claim, {**args, "need": share - mine}))
        elif mine > share and not gained:  # never hand over in the pass that took over a dead worker's devices
            release = frozenset(sorted(kept)[share:])
        before = self.held
        now_held = kept | gained
        self.held = now_held - release
        return LeaseChange(now_held, (now_held - before), before - kept, release)

    def reset(self) -> None:
        """Forget what we think we hold (after a failed pass): the next renewal re-learns it from the database,
        and ensures the partition rows again (a reset of the operational tables may have removed them)."""
        self.held = frozenset()
        self._rows_ready = False

    def release(self, conn: psycopg.Connection, parts: frozenset[int] | set[int]) -> None:
        """Give partitions back (their devices were checkpointed in this transaction)."""
        if parts:
            conn.execute(Q.release, {"me": self.worker_id, "parts": sorted(parts)})
        self.held = self.held - frozenset(parts)

    def leave(self, conn: psycopg.Connection) -> None:
        """Graceful stop: release everything and deregister, so the others take over at once (not after a TTL)."""
        conn.execute(Q.release, {"me": self.worker_id, "parts": sorted(self.held)})
        conn.execute(Q.leave, {"me": self.worker_id})
        self.held = frozenset()


# --- per-partition progress (rows '*p<N>' of diagnose_progress, beside the devices' watermarks) ----------------

def load_cursors(conn: psycopg.Connection) -> dict[int, int]:
    """Partition -> arrival number evaluated up to."""
    return {int(r[0]): int(r[1]) for r in conn.execute(Q.load_cursors)}


def save_cursors(conn: psycopg.Connection, cursors: Mapping[int, int]) -> None:
    """The held partitions' cursors, and the '*' row as the slowest partition's (what the backlog watchdog and
    health read: everything up to it has been evaluated by whichever worker holds it). '*' is skipped when another
    worker's uncommitted pass holds it (leases.sql): waiting serialised the workers' passes."""
    if cursors:
        cur = conn.execute(Q.save_cursors, {"parts": list(cursors), "cursors": list(cursors.values())})
        # not written: locked by another pass (fine), or gone (the operational tables were reset): recreate it
        if cur.rowcount == 0 and conn.execute(Q.has_star).fetchone() is None:
            conn.execute(Q.ensure_star)


def load_marks(conn: psycopg.Connection, device_ids: Sequence[str]) -> dict[str, datetime]:
    """These devices' newest evaluated reading times (another worker may have moved them since we last read)."""
    return {r[0]: r[1] for r in conn.execute(Q.load_marks, {"ids": list(device_ids)}) if r[1] is not None}
