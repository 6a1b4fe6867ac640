"""The audit log: who did what, when, to what. Written in the caller's transaction, so an action and its record
commit or vanish together.

Call :func:`record` from any route that overrides a decision, sends a command or changes configuration, e.g.::

    audit.record(conn, principal, "incident.override", "incident", str(incident_id),
                 {"from": old, "to": new}, client_ip=client_ip(request))
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi import Request
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api.auth import Principal
from core.sql import Queries

Q = Queries(__file__, "security.sql")
# Details are for people reading the log; a client cannot make one entry arbitrarily large.
MAX_DETAIL_CHARS = 4000


def client_ip(request: Request) -> str | None:
    """The peer address as the server saw it. Behind a reverse proxy run uvicorn with --proxy-headers and
    --forwarded-allow-ips set to the proxy only, so X-Forwarded-For cannot be forged by clients."""
    return request.client.host if request.client else None


def record(conn: psycopg.Connection, actor: Principal | str, action: str, target_type: str | None = None,
           target_id: str | None = None, details: dict[str, Any] | None = None, *, client_ip: str | None = None,
           at: datetime | None = None) -> None:
    principal = actor if isinstance(actor, Principal) else None
    payload = details or {}
    if len(repr(payload)) > MAX_DETAIL_CHARS:
        payload = {"truncated": repr(payload)[:MAX_DETAIL_CHARS]}
    conn.execute(Q.insert_audit, {
        "at": at or datetime.now(UTC),
        "actor": principal.username if principal else str(actor),
        "user_id": principal.user_id if principal else None,
        "role": principal.role if principal else None,
        "action": action, "target_type": target_type, "target_id": target_id,
        "details": Jsonb(payload), "client_ip": client_ip})


def recent(conn: psycopg.Connection, limit: int = 100, offset: int = 0,
           action: str | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.list_audit, {"limit": limit, "offset": offset, "action": action}).fetchall()
