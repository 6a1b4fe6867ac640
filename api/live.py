"""Live updates over server-sent events: the page re-reads its (scoped) data when the change cursor moves.

The cursor is a handful of index-only maxima plus a checksum of the small technicians table, read every
``POLL_S`` seconds per open stream; no triggers, no LISTEN connection held per client. Streams are bounded in
number and in length (the client reconnects), and authenticated like any other route (bearer header; the
browser reads the stream with fetch, not EventSource, so the token never lands in a URL or a log).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api import repository as repo
from api.auth import AnyUser, Principal

log = logging.getLogger(__name__)
router = APIRouter(tags=["live"])
# A board reacting within two seconds feels live; one tiny query per stream every 2 s is negligible load.
POLL_S = 2.0
# Proxies drop idle connections after ~30-60 s; a comment line every 15 s keeps the stream open.
HEARTBEAT_S = 15.0
# Each open stream costs one periodic query and an open socket; a few dozen screens is the expected audience.
MAX_STREAMS = 50
# Streams end after 10 minutes and the browser reconnects: a revoked or expired token stops being served soon.
MAX_STREAM_S = 600.0

_open = 0
_lock = threading.Lock()


def _cursor(request: Request, principal: Principal) -> dict[str, Any]:
    with request.app.state.pool.connection(timeout=5.0) as conn:
        row = repo.change_cursor(conn, principal)
    return {k: (str(v) if v is not None else None) for k, v in row.items()}


async def _events(request: Request, principal: Principal, max_s: float, poll_s: float) -> AsyncIterator[str]:
    global _open
    loop = asyncio.get_running_loop()
    started = loop.time()
    last: dict[str, Any] | None = None
    quiet_since = started
    try:
        yield f"retry: {int(poll_s * 1000) + 1000}\n\n"
        while loop.time() - started < max_s and not await request.is_disconnected():
            cursor = await run_in_threadpool(_cursor, request, principal)
            if cursor != last:
                last = cursor
                quiet_since = loop.time()
                yield f"event: change\ndata: {json.dumps(cursor)}\n\n"
            elif loop.time() - quiet_since >= HEARTBEAT_S:
                quiet_since = loop.time()
                yield ": keep-alive\n\n"
            await asyncio.sleep(poll_s)
        yield "event: bye\ndata: {}\n\n"
    finally:
        with _lock:
            _open -= 1


@router.get("/api/live")
async def live(request: Request, principal: AnyUser, max_s: float = Query(MAX_STREAM_S, gt=0, le=MAX_STREAM_S),
               poll_s: float = Query(POLL_S, ge=0.2, le=60)) -> StreamingResponse:
    """``event: change`` whenever something visible to the caller changed (first one at once)."""
    global _open
    with _lock:
        if _open >= MAX_STREAMS:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "too many live streams; retry later")
        _open += 1
    return StreamingResponse(_events(request, principal, max_s, poll_s), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
