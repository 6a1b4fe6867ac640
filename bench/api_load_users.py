"""The simulated users of bench/api_load.py: one person at one page, with its live stream, debounced refreshes
and think times, and the tallies of what they measured (requests started in the window, in-flight ones awaited).

Split from bench/api_load.py (which runs the world, the generator processes and the figures) so each file reads
on its own; bench/api_load.py's docstring describes the model.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from bench.api_load_pages import Page, route_of
from bench.lean_http import Browser, HttpFailure

# A request slower than this counts as an error: the user gave up long before.
REQUEST_TIMEOUT_S = 10.0
# qf.js live(): a change event schedules the page's refresh 150 ms later, restarting the timer on each event.
DEBOUNCE_S = 0.15
# Browsers open at most six HTTP/1.1 connections per host; the live stream holds one.
BROWSER_CONNS = 6
# The client's idle limit, safely below uvicorn's default keep-alive (SERVER_KEEPALIVE_S, what `quietfix api` runs).
CLIENT_IDLE_S = 4.0
# Failures described one by one in the JSON (the rest are counted).
FAILURES_SHOWN = 20


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    by_route: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    failures: list[str] = field(default_factory=list)
    measuring: bool = False

    def record(self, path: str, started: float, counted: bool, status: str, failed: bool,
               why: str | None = None) -> None:
        """One answered (or failed) request; ``counted``: it STARTED inside the window (``measuring`` when it
        was sent). A request still in flight when the window closes is awaited and counted with its full
        latency: dropping it would hide exactly the slowest answers."""
        if not counted:
            return
        ms = (time.perf_counter() - started) * 1000
        self.statuses[status] += 1
        self.errors += failed
        self.latencies_ms.append(ms)
        self.by_route[route_of(path)].append(ms)
        if why is not None and len(self.failures) < FAILURES_SHOWN:
            self.failures.append(f"{route_of(path)}: {why}")


@dataclass
class LiveTally:
    opened: int = 0
    failed: int = 0
    dropped: int = 0  # a stream that ended early (other than the server's own "bye" at max_s)
    events: int = 0
    arrivals: list[tuple[float, str]] = field(default_factory=list)  # dispatchers' (wall time, timeline cursor)
    refreshed: list[tuple[float, str]] = field(default_factory=list)  # dispatchers' refresh done (time, cursor)
    refreshes: int = 0
    coalesced: int = 0  # debounced changes that came while a refresh ran: folded into one trailing refresh


def sse_events(buf: str) -> tuple[list[tuple[str, str]], str]:
    """Complete server-sent events in ``buf`` as (event, data) pairs, and the unfinished rest."""
    out = []
    while "\n\n" in buf:
        block, buf = buf.split("\n\n", 1)
        event, data = "message", ""
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
        if block and not block.startswith(":"):
            out.append((event, data))
    return out, buf


class User:
    """One simulated person at one page (see the module docstring): page load, a live stream whose change events
    trigger debounced refreshes (one trailing refresh for changes during one), and interactions after exponential think times."""

    def __init__(self, browser: Browser, page: Page, think_s: float, rng: random.Random, tally: Tally,
                 live: LiveTally, *, stream: bool, timed: bool, measuring: list[bool],
                 mix: tuple[str, ...] = ()) -> None:
        self.browser, self.page, self.think_s, self.rng = browser, page, think_s, rng
        self.tally, self.live, self.has_stream, self.timed, self.measuring = tally, live, stream, timed, measuring
        self.mix = mix  # closed loop: this user's paths (its own role's share of request_mix)
        self.timer: asyncio.TimerHandle | None = None
        self.busy = False
        self.again = False  # a change came while a refresh ran: board.js refreshes once more
        self.cursor: str | None = None  # timeline cursor of the last change event seen
        self.refresh_task: asyncio.Task[None] | None = None
        self.closing = False  # past the deadline: refreshes in flight finish, no new one starts

    async def get(self, path: str, headers: dict[str, str] | None = None) -> None:
        started, counted = time.perf_counter(), self.tally.measuring
        try:
            reply = await self.browser.get(path, headers)
        except HttpFailure as exc:
            self.tally.record(path, started, counted, exc.kind, True, str(exc))
            return
        failed = reply.status >= 400
        self.tally.record(path, started, counted, str(reply.status), failed,
                          f"HTTP {reply.status}" if failed else None)

    async def batch(self, paths: tuple[str, ...]) -> None:
        if len(paths) == 1:
            await self.get(paths[0])
        else:
            await asyncio.gather(*(self.get(p) for p in paths))

    # -- live changes: qf.js live() + board.js refresh() ---------------------------------------------------------
    def on_change(self, cursor: str | None) -> None:
        self.cursor = cursor
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(DEBOUNCE_S, self.fire)

    def fire(self) -> None:
        self.timer = None
        if self.busy:  # board.js: `if (busy) { again = true; return; }`
            self.again = True
            self.live.coalesced += self.measuring[0]
            return
        self.busy = True
        self.refresh_task = asyncio.get_running_loop().create_task(self.refresh())

    async def refresh(self) -> None:
        try:
            while True:  # board.js: do { again = false; ... } while (again)
                self.again = False
                cursor, counted = self.cursor, self.measuring[0]
                for paths in self.page.refresh:
                    if self.closing:  # the window is over: send nothing new (what was sent is awaited)
                        return
                    await self.batch(paths)
                if counted:
                    self.live.refreshes += 1
                    if self.timed and cursor is not None:
                        self.live.refreshed.append((time.time(), cursor))
                if not self.again or self.closing:
                    break
        finally:
            self.busy = False

    async def stream(self, deadline: float) -> None:
        """/api/live until the deadline, reconnecting after 1 s when it ends or fails (qf.js's first back-off)."""
        while time.monotonic() < deadline:
            try:
                async with self.browser.stream("/api/live") as (status, chunks):
                    if status != 200:
                        self.live.failed += self.measuring[0]
                        await asyncio.sleep(1.0)
                        continue
                    self.live.opened += 1
                    buf, bye = "", False
                    async for chunk in chunks:
                        events, buf = sse_events(buf + chunk.decode())
                        for event, data in events:
                            if event == "bye":
                                bye = True
                            if event != "change":
                                continue
                            cursor = str(json.loads(data).get("timeline"))
                            if self.measuring[0]:
                                self.live.events += 1
                                if self.timed:
                                    self.live.arrivals.append((time.time(), cursor))
                            if self.think_s > 0:
                                self.on_change(cursor)
                    if time.monotonic() < deadline and not bye:
                        self.live.dropped += self.measuring[0]
            except (HttpFailure, OSError, ValueError):
                if time.monotonic() < deadline:
                    self.live.failed += self.measuring[0]
            await asyncio.sleep(1.0)

    async def run(self, deadline: float, start_delay: float) -> None:
        await asyncio.sleep(start_delay)
        stream = None
        try:
            if self.think_s > 0:
                for paths in self.page.load:
                    await self.batch(paths)
            if self.has_stream:
                stream = asyncio.get_running_loop().create_task(self.stream(deadline))
            while time.monotonic() < deadline:
                if self.think_s > 0:
                    await asyncio.sleep(min(self.rng.expovariate(1.0 / self.think_s),
                                            max(0.0, deadline - time.monotonic())))
                    if time.monotonic() >= deadline:
                        break
                    await self.get(self.rng.choice(self.page.browse))
                else:
                    await self.get(self.rng.choice(self.mix))
        finally:
            self.closing = True
            if self.timer is not None:
                self.timer.cancel()
            if stream is not None and not stream.done():
                stream.cancel()
            # A refresh in flight at the deadline started in the window: await it (each request has its own
            # REQUEST_TIMEOUT_S) so its requests are counted, instead of cancelling them unanswered.
            await asyncio.gather(*(t for t in (stream, self.refresh_task) if t is not None), return_exceptions=True)
            self.browser.close()
