"""The API's side of the audit log (core/audit.py): every write request's row in the write's own transaction.

How: the request's pooled connection is an :class:`AuditedConnection`. For a write request (POST, PUT, PATCH,
DELETE) :func:`api.deps.get_conn` arms it with the request's audit row, and the connection inserts that row just
before its first COMMIT: the route's change and its record commit together, or roll back together, and no route
has to remember it. A route that would rather write a richer row itself (sign-in, logout, commands) is listed in
:data:`EXPLICIT` (or :data:`EXPLICIT_PREFIXES`) and calls :func:`record` inside its transaction, e.g.::

    audit.record(conn, principal, "command.send", "device", device_id, {...}, client_ip=client_ip(request))

A write route without the request's connection would still be audited by :class:`AuditWrites`, after the fact
and with an ERROR log (which fails any test that reaches it); none exists:
tests/security/test_audit_writes.py::test_every_write_route_commits_on_the_audited_connection.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from datetime import datetime
from typing import Any

import psycopg
from fastapi import Request
from psycopg.pq import TransactionStatus
from starlette.concurrency import run_in_threadpool

from api.auth import Principal
from core import audit as core_audit
from core.audit import Actor

MAX_DETAIL_CHARS = core_audit.MAX_DETAIL_CHARS
EXPLICIT = frozenset({("POST", "/api/auth/token"), ("POST", "/api/auth/logout"),
                      ("POST", "/api/devices/{device_id}/commands"),
                      # work-order lifecycle (api/routes/lifecycle.py): rows with the reason, window or pause
                      ("POST", "/api/work-orders/{work_order_id}/cancel"),
                      ("POST", "/api/work-orders/{work_order_id}/reschedule"),
                      ("POST", "/api/work-orders/{work_order_id}/hold"),
                      ("POST", "/api/work-orders/{work_order_id}/resume")})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Route families that write their own before/after rows inside the write's transaction (administration/).
EXPLICIT_PREFIXES = ("/api/admin/", "/api/portal/problems")
_log = logging.getLogger(__name__)


def client_ip(request: Request) -> str | None:
    """The peer address as the server saw it. Behind a reverse proxy run uvicorn with --proxy-headers and
    --forwarded-allow-ips set to the proxy only, so X-Forwarded-For cannot be forged by clients."""
    return request.client.host if request.client else None


def actor_of(principal: Principal | str) -> Actor:
    if isinstance(principal, Principal):
        return Actor(principal.username, principal.user_id, principal.role)
    return Actor(str(principal))


def record(conn: psycopg.Connection, actor: Principal | str, action: str, target_type: str | None = None,
           target_id: str | None = None, details: dict[str, Any] | None = None, *, client_ip: str | None = None,
           at: datetime | None = None) -> None:
    core_audit.record(conn, actor_of(actor), action, target_type, target_id, details, client_ip=client_ip, at=at)


class AuditedConnection(psycopg.Connection):  # type: ignore[type-arg]
    """A pooled connection that writes the armed audit row into the request's first transaction (once).

    Two ways a route commits: ``conn.commit()`` (the row is inserted just before), or a ``with
    conn.transaction():`` block opened on an idle connection, whose exit commits without calling ``commit()``:
    there the row is inserted first, so the block becomes a savepoint inside the transaction that carries the
    row, and that transaction commits when the request's connection is released (:func:`api.deps.get_conn`)."""

    pending_audit: Any = None  # (conn) -> None, set by api.deps.get_conn for a write request

    def _fire(self) -> None:
        pending, self.pending_audit = self.pending_audit, None
        if pending is not None:
            pending(self)

    def commit(self) -> None:
        self._fire()
        super().commit()

    def transaction(self, *args: Any, **kwargs: Any) -> Any:
        if self.pending_audit is not None and self.info.transaction_status == TransactionStatus.IDLE:
            self._fire()
        return super().transaction(*args, **kwargs)


def route_template(scope: MutableMapping[str, Any]) -> str | None:
    """The matched route's path template (``/api/work-orders/{work_order_id}/pin``), None if nothing matched."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else None


def _entry(scope: MutableMapping[str, Any]) -> tuple[str, str | None, str | None, dict[str, Any], str | None]:
    template = route_template(scope) or scope["path"]
    params = {k: str(v) for k, v in (scope.get("path_params") or {}).items()}
    target_type, target_id = next(iter(params.items()), (None, None))
    details: dict[str, Any] = {"method": scope["method"], "route": template, "path": scope["path"],
                               "params": params}
    if scope.get("query_string"):
        details["query"] = scope["query_string"].decode("latin-1")[:500]
    client = scope.get("client")
    action = f"api.{getattr(scope.get('route'), 'name', None) or 'write'}"
    return action, target_type, target_id, details, client[0] if client else None


def arm(request: Request, conn: psycopg.Connection) -> None:
    """Make ``conn`` write this write request's audit row before it commits (see the module docstring)."""
    if request.method not in WRITE_METHODS or not isinstance(conn, AuditedConnection):
        return
    scope = request.scope
    template = route_template(scope) or ""
    if (scope["method"], template) in EXPLICIT or template.startswith(EXPLICIT_PREFIXES):
        return

    def write(c: psycopg.Connection) -> None:
        principal = getattr(request.state, "principal", None)
        if principal is None:  # public write (none today): nobody to attribute it to
            return
        action, target_type, target_id, details, ip = _entry(scope)
        record(c, principal, action, target_type, target_id, details, client_ip=ip)
        scope.setdefault("state", {})["audited"] = True

    conn.pending_audit = write


class AuditWrites:
    """ASGI middleware, the fallback: a successful write request that no transaction audited (its route has no
    request connection) gets its row after the fact, with an error logged: such a route is a defect."""

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
        state = scope.get("state") or {}
        principal = state.get("principal")
        if not status_seen or status_seen[0] >= 400 or template is None or state.get("audited") \
                or (scope["method"], template) in EXPLICIT or template.startswith(EXPLICIT_PREFIXES) \
                or not isinstance(principal, Principal):
            return
        action, target_type, target_id, details, ip = _entry(scope)
        details["status"] = status_seen[0]
        app = scope["app"]
        _log.error("write audited outside its transaction", extra={"action": action, "path": scope["path"]})

        def write() -> None:
            with app.state.pool.connection() as conn:
                record(conn, principal, action, target_type, target_id, details, client_ip=ip)

        try:
            await run_in_threadpool(write)
        except Exception as exc:  # noqa: BLE001 - the action already committed; say loudly that its record did not
            _log.error("audit row not written", extra={"action": action, "path": scope["path"],
                                                       "error": str(exc)[:200]})
