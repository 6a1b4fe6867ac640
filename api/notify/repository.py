"""The sender's reads and writes on the outbox; every call runs in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from core.sql import Queries

Q = Queries(__file__)


def claim_due(conn: psycopg.Connection, now: datetime, max_attempts: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.claim_due, {"now": now, "max_attempts": max_attempts}).fetchone()


def preferences(conn: psycopg.Connection, customer_id: int) -> dict[tuple[str, str], bool]:
    return {(k, c): bool(e) for k, c, e in conn.execute(Q.preferences, {"customer_id": customer_id})}


def webhook_endpoints(conn: psycopg.Connection, customer_id: int) -> dict[int, tuple[str, str]]:
    return {int(i): (u, s) for i, u, s in conn.execute(Q.webhook_endpoints, {"customer_id": customer_id})}


def delivered_targets(conn: psycopg.Connection, notification_id: int) -> set[tuple[str, str]]:
    return {(c, t) for c, t in conn.execute(Q.delivered_targets, {"id": notification_id})}


def record_delivery(conn: psycopg.Connection, notification_id: int, channel: str, target: str,
                    at: datetime) -> None:
    conn.execute(Q.record_delivery, {"id": notification_id, "channel": channel, "target": target, "at": at})


def mark_sent(conn: psycopg.Connection, notification_id: int, at: datetime, note: str | None) -> None:
    conn.execute(Q.mark_sent, {"id": notification_id, "at": at, "note": note})


def mark_failed(conn: psycopg.Connection, notification_id: int, next_at: datetime | None, error: str) -> None:
    conn.execute(Q.mark_failed, {"id": notification_id, "next_at": next_at, "error": error[:500]})
