"""The audit log: who decided what, when, to what, for people (API, CLI) and processes (the optimiser) alike.

Why here, in the lowest layer: the decisions worth auditing are made in several packages (API routes, remote
commands, device credentials, dispatch). Each writes its row with :func:`record` on the connection that carries
the decision itself, before its commit, so the decision and its record commit or vanish together; nothing is
audited "afterwards" where a crash in between could lose it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from core.sql import Queries

Q = Queries(__file__, "audit.sql")
# Details are for people reading the log; a client cannot make one entry arbitrarily large.
MAX_DETAIL_CHARS = 4000
# One page of the audit reader at most: enough to scroll, small enough to answer quickly.
MAX_PAGE = 1000


@dataclass(frozen=True)
class Actor:
    """Who decided: a signed-in user (``user_id``/``role`` set), a person at the CLI or a process (``cli:…``,
    ``process:dispatch``)."""

    name: str
    user_id: int | None = None
    role: str | None = None


def record(conn: psycopg.Connection, actor: Actor, action: str, target_type: str | None = None,
           target_id: str | None = None, details: dict[str, Any] | None = None, *, client_ip: str | None = None,
           at: datetime | None = None) -> None:
    """Insert one audit row on ``conn``; the caller commits it together with the decision it records."""
    payload = details or {}
    if len(repr(payload)) > MAX_DETAIL_CHARS:
        payload = {"truncated": repr(payload)[:MAX_DETAIL_CHARS]}
    conn.execute(Q.insert_audit, {
        "at": at or datetime.now(UTC), "actor": actor.name, "user_id": actor.user_id, "role": actor.role,
        "action": action, "target_type": target_type, "target_id": target_id,
        "details": Jsonb(payload), "client_ip": client_ip})


def search(conn: psycopg.Connection, *, actor: str | None = None, action: str | None = None,
           action_prefix: str | None = None, target_type: str | None = None, target_id: str | None = None,
           since: datetime | None = None, until: datetime | None = None, limit: int = 100,
           offset: int = 0) -> list[dict[str, Any]]:
    """Audit rows matching every given filter, newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.search_audit, {
            "actor": actor, "action": action, "action_prefix": action_prefix, "target_type": target_type,
            "target_id": target_id, "since": since, "until": until, "limit": min(limit, MAX_PAGE),
            "offset": offset}).fetchall()
