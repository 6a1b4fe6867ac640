"""Live updates over server-sent events: the page re-reads its (scoped) data when the change cursor moves.

The cursor is a handful of index-only maxima plus a checksum of the small technicians table. One *feed* per
distinct scope (everything for staff, one customer, one technician) reads it and fans the result out to every
open stream of that scope: 200 dispatchers' boards cost one small query per change, not 200. Feeds wake on
PostgreSQL LISTEN/NOTIFY (api/live_listen.py: one LISTEN connection per API process; triggers in
core/migrations/0540_live_notify.sql), so a change reaches the boards as soon as it commits instead of at the
next 2 s poll, and an idle system costs no queries. A lost notification only delays: each feed still re-reads
every ``SAFETY_POLL_S`` (every ``POLL_S`` while the LISTEN connection is down), and a reconnect wakes every feed
for a full read. Streams are bounded in number and in length (the client reconnects), and authenticated like any
other route (bearer header; the browser reads the stream with fetch, not EventSource, so the token never lands
in a URL or a log).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api import repository as repo
from api.auth import AnyUser, Principal
from api.live_listen import ChangeListener
from api.snapshot import shared_pool

log = logging.getLogger(__name__)
router = APIRouter(tags=["live"])
# Without notifications (LISTEN connection down) a feed polls this often: a board within 2 s still feels live.
POLL_S = 2.0
# With notifications, the poll only bounds how late a lost one can make a board (and covers writes that bypass
# the triggers); 20 s of one index-only query per scope is negligible.
SAFETY_POLL_S = 20.0
# A burst of commits (a re-plan touching many orders, each in its own transaction) wakes a feed many times in a
# few milliseconds: the feed waits this long after a wake-up so one cursor read covers the burst.
COALESCE_S = 0.02
# The browser's reconnect delay after a dropped stream (SSE ``retry:`` field).
RECONNECT_MS = 3000
# Proxies drop idle connections after ~30-60 s; a comment line every 15 s keeps the stream open.
HEARTBEAT_S = 15.0
# An open stream now costs a socket and a coroutine (the query is shared per scope), so the bound protects
# memory and file descriptors, not the database: 2000 per process is far above a control room's screens.
MAX_STREAMS = 2000
# Streams end after 10 minutes and the browser reconnects: a revoked or expired token stops being served soon.
MAX_STREAM_S = 600.0
# A feed whose cursor read fails (database restarting) retries after this long, without ending its streams.
RETRY_S = 2.0

# Every open board re-reads six resources on each change event; sent to all streams in the same millisecond, 160
# boards' refreshes arrive as one burst of ~1000 requests and the last waits for all the others. Each stream's
# event is instead delayed by a random share of a window of FANOUT_GAP_S per subscriber, at most FANOUT_MAX_S:
# 5 ms is about the API CPU one board's refresh costs (five ETag/304 snapshot reads at ~0.5 ms and the escalation
# queues at ~2.3 ms, measured with bench/api_load.py), so the refreshes arrive about as fast as one process can
# answer them instead of queueing behind each other. A board's refresh is not finished sooner by being told
# sooner when the others are told too; 10 boards wait <= 45 ms, 160 boards <= 0.8 s.
FANOUT_GAP_S = 0.005
FANOUT_MAX_S = 1.0

# (app, all, customer, technician, poll period): one feed per scope and poll period in each app
FeedKey = tuple[Any, ...]
_open = 0
_lock = threading.Lock()


def fanout_spread_s(subscribers: int) -> float:
    """The window one change's events to ``subscribers`` streams of a feed are spread over."""
    return min(FANOUT_MAX_S, max(0, subscribers - 1) * FANOUT_GAP_S)


class Feed:
    """One scope's cursor, read by one task and fanned out: ``version`` moves whenever the cursor changes."""

    def __init__(self, request: Request, principal: Principal, poll_s: float) -> None:
        self.app = request.app
        self.principal = principal
        self.poll_s = poll_s
        self.cursor: dict[str, Any] | None = None
        self.version = 0
        self.subscribers = 0
        self.changed = asyncio.Event()  # replaced after each change: waiters of the old one wake up once
        self.wake = asyncio.Event()  # set by a notification (or the last stream leaving): re-read now
        self.task: asyncio.Task[None] | None = None

    def _read(self) -> dict[str, Any]:
        with shared_pool(self.app).connection(timeout=5.0) as conn:  # never behind the gated requests
            row = repo.change_cursor(conn, self.principal)
        return {k: (str(v) if v is not None else None) for k, v in row.items()}

    def _wait_s(self) -> float:
        listener: ChangeListener | None = getattr(self.app.state, "live_listener", None)
        return self.poll_s if listener is not None and listener.connected else min(self.poll_s, POLL_S)

    async def run(self, key: FeedKey) -> None:
        try:
            while self.subscribers > 0:
                self.wake.clear()  # a notification during the read below triggers one more read
                try:
                    cursor = await run_in_threadpool(self._read)
                except Exception:  # a failed read (database restarting) must not end every viewer's stream
                    log.warning("live cursor read failed; retrying", extra={"scope": str(key)}, exc_info=True)
                    await asyncio.sleep(RETRY_S)
                    continue
                if cursor != self.cursor:
                    self.cursor = cursor
                    self.version += 1
                    event, self.changed = self.changed, asyncio.Event()
                    event.set()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=self._wait_s())
                except TimeoutError:
                    continue  # the safety poll
                await asyncio.sleep(COALESCE_S)
        finally:
            if _feeds.get(key) is self:
                _feeds.pop(key, None)


