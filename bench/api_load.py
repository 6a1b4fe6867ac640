"""API under load: simulated route-board users (each with its live-update stream) against a real uvicorn server,
while ingest runs at half its measured capacity.

    python -m bench.api_load [--clients 200] [--think 5] [--streams CLIENTS] [--duration 30] [--workers 1]
                             [--ingest-rate 80000] [--ingest-workers 2] [--devices 300] [--generators 2]

Creates (and afterwards drops) a scratch database, migrates and seeds it with a busy region (open incidents, work
orders assigned along a current optimiser plan), then runs:

* ingest: a private Mosquitto (tests.services.PrivateBroker, the project's configuration) on a free port,
  ``--ingest-workers`` ``quietfix ingest`` processes and one ``bench.ingest_publisher`` process publishing
  ``--ingest-rate`` readings/s (default 80,000/s, half the 160k/s measured by bench.ingest) for the seeded
  devices, the same way bench.ingest does it; the readings actually committed during the load window are counted
  from ``ingest_batches`` and reported (``ingest.committed_per_s``);
* the API: ``uvicorn`` with ``--workers`` processes on a free loopback port, configured like ``quietfix api``
  (uvicorn's defaults: httptools and uvloop when installed, 5 s keep-alive);
* a writer that commits a board-visible change (a timeline event) every ``WRITE_EVERY_S`` = 2 s. The live feed
  polls every 2 s (api/live.py), so no board can be asked to refresh more often than this: it is the busiest
  control room the design allows, and every board refreshes on every change;
* ``--clients`` simulated users over the lean client of bench/lean_http.py (each user a browser tab: up to six
  connections, an ETag cache, idle connections closed before the server's keep-alive ends them), split over
  ``--generators`` processes. Two modes:

  ``--think S`` > 0 (default 5; the headline, ``mode: "users"``): users behave like the pages in api/static.
  80 % are dispatchers on the route board, the rest split between technicians' phones and customers' portals.
  Each user loads its page (the same requests in the same order as the page's JavaScript), keeps one ``/api/live``
  stream open, and on each ``change`` event re-reads what its page re-reads, *debounced by 150 ms, and a change that
  comes while a refresh runs gets one trailing refresh*, exactly as qf.js ``live()`` and board.js ``refresh()`` do (board, plan,
  routes, parts in transit and escalations in parallel, then the KPIs; a phone its jobs; a portal its assets
  and pending surveys). Between those, the user interacts: one read (a queue list, a device's telemetry, a
  timeline) after an exponentially distributed think time of mean ``S`` seconds. Why 5 s: a dispatcher
  actively working the queue clicks, reads the answer and decides; keystroke-level estimates put one
  point-click-read cycle at a few seconds, and real control-room screens idle for minutes between bursts.
  5 s is the busy end of that, so the interactive load is on the heavy side; the change-driven refreshes
  (every 2 s for every board) dominate anyway. The exponential keeps users independent (Poisson arrivals).
  ``--streams`` (default: all users) users hold a stream; the others only interact.

  ``--think 0`` (``mode: "closed"``, saturation): every user loops over a board-heavy request mix
  (``request_mix``) with no pause; streams stay open but do not trigger refreshes. By Little's law latency is
  then ~ users / throughput whatever the server does, so only ``requests_per_s`` means something: it is the
  API's capacity on this host, not a user-facing latency.

Figures: ``requests_per_s``, ``p50_ms``/``p99_ms`` over every HTTP request in the window (304s included: they
are answers), ``errors`` (HTTP >= 400, failures and 10 s timeouts, streams that failed or dropped; each failure
is explained in ``failures``: reused or fresh connection, idle time, whether any answer byte had arrived),
``live.change_p99_ms`` (commit of the writer's event to a dispatcher's stream announcing it),
``live.refresh_p99_ms`` (commit to that dispatcher's board having re-read everything, KPIs last), the server's
and the generators' CPU seconds, the generators' event-loop lag (if it nears the latencies, the generator and
not the server is measured), ingest and load average.

Why the earlier closed-loop runs had ``ReadError``s: httpx reused pooled connections that had sat idle longer
than uvicorn's 5 s keep-alive, and the server reset them as the request arrived (reproduced with the old
benchmark, one run each at load 5-7: 2 ReadErrors, ConnectionReset under BrokenResourceError, with the
default keep-alive; 0 with ``--timeout-keep-alive 60``). Browsers retry such a request on a new connection; this client instead closes
connections idle for ``CLIENT_IDLE_S`` (< the server's 5 s), so the race cannot occur and no error is retried
away.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.lean_http import Browser, BrowserStats, HttpFailure
from bench.procs import stop_processes
from bench.stats import percentile
from core.db import drop_database, ensure_database
from core.migrate import migrate
from core.settings import load_settings

# How long the server gets to start (migrations are done beforehand; this is import time plus the pool).
SERVER_START_TIMEOUT_S = 60.0
# A request slower than this counts as an error: the user gave up long before.
REQUEST_TIMEOUT_S = 10.0
# The writer's period: one board-visible change (timeline event) every 2 s = the live feed's poll period.
WRITE_EVERY_S = 2.0
# Open work orders in the seeded region (a third assigned, the rest planned later in routes or unassigned).
OPEN_JOBS = 45
# Ramp-up before the measurement window: pages load (spread over most of it), streams subscribe, caches warm.
WARMUP_S = 5.0
# Mean think time between a user's interactions (see the module docstring for why 5 s).
THINK_S = 5.0
# qf.js live(): a change event schedules the page's refresh 150 ms later, restarting the timer on each event.
DEBOUNCE_S = 0.15
# Browsers open at most six HTTP/1.1 connections per host; the live stream holds one.
BROWSER_CONNS = 6
# uvicorn's default keep-alive (what `quietfix api` runs with) and the client's idle limit, safely below it.
SERVER_KEEPALIVE_S = 5.0
CLIENT_IDLE_S = 4.0
# Share of users on the route board; the rest are technicians' phones and customers' portals, half each.
DISPATCHER_SHARE = 0.8
# Failures described one by one in the JSON (the rest are counted).
FAILURES_SHOWN = 20


def log(message: str) -> None:
    print(f"[api_load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def make_app():
    from api.app import create_app

    return create_app(load_settings())


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    by_route: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    failures: list[str] = field(default_factory=list)
    measuring: bool = False

    def record(self, path: str, started: float, status: str, failed: bool, why: str | None = None) -> None:
        if not self.measuring:
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


@dataclass(frozen=True)
class Page:
    """What one kind of user's page asks for (mirrors api/static): ``load`` when it opens and ``refresh`` on a
    live change are batches of parallel GETs run in order; ``browse`` are single reads behind interactions."""

    role: str
    load: tuple[tuple[str, ...], ...]
    refresh: tuple[tuple[str, ...], ...]
    browse: tuple[str, ...]


def telemetry_window(device: str) -> str:
    now = datetime.now(UTC)
    window = f"start={(now - timedelta(hours=1)).isoformat()}&end={now.isoformat()}".replace("+", "%2B")
    return f"/api/devices/{device}/telemetry?{window}&bucket_s=60"


def pages(devices: list[str], customer_devices: list[str], tech_devices: list[str]) -> dict[str, Page]:
    """The three faces. Dispatcher: board.js (start: /api/board, refresh(), device list; refresh: one
    /api/board/view — board, plan, routes, in-transit, escalations and KPIs in one answer). Technician: tech.js
    ``load`` (its jobs). Customer: portal.js (assets and pending surveys; preferences on open). All start with
    qf.js's /api/auth/me."""
    board_refresh = (("/api/board/view",),)
    portal_refresh = (("/api/portal/assets", "/api/portal/surveys/pending"),)
    return {
        "dispatcher": Page("dispatcher", (("/api/auth/me",), ("/api/board",), *board_refresh,
                                          ("/api/devices?limit=5000",)), board_refresh,
                           ("/api/incidents?open_only=true", "/api/work-orders", "/api/technicians",
                            "/api/devices?limit=100", *(f"/api/devices/{d}/telemetry/latest" for d in devices[:4]),
                            *(telemetry_window(d) for d in devices[:2]), f"/api/devices/{devices[0]}")),
        "technician": Page("technician", (("/api/auth/me",), ("/api/tech/jobs",)), (("/api/tech/jobs",),),
                           (*(f"/api/devices/{d}" for d in tech_devices[:1]),
                            *(telemetry_window(d) for d in tech_devices[:1]), "/api/plans/current")),
        "customer": Page("customer", (("/api/auth/me",), *portal_refresh, ("/api/portal/preferences",)),
                         portal_refresh,
                         (*(f"/api/devices/{d}/timeline?limit=50" for d in customer_devices[:2]), "/api/incidents",
                          "/api/portal/assets")),
    }


