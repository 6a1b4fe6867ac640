"""The two things every domain writes beside its own rows: a timeline event and a customer notification.

Both are written in the caller's transaction (outbox pattern): the event that causes them and the record that
they happened commit or vanish together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from core.sql import Queries
from i18n import Message, translate

Q = Queries(__file__)


def record_timeline(conn: psycopg.Connection, *, customer_id: int, at: datetime, kind: str,
                    summary: str | None = None, device_id: str | None = None, incident_id: int | None = None,
                    work_order_id: int | None = None, data: dict[str, Any] | None = None,
                    message: Message | None = None) -> None:
    """``message`` (a catalogue key and its parameters) lets each page show the event in its reader's language
    and zone (migration 0821); ``summary`` defaults to its English rendering in UTC, for readers that do not
    translate and for the rows' search. Without a message, ``summary`` is the only text."""
    if message is not None:
        summary = summary or summary_text(message)
    if summary is None:
        raise ValueError("a timeline event needs a summary or a message")
    conn.execute(Q.insert_timeline, {
        "device_id": device_id, "customer_id": customer_id, "at": at, "kind": kind, "summary": summary,
        "incident_id": incident_id, "work_order_id": work_order_id, "data": Jsonb(data or {}),
        "message": Jsonb(message.to_json()) if message is not None else None})


def summary_text(message: Message) -> str:
    """The English (UTC) text of a stored summary message: what ``summary`` columns keep beside it."""
    return translate(message.key, "en", "UTC", **message.params)


def queue_notification(conn: psycopg.Connection, *, customer_id: int, at: datetime, kind: str,
                       subject: str | None = None, body: str | None = None, message: Message | None = None,
                       device_id: str | None = None, incident_id: int | None = None,
                       channel: str = "email") -> int:
    """``message`` (catalogue key ``K`` with ``K.subject`` and ``K.body``) lets the sender write the notification
    in the customer's language and zone; ``subject``/``body`` default to its English rendering in UTC."""
    if message is not None:
        subject = subject or translate(f"{message.key}.subject", "en", "UTC", **message.params)
        body = body or translate(f"{message.key}.body", "en", "UTC", **message.params)
    if subject is None or body is None:
        raise ValueError("a notification needs a subject and a body, or a message")
    row = conn.execute(Q.insert_notification, {
        "customer_id": customer_id, "device_id": device_id, "incident_id": incident_id, "kind": kind,
        "channel": channel, "subject": subject, "body": body, "created_at": at,
        "message": Jsonb(message.to_json()) if message is not None else None}).fetchone()
    assert row is not None
    return int(row[0])