_feeds: dict[FeedKey, Feed] = {}


def _wake_feeds(app: Any) -> Callable[[str | None], None]:
    def wake(_payload: str | None) -> None:
        # Every table the cursor watches can move every scope's cursor (the payload names the table only), so
        # every feed of this app re-reads: one query per open scope per change, not per stream.
        for key, feed in list(_feeds.items()):
            if key[0] == id(app):
                feed.wake.set()
    return wake


def _listen(request: Request) -> None:
    """Start this process's LISTEN connection on first use (stopped by :func:`stop`, from the app's lifespan)."""
    app = request.app
    listener: ChangeListener | None = getattr(app.state, "live_listener", None)
    if listener is None:
        listener = ChangeListener(app.state.settings.database_url, _wake_feeds(app))
        app.state.live_listener = listener
    listener.start()


async def stop(app: Any) -> None:
    """Close the LISTEN connection (app shutdown)."""
    listener: ChangeListener | None = getattr(app.state, "live_listener", None)
    if listener is not None:
        await listener.stop()


def _subscribe(request: Request, principal: Principal, poll_s: float) -> tuple[FeedKey, Feed]:
    """The running feed of this scope (started on first use; it stops when its last stream ends)."""
    _listen(request)
    scope = repo._scope(principal)  # the cursor's own scope parameters are the feed's key
    key = (id(request.app), scope["all"], scope["cid"], scope["tid"], poll_s)
    feed = _feeds.get(key)
    if feed is None or feed.task is None or feed.task.done():
        feed = Feed(request, principal, poll_s)
        _feeds[key] = feed
    feed.subscribers += 1
    if feed.task is None:
        feed.task = asyncio.get_running_loop().create_task(feed.run(key), name=f"live-feed-{key[1:]}")
    return key, feed


async def _events(request: Request, principal: Principal, max_s: float, poll_s: float) -> AsyncIterator[str]:
    global _open
    loop = asyncio.get_running_loop()
    started = loop.time()
    _, feed = _subscribe(request, principal, poll_s)
    seen = 0
    try:
        yield f"retry: {RECONNECT_MS}\n\n"
        while loop.time() - started < max_s and not await request.is_disconnected():
            if feed.version != seen and feed.cursor is not None:
                if seen:  # a change (not the stream's first event, which goes out at once): spread the herd
                    await asyncio.sleep(random.uniform(0.0, fanout_spread_s(feed.subscribers)))
                seen = feed.version
                yield f"event: change\ndata: {json.dumps(feed.cursor)}\n\n"
                continue
            remaining = max_s - (loop.time() - started)
            # Wake on a change, or to send a keep-alive / notice a disconnect / end the stream on time.
            try:
                await asyncio.wait_for(feed.changed.wait(), timeout=max(0.0, min(HEARTBEAT_S, remaining)))
            except TimeoutError:
                if loop.time() - started < max_s:
                    yield ": keep-alive\n\n"
        yield "event: bye\ndata: {}\n\n"
    finally:
        feed.subscribers -= 1
        if feed.subscribers <= 0:
            feed.wake.set()  # the feed's task ends now instead of at its next safety poll
        with _lock:
            _open -= 1


@router.get("/api/live")
async def live(request: Request, principal: AnyUser, max_s: float = Query(MAX_STREAM_S, gt=0, le=MAX_STREAM_S),
               poll_s: float = Query(SAFETY_POLL_S, ge=0.2, le=60)) -> StreamingResponse:
    """``event: change`` whenever something visible to the caller changed (first one at once).

    ``poll_s``: the safety poll's period (notifications wake the stream's feed sooner)."""
    global _open
    with _lock:
        if _open >= MAX_STREAMS:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "too many live streams; retry later")
        _open += 1
    return StreamingResponse(_events(request, principal, max_s, poll_s), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
