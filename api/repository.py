"""The API's read models: scoped queries that return plain dicts for the response schemas."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from api.auth import Principal
from core.sql import Queries

Q = Queries(__file__)


def _scope(p: Principal) -> dict[str, Any]:
    return {"all": p.sees_everything, "cid": p.customer_id if p.role == "customer" else None,
            "tid": p.technician_id if p.role == "technician" else None}


def _all(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def _one(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchone()


def user_by_name(conn: psycopg.Connection, username: str) -> dict[str, Any] | None:
    return _one(conn, Q.user_by_name, {"username": username})


def list_devices(conn: psycopg.Connection, p: Principal, limit: int, offset: int) -> list[dict[str, Any]]:
    return _all(conn, Q.list_devices, {**_scope(p), "limit": limit, "offset": offset})


def get_device(conn: psycopg.Connection, p: Principal, device_id: str) -> dict[str, Any] | None:
    return _one(conn, Q.get_device, {**_scope(p), "device_id": device_id})


def latest_telemetry(conn: psycopg.Connection, device_id: str) -> list[dict[str, Any]]:
    return _all(conn, Q.latest_telemetry, {"device_id": device_id})


def telemetry_window(conn: psycopg.Connection, device_id: str, start: datetime, end: datetime,
                     bucket: timedelta) -> list[dict[str, Any]]:
    return _all(conn, Q.telemetry_window, {"device_id": device_id, "start": start, "end": end, "bucket": bucket})


def list_incidents(conn: psycopg.Connection, p: Principal, open_only: bool, limit: int,
                   offset: int) -> list[dict[str, Any]]:
    return _all(conn, Q.list_incidents, {**_scope(p), "open_only": open_only, "limit": limit, "offset": offset})


def list_work_orders(conn: psycopg.Connection, p: Principal, limit: int, offset: int) -> list[dict[str, Any]]:
    return _all(conn, Q.list_work_orders, {**_scope(p), "limit": limit, "offset": offset})


def list_technicians(conn: psycopg.Connection, p: Principal) -> list[dict[str, Any]]:
    return _all(conn, Q.list_technicians, _scope(p))


def device_timeline(conn: psycopg.Connection, device_id: str, limit: int) -> list[dict[str, Any]]:
    return _all(conn, Q.device_timeline, {"device_id": device_id, "limit": limit})


def counts(conn: psycopg.Connection) -> dict[str, Any]:
    return _one(conn, Q.counts, {}) or {}


def storage_mode(conn: psycopg.Connection) -> str | None:
    row = _one(conn, Q.storage_mode, {})
    return row["value"] if row else None