def user_roles(users: int) -> list[str]:
    """``DISPATCHER_SHARE`` dispatchers, then technicians and customers alternating (at least one of each kind
    from three users on)."""
    n_disp = max(1, round(users * DISPATCHER_SHARE))
    n_disp = min(n_disp, users - 2) if users >= 3 else min(n_disp, users)
    rest = users - n_disp
    return ["dispatcher"] * n_disp + [("technician" if i % 2 == 0 else "customer") for i in range(rest)]


def request_mix(devices: list[str], customer_devices: list[str], tech_devices: list[str]) -> list[tuple[str, str]]:
    """Closed-loop (``--think 0``) mix of (role, path): mostly what boards re-read on every live change, then
    the lists a dispatcher opens, a technician's phone and customers' portals."""
    mix = [("dispatcher", "/api/board/view")] * 8 + [("dispatcher", "/api/board")] * 2
    mix += [("dispatcher", "/api/board/kpis")] * 2
    mix += [("dispatcher", "/api/plans/current")] * 4 + [("dispatcher", "/api/board/routes")] * 2
    mix += [("dispatcher", "/api/incidents?open_only=true"), ("dispatcher", "/api/work-orders"),
            ("dispatcher", "/api/technicians"), ("dispatcher", "/api/devices?limit=100")]
    mix += [("dispatcher", f"/api/devices/{d}/telemetry/latest") for d in devices[:4]]
    mix += [("dispatcher", telemetry_window(d)) for d in devices[:2]]
    mix += [("technician", "/api/tech/jobs"), ("technician", "/api/plans/current")]
    mix += [("technician", f"/api/devices/{d}") for d in tech_devices[:1]]
    mix += [("customer", "/api/portal/assets"), ("customer", "/api/incidents")]
    mix += [("customer", f"/api/devices/{d}/timeline?limit=50") for d in customer_devices[:2]]
    return mix


