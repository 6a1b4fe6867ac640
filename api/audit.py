"""The audit log: who did what, when, to what.

Every successful write request is audited by :class:`AuditWrites` (below) with the route, its path parameters
and the caller, so an override or configuration change cannot go unrecorded because a route forgot. A route may
instead call :func:`record` inside its own transaction for a richer entry (the action and its record then commit
or vanish together) and be listed in ``EXPLICIT``, e.g.::

    audit.record(conn, principal, "incident.override", "incident", str(incident_id),
                 {"from": old, "to": new}, client_ip=client_ip(request))
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi import Request
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from starlette.concurrency import run_in_threadpool

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


# --- Every successful write through the API, recorded by one middleware -------------------------------------------
# Overrides (assign, pin, lock, release, escalation decisions), configuration changes (knowledge base, spares
# master data, customer preferences and webhooks) and every write route added later are audited without each
# route remembering to: a route that is not in EXPLICIT gets one audit row per successful (2xx/3xx) POST, PUT,
# PATCH or DELETE, written right after the route's own transaction committed. Trade-off: that row is not in the
# action's transaction, so a process killed between the two loses it (logged as an error when the insert fails);
# it never records an action that rolled back, because it looks at the response status. Routes in EXPLICIT write
# richer rows inside their own transaction instead (sign-in, logout, commands).
EXPLICIT = frozenset({("POST", "/api/auth/token"), ("POST", "/api/auth/logout"),
                      ("POST", "/api/devices/{device_id}/commands")})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Route families that write their own before/after rows inside the write's transaction (administration/).
EXPLICIT_PREFIXES = ("/api/admin/", "/api/portal/problems")
_log = logging.getLogger(__name__)


def route_template(scope: dict[str, Any]) -> str | None:
    """The matched route's path template (``/api/work-orders/{work_order_id}/pin``), None if nothing matched."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else None


def _principal_of(app: Any, scope: dict[str, Any]) -> Principal | None:
    from api.auth import verified_principal  # the route already checked signature, expiry and revocation

    for name, value in scope.get("headers", ()):
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            try:
                return verified_principal(app, value[7:].decode("latin-1"))
            except Exception:  # noqa: BLE001 - not a valid token: the route refused it, nothing to audit
                return None
    return None


class AuditWrites:
    """ASGI middleware: one ``audit_log`` row per successful write request outside :data:`EXPLICIT`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        status_seen: list[int] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_seen.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, capture)
        template = route_template(scope)
        if not status_seen or status_seen[0] >= 400 or template is None \
                or (scope["method"], template) in EXPLICIT or template.startswith(EXPLICIT_PREFIXES):
            return
        app = scope["app"]
        principal = _principal_of(app, scope)
        if principal is None:
            return
        params = {k: str(v) for k, v in (scope.get("path_params") or {}).items()}
        target_type, target_id = next(iter(params.items()), (None, None))
        details = {"method": scope["method"], "route": template, "path": scope["path"], "params": params,
                   "status": status_seen[0]}
        if scope.get("query_string"):
            details["query"] = scope["query_string"].decode("latin-1")[:500]
        client = scope.get("client")
        action = f"api.{getattr(scope.get('route'), 'name', None) or 'write'}"

        def write() -> None:
            with app.state.pool.connection() as conn:
                record(conn, principal, action, target_type, target_id, details,
                       client_ip=client[0] if client else None)

        try:
            await run_in_threadpool(write)
        except Exception as exc:  # noqa: BLE001 - the action already committed; say loudly that its record did not
            _log.error("audit row not written", extra={"action": action, "path": scope["path"],
                                                       "error": str(exc)[:200]})
