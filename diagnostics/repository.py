"""Diagnostics' SQL: recent telemetry statistics in, incidents and work orders out. Caller commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import class_row, dict_row
from psycopg.types.json import Jsonb

from core.sql import Queries

Q = Queries(__file__)


@dataclass(frozen=True)
class WindowStat:
    device_id: str
    equipment_type: str
    signal: str
    n: int
    lo: float
    hi: float
    first_ts: datetime
    last_ts: datetime


@dataclass(frozen=True)
class DeviceContext:
    id: str
    customer_id: int
    equipment_type: str
    name: str
    lat: float
    lon: float
    tier: str
    customer_name: str


def window_stats(conn: psycopg.Connection, now: datetime, duration: timedelta, stale: timedelta,
                 signals: list[str]) -> list[WindowStat]:
    with conn.cursor(row_factory=class_row(WindowStat)) as cur:
        return cur.execute(Q.window_stats, {"now": now, "duration": duration, "stale": stale,
                                            "signals": signals}).fetchall()


def device_context(conn: psycopg.Connection, device_id: str) -> DeviceContext | None:
    with conn.cursor(row_factory=class_row(DeviceContext)) as cur:
        return cur.execute(Q.device_context, {"device_id": device_id}).fetchone()


def open_incident(conn: psycopg.Connection, **fields: object) -> int | None:
    """Insert the incident unless one is already open for this asset and fault; None when deduplicated."""
    params = dict(fields)
    params["evidence"] = Jsonb(params.get("evidence") or {})
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(Q.open_incident, params).fetchone()
    return int(row["id"]) if row else None


def create_work_order(conn: psycopg.Connection, **fields: object) -> int:
    row = conn.execute(Q.create_work_order, fields).fetchone()
    assert row is not None
    return int(row[0])
