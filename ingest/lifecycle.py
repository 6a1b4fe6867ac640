"""Storage lifecycle: rollups, retention and compression, on whichever storage path the database has.

Both paths: refresh the rollup tables (telemetry_1m / telemetry_1h) for the (device, time range)s writers queued
in ``rollup_dirty`` since the last pass, whatever their lateness (migration 0110). Since the sample-row
layout (migration 0110) TimescaleDB continuous aggregates cannot express the rollups (they would need the
LATERAL unnest of a sample's signals), so this job refreshes them on TimescaleDB too.
Plain PostgreSQL: also drop daily partitions past retention. TimescaleDB: compression and retention policies do
that inside the database; this module only (re)applies the configured intervals once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from core.settings import StorageSettings
from core.sql import Queries

Q = Queries(__file__)


@dataclass(frozen=True)
class LifecycleResult:
    ran: bool
    rollup_rows: int = 0
    partitions_dropped: int = 0


def storage_mode(conn: psycopg.Connection) -> str:
    row = conn.execute(Q.storage_mode).fetchone()
    return str(row[0]) if row else "plain"


def apply_timescale_policies(conn: psycopg.Connection, settings: StorageSettings) -> None:
    conn.execute(Q.timescale_retention, (timedelta(days=settings.raw_retention_days),))
    conn.execute(Q.timescale_compression, (timedelta(days=settings.compress_after_days),))


def run_lifecycle(conn: psycopg.Connection, now: datetime, settings: StorageSettings) -> LifecycleResult:
    """One lifecycle pass; the caller owns the transaction. Skips when another worker runs it."""
    locked = conn.execute(Q.try_lifecycle_lock).fetchone()
    if not locked or not locked[0]:
        return LifecycleResult(ran=False)
    rows = conn.execute(Q.refresh_rollups, (now, settings.rollup_max_readings)).fetchone()
    dropped = None
    if storage_mode(conn) == "plain":
        dropped = conn.execute(Q.drop_partitions, (now - timedelta(days=settings.raw_retention_days),)).fetchone()
    return LifecycleResult(ran=True, rollup_rows=int(rows[0]) if rows else 0,
                           partitions_dropped=int(dropped[0]) if dropped else 0)