def route_of(path: str) -> str:
    """A path without its query and ids, for per-route figures."""
    base = path.split("?")[0]
    parts = ["{id}" if i == 3 and base.startswith("/api/devices/") else p for i, p in enumerate(base.split("/"))]
    return "/".join(parts)


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
                 mix: list[tuple[str, str]] | None = None, tokens: dict[str, str] | None = None) -> None:
        self.browser, self.page, self.think_s, self.rng = browser, page, think_s, rng
        self.tally, self.live, self.has_stream, self.timed, self.measuring = tally, live, stream, timed, measuring
        self.mix, self.tokens = mix, tokens
        self.timer: asyncio.TimerHandle | None = None
        self.busy = False
        self.again = False  # a change came while a refresh ran: board.js refreshes once more
        self.cursor: str | None = None  # timeline cursor of the last change event seen
        self.refresh_task: asyncio.Task[None] | None = None

    async def get(self, path: str, headers: dict[str, str] | None = None) -> None:
        started = time.perf_counter()
        try:
            reply = await self.browser.get(path, headers)
        except HttpFailure as exc:
            self.tally.record(path, started, exc.kind, True, str(exc))
            return
        failed = reply.status >= 400
        self.tally.record(path, started, str(reply.status), failed, f"HTTP {reply.status}" if failed else None)

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
                cursor = self.cursor
                for paths in self.page.refresh:
                    await self.batch(paths)
                if self.measuring[0]:
                    self.live.refreshes += 1
                    if self.timed and cursor is not None:
                        self.live.refreshed.append((time.time(), cursor))
                if not self.again:
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
                    assert self.mix is not None and self.tokens is not None
                    role, path = self.rng.choice(self.mix)
                    await self.get(path, {"Authorization": f"Bearer {self.tokens[role]}"})
        finally:
            if self.timer is not None:
                self.timer.cancel()
            for task in (stream, self.refresh_task):
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(*(t for t in (stream, self.refresh_task) if t is not None), return_exceptions=True)
            self.browser.close()


@dataclass(frozen=True)
class Share:
    """One generator process's part of the load: its users' roles and which of them hold a stream."""

    host: str
    port: int
    tokens: dict[str, str]
    pages: dict[str, Page]
    mix: list[tuple[str, str]]
    roles: tuple[str, ...]
    streams: tuple[bool, ...]
    think_s: float
    start_wall: float  # every process starts warming up at this wall time, so the windows line up
    duration_s: float
    seed: int


