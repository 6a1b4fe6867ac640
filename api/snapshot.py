"""Short-lived shared snapshots of the staff-wide board payloads, serialised once for every dispatcher.

Why: every open route board re-reads ``/api/board``, its KPIs and the current plan on each live change, so 200
boards turned one change into 600 identical sets of queries and JSON encodings (bench/api_load.py: p99 of
seconds). Staff all see the same data, so each process keeps the last answer as JSON bytes, keyed by a cheap
*version* (api/queries.sql ``board_version``: the live-update cursor's maxima plus the current plan and the
dispatch change counter, ~1 ms, one per request). A request whose version matches a snapshot younger than
``MAX_AGE_S`` gets the bytes; otherwise one request rebuilds while the others with the same key wait for it
(single flight), so a burst costs one build. The version check keeps a board that reacts to a live event from
ever getting the state before that event; the age bound covers what the version cannot see (time-dependent KPI
judgements, ETA re-timings that leave no timeline event) and matches the live stream's own poll period.

Each snapshot also carries an ETag (a hash of its bytes, so every API process derives the same tag for the same
data): a board that re-reads after a live change which did not touch this payload sends ``If-None-Match`` and
gets a bodiless 304 (``conditional``), so the common refresh costs auth, the shared version read and a string
compare instead of the body's transfer. Answers are ``Cache-Control: private, no-cache``: the browser keeps them
but revalidates on every read, so a page never shows a copy without asking.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from fastapi.encoders import jsonable_encoder
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

# The age bound for what the version cannot see (time-dependent judgements); the old live poll period (api/live.py
# POLL_S), kept: live feeds now wake on NOTIFY, but a 2 s bound on those judgements is what boards were built for.
MAX_AGE_S = 2.0


class Body(bytes):
    """A snapshot's JSON bytes with their ETag (computed once, when the snapshot is built)."""

    etag: str

    @classmethod
    def of(cls, data: bytes) -> Body:
        body = cls(data)
        body.etag = etag_of(data)
        return body


def etag_of(data: bytes) -> str:
    """A strong ETag from the bytes themselves: equal data, equal tag, in every process."""
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of ``If-None-Match`` (a list, or ``*``) against ``etag``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))


# Authenticated answers: a browser may keep them (private) but must ask before each use (no-cache).
CACHE_CONTROL = "private, no-cache"


def conditional(request: Request, body: bytes, etag: str, *, weak: bool = False,
                headers: dict[str, str] | None = None) -> Response:
    """``body`` as JSON with its ETag, or a bodiless 304 when the caller already holds that version.

    ``weak``: the 200 body varies in a detail outside the tag (the board's per-request ``now``), so the tag only
    promises an equivalent representation (RFC 9110 8.8.1). Call this after authorisation: a 304 says nothing
    to a caller who may not see the resource, but it must never replace a 401/403."""
    tag = f"W/{etag}" if weak else etag
    out = {"ETag": tag, "Cache-Control": CACHE_CONTROL, **(headers or {})}
    if matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=out)
    return Response(body, media_type="application/json", headers=out)


@dataclass
class _Entry:
    version: Any
    built: float
    body: Body


