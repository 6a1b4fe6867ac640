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
* a writer that commits a board-visible change (a timeline event) every ``WRITE_EVERY_S`` = 2 s on average (the
  old live poll period, kept so runs stay comparable; live feeds now wake on NOTIFY, api/live.py), and every board
  refreshes on every change: the busiest control room of the earlier runs;
* ``--clients`` simulated users, each signed in as its OWN account (bench/api_load_env.py ``create_users``:
  dispatchers, and technicians and customers bound round-robin to distinct seeded technicians and customers, each
  page over that account's own devices), so every phone and portal is its own scope and feed as in production,
  over the lean client of bench/lean_http.py (each user a browser tab: up to six connections, an ETag cache, idle connections closed before the server's keep-alive ends them), split over
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
  (``request_mix``, each user its own role's share of it, over its own devices) with no pause; streams stay open but do not trigger refreshes. By Little's law latency is
  then ~ users / throughput whatever the server does, so only ``requests_per_s`` means something: it is the
  API's capacity on this host, not a user-facing latency.

Figures: ``requests_per_s``, ``p50_ms``/``p99_ms`` over every HTTP request STARTED in the window (304s included:
they are answers; a request still in flight when the window closes is awaited and counted with its latency), ``errors`` (HTTP >= 400, failures and 10 s timeouts, streams that failed or dropped; each failure
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
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from bench.api_load_env import (
    SERVER_KEEPALIVE_S,
    WRITE_EVERY_S,
    Ingest,
    create_users,
    free_port,
    log,
    prepare_database,
    server_cpu_s,
    sign_in_all,
    start_server,
    wait_ready,
    writer,
)
from bench.api_load_pages import Page, user_pages, user_roles
from bench.api_load_users import (
    BROWSER_CONNS,
    CLIENT_IDLE_S,
    DEBOUNCE_S,
    REQUEST_TIMEOUT_S,
    LiveTally,
    Tally,
    User,
)
from bench.lean_http import Browser, BrowserStats
from bench.stats import percentile
from core.db import drop_database
from core.settings import load_settings

# Ramp-up before the measurement window: pages load (spread over most of it), streams subscribe, caches warm.
WARMUP_S = 5.0
# Mean think time between a user's interactions (see the module docstring for why 5 s).
THINK_S = 5.0


def make_app():
    from api.app import create_app

    return create_app(load_settings())


@dataclass(frozen=True)
class Share:
    """One generator process's part of the load: its users' roles and which of them hold a stream."""

    host: str
    port: int
    tokens: tuple[str, ...]  # each user's own sign-in
    pages: tuple[Page, ...]  # each user's page (its own devices)
    mixes: tuple[tuple[str, ...], ...]  # each user's closed-loop paths
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
        auth = {"Authorization": f"Bearer {share.tokens[i]}"}
        browser = Browser(share.host, share.port, max_conns=BROWSER_CONNS, idle_s=CLIENT_IDLE_S,
                          timeout_s=REQUEST_TIMEOUT_S, headers=auth, stats=stats)
        users.append(User(browser, share.pages[i], share.think_s, random.Random(share.seed + i), tally, live,
                          stream=has_stream, timed=role == "dispatcher", measuring=measuring, mix=share.mixes[i]))
    # Pages open spread over most of the warm-up, not all in the same millisecond.
    tasks = [asyncio.create_task(u.run(deadline, rng.uniform(0, WARMUP_S * 0.6))) for u in users]
    stop, lags = asyncio.Event(), list[float]()
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


def run_generators(host: str, port: int, roles: list[str], tokens: list[str], page_set: list[Page],
                   mixes: list[tuple[str, ...]], streams: int, think_s: float, duration_s: float,
                   generators: int) -> tuple[Tally, LiveTally, float, dict[str, Any]]:
    """The users, dealt round-robin over ``generators`` processes (so each gets the same role mix)."""
    from bench import api_load as me  # noqa: PLW0406 - by module name, not __main__: what spawned children import

    clients = len(roles)
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
        host, port, tuple(tokens[g::generators]), tuple(page_set[g::generators]), tuple(mixes[g::generators]),
        tuple(roles[g::generators]), tuple(has_stream[g::generators]), think_s,
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
    roles = user_roles(args.clients)
    world = prepare_database(url, args.devices, technicians=roles.count("technician"))
    bench_users = create_users(url, world, roles)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ingest: Ingest | None = None
    proc = start_server(url, port, args.workers, logins=len(bench_users))
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
        tokens = sign_in_all(base, bench_users)  # one account per user, not one shared login per role
        page_set, mixes = user_pages(world, bench_users)
        log(f"{len(tokens)} distinct users signed in")
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
        tally, live, elapsed, generator = run_generators("127.0.0.1", port, roles, tokens, page_set, mixes,
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
    gen_figures = result["generator"]
    assert isinstance(gen_figures, dict)
    result["generator_cpu_s"] = gen_figures.get("cpu_s")
    log(f"done: {result['requests']} requests, {result['errors']} errors")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