async def loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    """The generator's own event-loop lag every 100 ms: when it nears the latencies, the generator is measured."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + 0.1
        await asyncio.sleep(0.1)
        lags.append((loop.time() - due) * 1000)


async def run_load(share: Share) -> dict[str, Any]:
    tally, live, stats = Tally(), LiveTally(), BrowserStats()
    measuring = [False]
    await asyncio.sleep(max(0.0, share.start_wall - time.time()))
    deadline = time.monotonic() + WARMUP_S + share.duration_s
    rng = random.Random(share.seed)
    users = []
    for i, (role, has_stream) in enumerate(zip(share.roles, share.streams, strict=True)):
        auth = {"Authorization": f"Bearer {share.tokens[role]}"}
        browser = Browser(share.host, share.port, max_conns=BROWSER_CONNS, idle_s=CLIENT_IDLE_S,
                          timeout_s=REQUEST_TIMEOUT_S, headers=auth, stats=stats)
        users.append(User(browser, share.pages[role], share.think_s, random.Random(share.seed + i), tally, live,
                          stream=has_stream, timed=role == "dispatcher", measuring=measuring, mix=share.mix,
                          tokens=share.tokens))
    # Pages open spread over most of the warm-up, not all in the same millisecond.
    tasks = [asyncio.create_task(u.run(deadline, rng.uniform(0, WARMUP_S * 0.6))) for u in users]
    stop, lags = asyncio.Event(), []
    lag_task = asyncio.create_task(loop_lag(stop, lags))
    await asyncio.sleep(WARMUP_S)
    tally.measuring = measuring[0] = True
    lags.clear()
    cpu0, started = time.process_time(), time.monotonic()
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
    elapsed = time.monotonic() - started
    tally.measuring = measuring[0] = False  # a stream waiting for its next event at the deadline is not a drop
    cpu_s = time.process_time() - cpu0
    await asyncio.gather(*tasks, return_exceptions=True)
    stop.set()
    await lag_task
    return {"latencies": tally.latencies_ms, "by_route": dict(tally.by_route), "statuses": dict(tally.statuses),
            "errors": tally.errors, "failures": tally.failures, "opened": live.opened, "failed": live.failed,
            "dropped": live.dropped, "events": live.events, "arrivals": live.arrivals, "refreshed": live.refreshed,
            "refreshes": live.refreshes, "coalesced": live.coalesced, "elapsed": elapsed, "cpu_s": cpu_s,
            "lags": lags, "connections_opened": stats.connections_opened, "idle_closed": stats.idle_closed}


def generator_process(share: Share, out: Any) -> None:
    """Process entry point: run the share on uvloop when installed (less CPU per request), send back plain data."""
    try:
        import uvloop

        result = uvloop.run(run_load(share))
    except ImportError:
        result = asyncio.run(run_load(share))
    out.put(result)


def run_generators(host: str, port: int, tokens: dict[str, str], page_set: dict[str, Page],
                   mix: list[tuple[str, str]], clients: int, streams: int, think_s: float, duration_s: float,
                   generators: int) -> tuple[Tally, LiveTally, float, dict[str, Any]]:
    """The users, dealt round-robin over ``generators`` processes (so each gets the same role mix)."""
    from bench import api_load as me  # noqa: PLW0406 - by module name, not __main__: what spawned children import

    roles = user_roles(clients)
    has_stream = [i < streams for i in range(clients)]
    if streams < clients:  # streams go to every kind of user in proportion, not only to dispatchers
        order = sorted(range(clients), key=lambda i: (i * 7919) % clients)
        has_stream = [False] * clients
        for i in order[:streams]:
            has_stream[i] = True
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_wall = time.time() + 3.0  # after every process has started and imported
    procs = [ctx.Process(target=me.generator_process, daemon=True, args=(me.Share(
        host, port, tokens, page_set, mix, tuple(roles[g::generators]), tuple(has_stream[g::generators]), think_s,
        start_wall, duration_s, 1000 * g), out)) for g in range(generators)]
    for proc in procs:
        proc.start()
    parts = [out.get(timeout=WARMUP_S + duration_s + 120) for _ in procs]
    for proc in procs:
        proc.join(10)
    tally, live = Tally(), LiveTally()
    gen: dict[str, Any] = {"processes": generators, "cpu_s": 0.0, "connections_opened": 0, "idle_closed": 0,
                           "lags": []}
    for part in parts:
        tally.latencies_ms += part["latencies"]
        for route, values in part["by_route"].items():
            tally.by_route[route] += values
        tally.statuses.update(part["statuses"])
        tally.errors += part["errors"]
        tally.failures += part["failures"]
        live.opened += part["opened"]
        live.failed += part["failed"]
        live.dropped += part["dropped"]
        live.events += part["events"]
        live.refreshes += part["refreshes"]
        live.coalesced += part["coalesced"]
        live.arrivals += [tuple(a) for a in part["arrivals"]]
        live.refreshed += [tuple(a) for a in part["refreshed"]]
        for key in ("cpu_s", "connections_opened", "idle_closed", "lags"):
            gen[key] += part[key]
    return tally, live, max(p["elapsed"] for p in parts), gen


def writer(url: str, customer_id: int, device_id: str, stop: threading.Event, writes: list[tuple[float, str]],
           ) -> None:
    """A board-visible change every WRITE_EVERY_S on average: a timeline event, committed; (commit wall time, its
    id). The gaps are uniform in 0.5-1.5 x the mean: at a fixed period equal to the live feed's poll period the
    two lock in phase and every change would show the same, arbitrary delay."""
    rng = random.Random(7)
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.wait(WRITE_EVERY_S * rng.uniform(0.5, 1.5)):
            row = conn.execute("INSERT INTO timeline_events (device_id, customer_id, at, kind, summary) "
                               "VALUES (%s, %s, now(), 'note', 'bench change') RETURNING id",
                               (device_id, customer_id)).fetchone()
            assert row is not None
            writes.append((time.time(), str(row[0])))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_database(url: str, devices: int) -> dict[str, Any]:
    """Scratch database: migrated, seeded, an hour of telemetry for 20 devices, OPEN_JOBS open work orders of
    which a third are assigned, all of them on a current plan's routes (what a busy board shows)."""
    from quietfix.seed import seed

    drop_database(url)
    ensure_database(url)
    report = migrate(url)
    with psycopg.connect(url) as conn:
        seeded = seed(conn, devices=devices, technicians=max(2, devices // 20), users=True)
        now = datetime.now(UTC)
        if report.storage == "plain":
            conn.execute("SELECT quietfix_ensure_partitions(%s, %s)", (now - timedelta(days=1), now + timedelta(days=1)))
        # One row per sample (migration 0110): the API reads them through the reading-level view `telemetry`.
        rows = [(d.device_id, now - timedelta(seconds=s), ["pressure_bar"], [4.0 + (s % 7) / 10])
                for d in seeded[:20] for s in range(0, 3600, 30)]
        techs = [r[0] for r in conn.execute("SELECT id FROM technicians ORDER BY code")]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO telemetry_samples (device_id, ts, signals, readings) "
                            "VALUES (%s, %s, %s, %s)", rows)
            cur.executemany("INSERT INTO telemetry_latest VALUES (%s, 'pressure_bar', %s, 4.2)",
                            [(d.device_id, now) for d in seeded])
            plan = cur.execute("INSERT INTO plans (created_at, trigger, planner, is_current) "
                               "VALUES (%s, 'start', 'optimiser', true) RETURNING id", (now,)).fetchone()
            assert plan is not None
            for j, d in enumerate(seeded[:OPEN_JOBS]):
                opened = now - timedelta(minutes=j % 50)
                row = cur.execute(
                    "INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, summary, "
                    "opened_at, response_due, onsite_due, repair_due) VALUES (%s, %s, 'bench', 'bench', 2, "
                    "'work_order', 'bench', %s, %s, %s, %s) RETURNING id",
                    (d.device_id, d.customer_id, opened, opened + timedelta(minutes=15),
                     opened + timedelta(hours=2), opened + timedelta(hours=24))).fetchone()
                assert row is not None
                tech, seq = techs[j % len(techs)], j // len(techs)
                eta = now + timedelta(minutes=20 + 60 * seq)
                assigned = seq == 0
                row = cur.execute(
                    "INSERT INTO work_orders (incident_id, device_id, customer_id, lat, lon, created_at, onsite_due, "
                    "technician_id, status, assigned_at, eta) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                    "RETURNING id",
                    (row[0], d.device_id, d.customer_id, d.lat, d.lon, opened, opened + timedelta(hours=2),
                     tech if assigned else None, "assigned" if assigned else "open", now if assigned else None,
                     eta if assigned else None)).fetchone()
                assert row is not None
                cur.execute("INSERT INTO plan_stops (plan_id, technician_id, seq, kind, work_order_id, eta, start_at, "
                            "end_at) VALUES (%s, %s, %s, 'job', %s, %s, %s, %s)",
                            (plan[0], tech, seq, row[0], eta, eta, eta + timedelta(minutes=45)))
            conn.execute("UPDATE technicians SET state = 'travelling'")
        conn.commit()
    customer1 = [d.device_id for d in seeded if d.customer_id == seeded[0].customer_id]
    return {"devices": [d.device_id for d in seeded], "customer_devices": customer1,
            "tech_devices": [seeded[0].device_id], "customer_id": seeded[0].customer_id,
            "typed": [(d.device_id, d.equipment_type) for d in seeded], "storage": report.storage}


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "QUIETFIX_DATABASE_URL": url, "QUIETFIX_LOG_LEVEL": "WARNING",
           # One sign-in per role is all the benchmark does; keep the limiter out of the measurement anyway.
           "QUIETFIX_SECURITY__LOGIN_ATTEMPTS": "1000"}
    # uvicorn's defaults otherwise, as `quietfix api` runs it (keep-alive SERVER_KEEPALIVE_S, httptools/uvloop).
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "bench.api_load:make_app", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log",
           "--timeout-keep-alive", str(int(SERVER_KEEPALIVE_S))]
    return subprocess.Popen(cmd, env=env, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1.0) as r:
                if json.loads(r.read()).get("database"):
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become healthy in time")