class Snapshots:
    """Process-local snapshot store; thread-safe (sync routes run on the thread pool)."""

    def __init__(self, max_age_s: float = MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self._entries: dict[Hashable, _Entry] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        # key -> (event loop, version, future of the body) of the build under way for ``aget``.
        self._flights: dict[Hashable, tuple[Any, Any, asyncio.Future[Body]]] = {}
        self.builds = 0
        self.hits = 0
        # Bumped by clear(): part of every entry's and flight's key, so a build that started before a write in
        # this process is never served after it (InvalidateOnWrite).
        self.generation = 0

    def _fresh(self, key: Hashable, version: Any) -> Body | None:
        entry = self._entries.get(key)
        if entry is not None and entry.version == version and time.monotonic() - entry.built < self.max_age_s:
            return entry.body
        return None

    def get(self, key: Hashable, version: Any, build: Callable[[], Any]) -> Body:
        """The JSON bytes of ``build()`` for ``version`` (with their ``etag``), built at most once per version
        and age window."""
        return self._get(key, (self.generation, version), build)

    def _get(self, key: Hashable, version: Any, build: Callable[[], Any]) -> Body:
        body = self._fresh(key, version)
        if body is not None:
            self.hits += 1
            return body
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            body = self._fresh(key, version)  # built by the request we waited for
            if body is not None:
                self.hits += 1
                return body
            body = Body.of(json.dumps(jsonable_encoder(build()), separators=(",", ":")).encode())
            self._entries[key] = _Entry(version, time.monotonic(), body)
            self.builds += 1
            return body

    async def aget(self, key: Hashable, version: Any, build: Callable[[], Any]) -> Body:
        """``get`` for ``async def`` routes: a hit is answered on the event loop without a thread hop; concurrent
        misses for the same key and version wait on the event loop for one build (single flight without holding
        a thread each), and only that build (blocking queries) runs on the thread pool."""
        loop = asyncio.get_running_loop()
        version = (self.generation, version)
        while True:
            body = self._fresh(key, version)
            if body is not None:
                self.hits += 1
                return body
            flight = self._flights.get(key)
            if flight is None or flight[0] is not loop or flight[1] != version or flight[2].done():
                break
            try:
                body = await asyncio.shield(flight[2])
                self.hits += 1
                return body
            except asyncio.CancelledError:
                if flight[2].cancelled():  # the building request went away: build again ourselves
                    continue
                raise
        done: asyncio.Future[Body] = loop.create_future()
        self._flights[key] = (loop, version, done)
        try:
            body = await run_in_threadpool(self._get, key, version, build)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                done.cancel()
            else:
                done.set_exception(exc)
                done.exception()  # retrieved: the waiters re-raise it, nobody else must log it
            raise
        else:
            done.set_result(body)
        finally:
            if self._flights.get(key, (None, None, None))[2] is done:
                del self._flights[key]
        return body

    def clear(self) -> None:
        """After a write in this process: the next read rebuilds. The version catches writes that leave a timeline
        event or move the dispatch counter; this also covers those that do not (a shipment picked, a
        reservation), so a dispatcher sees their own change at once (other processes' within MAX_AGE_S)."""
        self.generation += 1
        self._entries.clear()


class InvalidateOnWrite:
    """ASGI middleware: any request other than GET/HEAD/OPTIONS clears this process's snapshots when its answer
    starts and again when it ends (after the route's commit either way), so read-after-write holds within a
    process even for data the snapshot version does not see."""

    SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in self.SAFE:
            await self.app(scope, receive, send)
            return

        def clear() -> None:
            store = getattr(getattr(scope.get("app"), "state", None), "snapshots", None)
            if store is not None:
                store.clear()

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                clear()
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            clear()


def shared_pool(app: Any) -> Any:
    """The pool for the shared reads (version, snapshot builds, live cursors): their own small pool when the app
    has one (api/app.py), so they never queue behind the gated requests holding the main pool's connections."""
    return getattr(app.state, "shared_pool", None) or app.state.pool


def snapshots_of(app: Any) -> Snapshots:
    """The app's store, created on first use (one per process and app)."""
    store = getattr(app.state, "snapshots", None)
    if store is None:
        store = app.state.snapshots = Snapshots()
    return store


class FreshRead:
    """Coalesces a small blocking read (``read()``, run on the thread pool) for many concurrent awaiters, while
    every awaiter still gets a result read *after* it asked.

    Why: each board request needs the current ``board_version`` (~1 ms query) but 200 boards ask many times a
    second. Sharing a read that was already under way when a request arrived could return a version from before a
    change that request is reacting to; sharing only reads that *start* after every waiter arrived cannot. Callers
    arriving while a read runs queue for the next one, so under load one query (and one thread hop) answers a
    whole batch instead of one per request.
    """

    def __init__(self, read: Callable[[], Any]) -> None:
        self._read = read
        self._waiters: list[asyncio.Future[Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.reads = 0

    async def get(self) -> Any:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (test clients): nothing from the old one carries over
            self._loop, self._waiters, self._task = loop, [], None
        waiter: asyncio.Future[Any] = loop.create_future()
        self._waiters.append(waiter)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        return await waiter

    async def _run(self) -> None:
        while self._waiters:
            batch, self._waiters = self._waiters, []  # all of these asked before the read below starts
            try:
                value = await run_in_threadpool(self._read)
                self.reads += 1
            except Exception as exc:  # noqa: BLE001 - handed to every waiter, who raise it as their own
                for waiter in batch:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for waiter in batch:
                if not waiter.done():
                    waiter.set_result(value)


async def board_version(app: Any) -> Any:
    """The current staff board version (api/queries.sql ``board_version``), read after this call began, shared
    with the requests that asked at the same time (``FreshRead``)."""
    reader = getattr(app.state, "board_version_reader", None)
    if reader is None:
        from api import repository as repo

        def read() -> Any:
            with shared_pool(app).connection() as conn:
                return repo.board_version(conn)

        reader = app.state.board_version_reader = FreshRead(read)
    return await reader.get()


async def shared_body(app: Any, key: Hashable, read: Callable[[Any], Any]) -> Body:
    """The shared snapshot bytes of a staff-wide read (``read(conn)``) for the current board version."""

    def build() -> Any:
        with shared_pool(app).connection() as conn:
            return read(conn)

    return await snapshots_of(app).aget(key, await board_version(app), build)


async def shared_read(request: Request, key: Hashable, read: Callable[[Any], Any]) -> Response:
    """A staff-wide read (``read(conn)``) answered from the shared snapshot of the current board version, with
    its ETag (304 on a matching ``If-None-Match``). For reads every open board repeats on each live change and
    that are the same for all staff; the caller has already checked that the caller is staff."""
    body = await shared_body(request.app, key, read)
    return conditional(request, body, body.etag)
