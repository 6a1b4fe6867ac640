"""Request-scoped dependencies: a pooled connection per request, read-only unless a route commits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

import psycopg
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from api import audit
from api.audit import AuditedConnection

T = TypeVar("T")


def get_conn(request: Request) -> Iterator[psycopg.Connection]:
    """The request's connection; for a write request it commits the request's audit row with the route's own
    first commit (api/audit.py), and a route that did not commit is committed here, still with its row."""
    with request.app.state.pool.connection() as conn:
        audit.arm(request, conn)
        try:
            yield conn
            if getattr(conn, "pending_audit", None) is not None:
                conn.commit()
        finally:
            if isinstance(conn, AuditedConnection):
                conn.pending_audit = None


Conn = Annotated[psycopg.Connection, Depends(get_conn)]


async def in_pool(request: Request, work: Callable[[psycopg.Connection], T]) -> T:
    """``work(conn)`` on the thread pool with a pooled connection taken and returned inside that one hop.

    Why: a sync route with ``Conn`` costs FastAPI three or four thread hops per request (enter the generator
    dependency, the route, validating the response model, exit the dependency; profiled as the largest share of
    the API's CPU under bench/api_load.py). Hot read routes are ``async def`` and put all their queries in one
    ``work``; the transaction semantics are ``get_conn``'s (commit on success, rollback on an exception)."""
    def run() -> T:
        with request.app.state.pool.connection() as conn:
            return work(conn)

    return await run_in_threadpool(run)
