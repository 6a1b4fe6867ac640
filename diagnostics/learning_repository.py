"""Database access of learning in the product (named SQL in learning.sql): healthy history, run-to-failure
histories, and the versions of normal and RUL models. Kept apart from the diagnose loop's repository so the
trainer and the loop change independently."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from core.sql import Queries

Q = Queries(__file__, "learning.sql")


def equipment_types(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(Q.equipment_types)]


def _rows(conn: psycopg.Connection, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params or {}).fetchall()


def normal_model_versions(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every stored normal model version, newest first per equipment type (no model bytes)."""
    return _rows(conn, Q.normal_model_versions)


def rul_model_versions(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return _rows(conn, Q.rul_model_versions)


def _healthy_params(equipment_type: str, start: datetime, end: datetime, before_s: float,
                    after_s: float) -> dict[str, Any]:
    return {"equipment_type": equipment_type, "start": start, "end": end, "before_s": before_s,
            "after_s": after_s}


def healthy_extent(conn: psycopg.Connection, equipment_type: str, start: datetime, end: datetime, *,
                   before_s: float, after_s: float) -> dict[str, Any]:
    """Count, first/last time and devices of the healthy samples a normal model would be trained on."""
    rows = _rows(conn, Q.healthy_extent, _healthy_params(equipment_type, start, end, before_s, after_s))
    return rows[0]


def healthy_samples(conn: psycopg.Connection, equipment_type: str, start: datetime, end: datetime, *,
                    before_s: float, after_s: float, stride: int) -> list[tuple[str, datetime, list[str],
                                                                                  list[float]]]:
    params = {**_healthy_params(equipment_type, start, end, before_s, after_s), "stride": max(1, stride)}
    return conn.execute(Q.healthy_samples, params).fetchall()


def insert_normal_model(conn: psycopg.Connection, *, equipment_type: str, version: int, model: bytes, at: datetime,
                        samples: int, devices: int, start: datetime, end: datetime,
                        metrics: dict[str, Any]) -> None:
    conn.execute(Q.insert_normal_model, {"equipment_type": equipment_type, "version": version, "model": model,
                                         "at": at, "samples": samples, "devices": devices, "start": start,
                                         "end": end, "metrics": Jsonb(metrics)})


def run_to_failure(conn: psycopg.Connection, equipment_type: str, modes: Sequence[str],
                   since: datetime) -> list[dict[str, Any]]:
    return _rows(conn, Q.run_to_failure, {"equipment_type": equipment_type, "modes": list(modes), "since": since})


def first_sample(conn: psycopg.Connection, device_id: str, since: datetime, until: datetime) -> datetime | None:
    row = conn.execute(Q.first_sample, {"device_id": device_id, "since": since, "until": until}).fetchone()
    return row[0] if row else None


def cycle_means(conn: psycopg.Connection, device_id: str, signals: Sequence[str], start: datetime, end: datetime,
                cycle_s: float) -> list[tuple[float, str, float]]:
    return [(float(b), s, float(v)) for b, s, v in conn.execute(
        Q.cycle_means, {"device_id": device_id, "signals": list(signals), "start": start, "end": end,
                        "cycle_s": cycle_s})]


def last_repairs(conn: psycopg.Connection, devices: Sequence[str]) -> dict[str, datetime]:
    return {d: at for d, at in conn.execute(Q.last_repairs, {"devices": list(devices)})}


def next_rul_version(conn: psycopg.Connection, equipment_type: str) -> int:
    row = conn.execute(Q.next_rul_version, {"equipment_type": equipment_type}).fetchone()
    assert row is not None
    return int(row[0])


def insert_rul_model(conn: psycopg.Connection, *, equipment_type: str, version: int, model: dict[str, Any],
                     at: datetime, start: datetime, end: datetime, failures: int, samples: int,
                     metrics: dict[str, Any]) -> None:
    conn.execute(Q.insert_rul_model, {"equipment_type": equipment_type, "version": version, "model": Jsonb(model),
                                      "at": at, "start": start, "end": end, "failures": failures,
                                      "samples": samples, "metrics": Jsonb(metrics)})


def latest_rul_models(conn: psycopg.Connection) -> dict[str, tuple[int, dict[str, Any]]]:
    return {eq: (int(v), doc) for eq, v, doc in conn.execute(Q.latest_rul_models)}


def latest_rul_many(conn: psycopg.Connection, devices: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each listed asset's latest RUL estimate (assets without one are absent)."""
    return {r["device_id"]: r for r in _rows(conn, Q.latest_rul_many, {"devices": list(devices)})}


def rul_model_heads(conn: psycopg.Connection) -> dict[str, int]:
    """Latest RUL model version per type (cheap: the diagnose loop asks on every RUL pass)."""
    return {eq: int(v) for eq, v in conn.execute(Q.rul_model_heads)}


def rul_model(conn: psycopg.Connection, equipment_type: str) -> tuple[int, dict[str, Any]] | None:
    return latest_rul_models(conn).get(equipment_type)


def healthy_lives(conn: psycopg.Connection, equipment_type: str, limit: int) -> list[dict[str, Any]]:
    return _rows(conn, Q.healthy_lives, {"equipment_type": equipment_type, "limit": limit})


def cycle_means_many(conn: psycopg.Connection, devices: Sequence[str], signals: Sequence[str], start: datetime,
                     end: datetime, cycle_s: float) -> dict[str, list[tuple[float, str, float]]]:
    out: dict[str, list[tuple[float, str, float]]] = {}
    for d, b, s, v in conn.execute(Q.cycle_means_many, {"devices": list(devices), "signals": list(signals),
                                                        "start": start, "end": end, "cycle_s": cycle_s}):
        out.setdefault(d, []).append((float(b), s, float(v)))
    return out


def first_samples(conn: psycopg.Connection, devices: Sequence[str], since: datetime,
                  until: datetime) -> dict[str, datetime]:
    return {d: t for d, t in conn.execute(Q.first_samples, {"devices": list(devices), "since": since,
                                                             "until": until})}