def sign_in(base: str, username: str, password: str) -> str:
    req = urllib.request.Request(f"{base}/api/auth/token", method="POST",
                                 data=json.dumps({"username": username, "password": password}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(json.loads(r.read())["access_token"])


class Ingest:
    """Ingest at a fixed rate beside the API, wired exactly like bench.ingest (private broker, N workers)."""

    def __init__(self, url: str, devices: list[tuple[str, str]], rate: float, workers: int, seconds: float,
                 readings_per_message: int) -> None:
        from bench.ingest import BENCH_PASSWORD, BENCH_USER, BenchConfig
        from core.broker import upsert_credentials
        from tests.services import PrivateBroker

        self.url, self.devices, self.rate, self.seconds = url, devices, rate, seconds
        self.cfg = BenchConfig(devices=len(devices), readings_per_message=readings_per_message, seconds=seconds,
                               workers=workers, rate=rate)
        self.tmp = Path(tempfile.mkdtemp(prefix="qf-api-load-"))
        base = load_settings()
        self.broker = PrivateBroker(self.tmp / "broker", base.mqtt_username, base.mqtt_password)
        with (self.broker.dir / "acl").open("a") as acl:
            acl.write(f"\nuser {BENCH_USER}\ntopic readwrite qf/v1/#\n")
        upsert_credentials(self.broker.dir / "passwd", [(BENCH_USER, BENCH_PASSWORD)])
        self.workers: list[subprocess.Popen] = []
        self.publisher: Any = None
        self.pipe: Any = None

    def start(self) -> None:
        from bench.ingest import BENCH_PASSWORD, BENCH_USER, SEQ_BASE, start_ingest_workers, wait_subscribed
        from bench.ingest_publisher import PublisherConfig, run_publisher

        self.broker.start()
        self.workers = start_ingest_workers(self.cfg, self.url, self.broker, 1.0, self.tmp)
        wait_subscribed(self.broker, self.url, self.devices, self.cfg.workers)
        ctx = mp.get_context("spawn")
        pcfg = PublisherConfig("127.0.0.1", self.broker.port, BENCH_USER, BENCH_PASSWORD, tuple(self.devices),
                               self.cfg.readings_per_message, self.rate, self.seconds, 1.0, 100, SEQ_BASE,
                               time.time())
        self.pipe, child = ctx.Pipe(duplex=False)
        self.publisher = ctx.Process(target=run_publisher, args=(pcfg, child, f"api-load-pub-{os.getpid()}"),
                                     daemon=True)
        self.publisher.start()
        # Drain the publisher's progress reports so its pipe never fills.
        threading.Thread(target=self._drain, name="publisher-pipe", daemon=True).start()

    def _drain(self) -> None:
        try:
            while True:
                msg = self.pipe.recv()
                if "error" in msg:
                    log(f"publisher error: {msg['error']}")
                if msg.get("final"):
                    return
        except (EOFError, OSError):
            return

    def committed(self) -> int:
        with psycopg.connect(self.url) as conn:
            row = conn.execute("SELECT coalesce(sum(readings), 0) FROM ingest_batches").fetchone()
        return int(row[0]) if row else 0

    def stop(self) -> None:
        if self.publisher is not None and self.publisher.is_alive():
            self.publisher.terminate()
        stop_processes(self.workers, timeout_s=15)
        self.broker.stop(kill=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def server_cpu_s(proc: subprocess.Popen[bytes]) -> float:
    """CPU seconds of the uvicorn process and its worker processes so far (Linux /proc)."""
    from bench.ingest import cpu_seconds

    pids = [proc.pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    except OSError:
        pass
    return sum(cpu_seconds(pid) for pid in pids)


def change_delays_ms(arrivals: list[tuple[float, str]], writes: list[tuple[float, str]]) -> list[float]:
    """Each timed arrival (a change event, or a finished refresh) against the commit of the timeline event it is
    about (others, e.g. the first event of a stream, are skipped)."""
    committed = {event_id: at for at, event_id in writes}
    return [(arrived - committed[cursor]) * 1000 for arrived, cursor in arrivals if cursor in committed]


def used_server_http() -> dict[str, str]:
    """Which HTTP parser and event loop uvicorn picks here ("auto": httptools and uvloop when installed)."""
    import importlib.util

    return {"http": "httptools" if importlib.util.find_spec("httptools") else "h11",
            "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"}


def summarise(tally: Tally, live: LiveTally, args: argparse.Namespace, elapsed_s: float,
              ingest: dict[str, Any], loads: list[float], command: str, cpu_s: float,
              change_ms: list[float], refresh_ms: list[float] | None = None,
              generator: dict[str, Any] | None = None) -> dict[str, object]:
    requests = len(tally.latencies_ms)
    refresh_ms = refresh_ms or []
    routes = {r: {"n": len(v), "p50_ms": round(percentile(v, 0.50), 1), "p99_ms": round(percentile(v, 0.99), 1)}
              for r, v in sorted(tally.by_route.items())}
    gen = dict(generator or {})
    lags = gen.pop("lags", [])
    if lags:
        gen["loop_lag_p99_ms"] = round(percentile(lags, 0.99), 1)
        gen["loop_lag_max_ms"] = round(max(lags), 1)
    if "cpu_s" in gen:
        gen["cpu_s"] = round(gen["cpu_s"], 1)
    return {"clients": args.clients, "streams": args.streams, "concurrent": args.clients,
            "mode": "users" if args.think > 0 else "closed", "think_s": args.think,
            "debounce_ms": DEBOUNCE_S * 1000, "duration_s": round(elapsed_s, 2), "requests": requests,
            "requests_per_s": round(requests / elapsed_s, 1) if elapsed_s > 0 else 0.0,
            "p50_ms": round(percentile(tally.latencies_ms, 0.50), 2),
            "p99_ms": round(percentile(tally.latencies_ms, 0.99), 2),
            "errors": tally.errors + live.failed + live.dropped,
            "status_counts": dict(sorted(tally.statuses.items())), "failures": tally.failures, "routes": routes,
            "live": {"streams_opened": live.opened, "failed": live.failed, "dropped": live.dropped,
                     "change_events": live.events, "change_p50_ms": round(percentile(change_ms, 0.50), 1),
                     "change_p99_ms": round(percentile(change_ms, 0.99), 1), "refreshes": live.refreshes,
                     "refresh_p50_ms": round(percentile(refresh_ms, 0.50), 1),
                     "refresh_p99_ms": round(percentile(refresh_ms, 0.99), 1),
                     "refresh_coalesced": live.coalesced, "write_every_s": WRITE_EVERY_S},
            # Server CPU per answered request (streams' work included): comparable across runs on a shared host
            # where wall-clock figures depend on what else runs.
            "server_cpu_s": round(cpu_s, 1),
            "server_cpu_ms_per_request": round(1000 * cpu_s / requests, 2) if requests else None,
            "server": {"workers": args.workers, "keep_alive_s": SERVER_KEEPALIVE_S, **used_server_http()},
            "generator": gen, "ingest": ingest,
            "load_avg_1m": {"start": loads[0], "max": max(loads), "end": loads[-1]}, "cpus": os.cpu_count(),
            "command": command, "finished_at": datetime.now().astimezone().isoformat(timespec="seconds")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200, help="simulated users (concurrent)")
    parser.add_argument("--think", type=float, default=THINK_S,
                        help="mean think time between a user's interactions, s (0 = closed-loop saturation)")
    parser.add_argument("--streams", type=int, default=None,
                        help="users holding a live-update stream (SSE); default: every user")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of measured load")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--generators", type=int, default=2, help="load-generator processes (users split over them)")
    parser.add_argument("--devices", type=int, default=300, help="seeded devices")
    parser.add_argument("--ingest-rate", type=float, default=80_000.0,
                        help="readings/s published during the load (0 = no ingest); half of bench.ingest's 160k/s")
    parser.add_argument("--ingest-workers", type=int, default=2, help="`quietfix ingest` processes")
    parser.add_argument("--readings-per-message", type=int, default=1000)
    parser.add_argument("--database", default="quietfix_bench_api", help="scratch database (dropped after)")
    args = parser.parse_args(argv)
    if args.streams is None:
        args.streams = args.clients
    if not (1 <= args.clients <= 5000 and 0 <= args.streams <= args.clients and 0 < args.duration <= 600
            and 0 <= args.think <= 600 and 1 <= args.generators <= 16):
        parser.error("clients must be 1..5000, streams 0..clients, duration 0..600 s, think 0..600 s, "
                     "generators 1..16")
    command = "python -m bench.api_load " + " ".join(argv if argv is not None else sys.argv[1:])
    log(f"run as: {command}")
    loads = [os.getloadavg()[0]]
    url = psycopg.conninfo.make_conninfo(load_settings().database_url, dbname=args.database)
    world = prepare_database(url, args.devices)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ingest: Ingest | None = None
    proc = start_server(url, port, args.workers)
    stop = threading.Event()
    writes: list[tuple[float, str]] = []
    ingest_figures: dict[str, Any] = {"rate_target": args.ingest_rate}
    try:
        wait_ready(base, proc)
        if args.ingest_rate > 0:
            ingest = Ingest(url, world["typed"], args.ingest_rate, args.ingest_workers,
                            WARMUP_S + args.duration + 40.0, args.readings_per_message)
            ingest.start()
            time.sleep(3.0)  # the publisher's process start-up; the rate settles before the load starts
            log(f"ingest running: {args.ingest_workers} workers, publishing {args.ingest_rate:,.0f} readings/s")
        from quietfix.seed import DEMO_PASSWORD

        tokens = {role: sign_in(base, user, DEMO_PASSWORD)
                  for role, user in (("dispatcher", "dispatcher"), ("customer", "customer001"),
                                     ("technician", "tech01"))}
        page_set = pages(world["devices"], world["customer_devices"], world["tech_devices"])
        mix = request_mix(world["devices"], world["customer_devices"], world["tech_devices"])
        threading.Thread(target=writer, args=(url, world["customer_id"], world["devices"][0], stop, writes),
                         daemon=True).start()
        mode = f"users, think {args.think:g} s" if args.think > 0 else "closed loop (saturation)"
        log(f"server up on {base}; {args.clients} users ({mode}), {args.streams} with a live stream")
        committed0 = ingest.committed() if ingest else 0
        t0 = time.monotonic()
        sampler_stop = threading.Event()

        def sample_load() -> None:
            while not sampler_stop.wait(5.0):
                loads.append(os.getloadavg()[0])

        threading.Thread(target=sample_load, daemon=True).start()
        cpu0 = server_cpu_s(proc)
        tally, live, elapsed, generator = run_generators("127.0.0.1", port, tokens, page_set, mix, args.clients,
                                                         args.streams, args.think, args.duration, args.generators)
        sampler_stop.set()
        cpu_s = server_cpu_s(proc) - cpu0  # includes the warm-up, like the counts below
        if ingest:
            window = time.monotonic() - t0  # includes the warm-up: committed counts from the same instant
            ingest_figures.update({"workers": args.ingest_workers, "readings_per_message": args.readings_per_message,
                                   "committed_per_s": round((ingest.committed() - committed0) / window)})
    finally:
        stop.set()
        if ingest is not None:
            ingest.stop()
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        drop_database(url)
    loads.append(os.getloadavg()[0])
    result = summarise(tally, live, args, elapsed, ingest_figures, loads, command, cpu_s,
                       change_delays_ms(live.arrivals, writes), change_delays_ms(live.refreshed, writes), generator)
    # The load generator's own CPU (also inside "generator"), where earlier runs printed it.
    result["generator_cpu_s"] = result["generator"].get("cpu_s")  # type: ignore[union-attr]
    log(f"done: {result['requests']} requests, {result['errors']} errors")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
