"""API under load: route-board clients and live-update streams against a real uvicorn server, while ingest runs.

    python -m bench.api_load [--clients 200] [--streams 200] [--duration 30] [--workers 1]
                             [--ingest-rate 37500] [--ingest-workers 2] [--devices 300]

Creates (and afterwards drops) a scratch database, migrates and seeds it with a busy region (open incidents, work
orders assigned along a current optimiser plan), then:

* ingest: a private Mosquitto (tests.services.PrivateBroker, the project's configuration) on a free port,
  ``--ingest-workers`` ``quietfix ingest`` processes and one ``bench.ingest_publisher`` process publishing
  ``--ingest-rate`` readings/s (default 37,500/s, half the ~75k/s measured by bench.ingest) for the seeded
  devices, the same way bench.ingest does it; the readings actually committed during the load window are counted
  from ``ingest_batches`` and reported (``ingest.committed_per_s``);
* the API: ``uvicorn`` with ``--workers`` processes on a free loopback port;
* ``--clients`` closed-loop HTTP clients (one connection each, no think time) over a read mix weighted like route
  boards (``/api/board``, ``/api/board/kpis``, ``/api/plans/current``, queue lists) plus technician and portal
  users;
* ``--streams`` live-update streams (``/api/live``, server-sent events; 80 % dispatchers, the rest customers
  and a technician) open for the whole run, and a writer that records a timeline event every ``WRITE_EVERY_S``:
  the delay from its commit to each dispatcher stream's ``change`` event is ``live.change_p99_ms``.

Progress goes to stderr; the last stdout line is one JSON object: ``clients`` (HTTP clients), ``streams``,
``concurrent`` (both), ``requests_per_s``, ``p50_ms``, ``p99_ms``, ``errors`` (HTTP >= 400, timeouts, failed or
dropped streams), per-route p99, the live and ingest figures, load average and how it was run. The load generator
runs on the same machine as the server, ingest and PostgreSQL, so on a small host everything competes for cores.
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
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.procs import stop_processes
from bench.stats import percentile
from core.db import drop_database, ensure_database
from core.migrate import migrate
from core.settings import load_settings

# How long the server gets to start (migrations are done beforehand; this is import time plus the pool).
SERVER_START_TIMEOUT_S = 60.0
# A request slower than this counts as an error: the user gave up long before.
REQUEST_TIMEOUT_S = 10.0
# The writer's period: one board-visible change (timeline event) every 2 s, like a busy control room.
WRITE_EVERY_S = 2.0
# Open work orders in the seeded region (a third assigned, the rest planned later in routes or unassigned).
OPEN_JOBS = 45
# Ramp-up before the measurement window: connections open, streams subscribe, caches warm.
WARMUP_S = 3.0


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
    measuring: bool = False


@dataclass
class LiveTally:
    opened: int = 0
    failed: int = 0
    dropped: int = 0  # a stream that ended early (other than the server's own "bye" at max_s)
    events: int = 0
    arrivals: list[tuple[float, str]] = field(default_factory=list)  # dispatchers' (wall time, timeline cursor)




def request_mix(devices: list[str], customer_devices: list[str], tech_devices: list[str]) -> list[tuple[str, str]]:
    """(role, path) pairs: mostly route boards (the board and its KPIs are re-read on every live change), then
    the lists a dispatcher opens, a technician's phone and customers' portals."""
    now = datetime.now(UTC)
    window = f"start={(now - timedelta(hours=1)).isoformat()}&end={now.isoformat()}".replace("+", "%2B")
    mix = [("dispatcher", "/api/board")] * 8 + [("dispatcher", "/api/board/kpis")] * 6
    mix += [("dispatcher", "/api/plans/current")] * 4
    mix += [("dispatcher", "/api/incidents?open_only=true"), ("dispatcher", "/api/work-orders"),
            ("dispatcher", "/api/technicians"), ("dispatcher", "/api/devices?limit=100")]
    mix += [("dispatcher", f"/api/devices/{d}/telemetry/latest") for d in devices[:4]]
    mix += [("dispatcher", f"/api/devices/{d}/telemetry?{window}&bucket_s=60") for d in devices[:2]]
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


async def client_loop(http: httpx.AsyncClient, tokens: dict[str, str], mix: list[tuple[str, str]], deadline: float,
                      tally: Tally, seed: int) -> None:
    """One simulated user: a request, its answer, the next request (closed loop, no think time)."""
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        role, path = rng.choice(mix)
        started = time.perf_counter()
        status = ""
        try:
            r = await http.get(path, headers={"Authorization": f"Bearer {tokens[role]}"})
            status = str(r.status_code)
            failed = r.status_code >= 400
        except httpx.HTTPError as exc:
            status, failed = type(exc).__name__, True
        if tally.measuring:
            ms = (time.perf_counter() - started) * 1000
            tally.statuses[status] += 1
            tally.errors += failed
            tally.latencies_ms.append(ms)
            tally.by_route[route_of(path)].append(ms)


async def stream_loop(http: httpx.AsyncClient, token: str, deadline: float, live: LiveTally, timed: bool,
                      measuring: list[bool]) -> None:
    """One open board: reads /api/live until the deadline, reconnecting like the page does when a stream ends.

    ``timed`` (dispatchers) records each ``change`` event's arrival and timeline cursor; the parent matches the
    cursor to the writer's commit of that event id, so change delay = arrival - commit wall time."""
    while time.monotonic() < deadline:
        try:
            async with http.stream("GET", "/api/live", headers={"Authorization": f"Bearer {token}"},
                                   timeout=httpx.Timeout(REQUEST_TIMEOUT_S, read=60.0)) as r:
                if r.status_code != 200:
                    live.failed += measuring[0]
                    await asyncio.sleep(1.0)
                    continue
                live.opened += 1
                buf = ""
                async for chunk in r.aiter_text():
                    buf += chunk
                    while "\n\n" in buf:
                        block, buf = buf.split("\n\n", 1)
                        if block.startswith("event: change") and measuring[0]:
                            live.events += 1
                            if timed:
                                data = json.loads(block.split("data: ", 1)[1])
                                live.arrivals.append((time.time(), str(data.get("timeline"))))
                    if time.monotonic() >= deadline:
                        return
                if time.monotonic() < deadline and "event: bye" not in buf:
                    live.dropped += measuring[0]
        except httpx.HTTPError:
            if time.monotonic() < deadline:
                live.failed += measuring[0]
                await asyncio.sleep(1.0)


def writer(url: str, customer_id: int, device_id: str, stop: threading.Event, writes: list[tuple[float, str]],
           ) -> None:
    """A board-visible change every WRITE_EVERY_S: a timeline event, committed; (commit wall time, its id)."""
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.wait(WRITE_EVERY_S):
            row = conn.execute("INSERT INTO timeline_events (device_id, customer_id, at, kind, summary) "
                               "VALUES (%s, %s, now(), 'note', 'bench change') RETURNING id",
                               (device_id, customer_id)).fetchone()
            assert row is not None
            writes.append((time.time(), str(row[0])))


@dataclass(frozen=True)
class Share:
    """One generator process's part of the load: its clients and its slice of the streams (by role)."""
    base: str
    tokens: dict[str, str]
    mix: list[tuple[str, str]]
    clients: int
    stream_roles: tuple[str, ...]
    start_wall: float  # every process starts warming up at this wall time, so the windows line up
    duration_s: float
    seed: int


async def run_load(share: Share) -> tuple[Tally, LiveTally, float]:
    """``share.clients`` request loops and the share's live streams over one httpx client, a connection each."""
    tally, live = Tally(), LiveTally()
    measuring = [False]
    n = share.clients + len(share.stream_roles)
    limits = httpx.Limits(max_connections=n + 5, max_keepalive_connections=n)
    await asyncio.sleep(max(0.0, share.start_wall - time.time()))
    async with httpx.AsyncClient(base_url=share.base, timeout=REQUEST_TIMEOUT_S, limits=limits) as http:
        deadline = time.monotonic() + WARMUP_S + share.duration_s
        streams = [asyncio.create_task(stream_loop(http, share.tokens[role], deadline, live, role == "dispatcher",
                                                   measuring)) for role in share.stream_roles]
        clients = [asyncio.create_task(client_loop(http, share.tokens, share.mix, deadline, tally, share.seed + i))
                   for i in range(share.clients)]
        await asyncio.sleep(WARMUP_S)
        tally.measuring = measuring[0] = True
        started = time.monotonic()
        await asyncio.gather(*clients)
        elapsed = time.monotonic() - started
        measuring[0] = False  # a stream waiting for its next event at the deadline is not a drop
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        return tally, live, elapsed


def generator_process(share: Share, out: Any) -> None:
    """Process entry point: run the share, send back plain data (and this process's CPU seconds)."""
    tally, live, elapsed = asyncio.run(run_load(share))
    out.put({"latencies": tally.latencies_ms, "by_route": dict(tally.by_route), "statuses": dict(tally.statuses),
             "errors": tally.errors, "opened": live.opened, "failed": live.failed, "dropped": live.dropped,
             "events": live.events, "arrivals": live.arrivals, "elapsed": elapsed, "cpu_s": time.process_time()})


def run_generators(base: str, tokens: dict[str, str], mix: list[tuple[str, str]], clients: int, streams: int,
                   duration_s: float, generators: int) -> tuple[Tally, LiveTally, float, float]:
    """The load, split over ``generators`` processes: one Python process driving 400 connections through httpx
    spent ~8 ms of CPU per request and became the bottleneck (measured: server idle, client latency seconds)."""
    from bench import api_load as me  # by module name, not __main__: what spawned children can import

    n_disp = int(streams * 0.8)
    roles = ["dispatcher" if i < n_disp else ("customer" if i < streams - 1 else "technician") for i in range(streams)]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_wall = time.time() + 3.0  # after every process has imported httpx
    procs = [ctx.Process(target=me.generator_process, daemon=True, args=(me.Share(
        base, tokens, mix, clients // generators + (g < clients % generators), tuple(roles[g::generators]),
        start_wall, duration_s, 1000 * g), out)) for g in range(generators)]
    for proc in procs:
        proc.start()
    parts = [out.get(timeout=WARMUP_S + duration_s + 120) for _ in procs]
    for proc in procs:
        proc.join(10)
    tally, live = Tally(), LiveTally()
    for part in parts:
        tally.latencies_ms += part["latencies"]
        for route, values in part["by_route"].items():
            tally.by_route[route] += values
        tally.statuses.update(part["statuses"])
        tally.errors += part["errors"]
        live.opened += part["opened"]
        live.failed += part["failed"]
        live.dropped += part["dropped"]
        live.events += part["events"]
        live.arrivals += [tuple(a) for a in part["arrivals"]]
    return tally, live, max(p["elapsed"] for p in parts), sum(p["cpu_s"] for p in parts)


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
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "bench.api_load:make_app", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(cmd, env=env, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).json().get("database"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become healthy in time")


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


def change_delays_ms(live: LiveTally, writes: list[tuple[float, str]]) -> list[float]:
    """Each timed change event against the commit of the timeline event it announces (others are skipped)."""
    committed = {event_id: at for at, event_id in writes}
    return [(arrived - committed[cursor]) * 1000 for arrived, cursor in live.arrivals if cursor in committed]


def summarise(tally: Tally, live: LiveTally, args: argparse.Namespace, elapsed_s: float,
              ingest: dict[str, Any], loads: list[float], command: str, cpu_s: float,
              change_ms: list[float]) -> dict[str, object]:
    requests = len(tally.latencies_ms)
    routes = {r: {"n": len(v), "p50_ms": round(percentile(v, 0.50), 1), "p99_ms": round(percentile(v, 0.99), 1)}
              for r, v in sorted(tally.by_route.items()) if r.startswith(("/api/board", "/api/plans"))}
    return {"clients": args.clients, "streams": args.streams, "concurrent": args.clients + args.streams,
            "duration_s": round(elapsed_s, 2), "requests": requests,
            "requests_per_s": round(requests / elapsed_s, 1) if elapsed_s > 0 else 0.0,
            "p50_ms": round(percentile(tally.latencies_ms, 0.50), 2),
            "p99_ms": round(percentile(tally.latencies_ms, 0.99), 2),
            "errors": tally.errors + live.failed + live.dropped,
            "status_counts": dict(sorted(tally.statuses.items())), "board_routes": routes,
            "live": {"streams_opened": live.opened, "failed": live.failed, "dropped": live.dropped,
                     "change_events": live.events, "change_p50_ms": round(percentile(change_ms, 0.50), 1),
                     "change_p99_ms": round(percentile(change_ms, 0.99), 1), "write_every_s": WRITE_EVERY_S},
            # Server CPU per answered request (streams' work included): comparable across runs on a shared host
            # where wall-clock figures depend on what else runs.
            "server_cpu_s": round(cpu_s, 1),
            "server_cpu_ms_per_request": round(1000 * cpu_s / requests, 2) if requests else None,
            "ingest": ingest, "server_workers": args.workers, "generators": args.generators,
            "load_avg_1m": {"start": loads[0], "max": max(loads), "end": loads[-1]}, "cpus": os.cpu_count(),
            "command": command, "finished_at": datetime.now().astimezone().isoformat(timespec="seconds")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200, help="concurrent HTTP clients (one connection each)")
    parser.add_argument("--streams", type=int, default=200, help="open live-update streams (SSE)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of measured load")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--generators", type=int, default=4, help="load-generator processes (clients split over them)")
    parser.add_argument("--devices", type=int, default=300, help="seeded devices")
    parser.add_argument("--ingest-rate", type=float, default=37_500.0,
                        help="readings/s published during the load (0 = no ingest); half of bench.ingest's ~75k/s")
    parser.add_argument("--ingest-workers", type=int, default=2, help="`quietfix ingest` processes")
    parser.add_argument("--readings-per-message", type=int, default=1000)
    parser.add_argument("--database", default="quietfix_bench_api", help="scratch database (dropped after)")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 5000 and 0 <= args.streams <= 5000 and 0 < args.duration <= 600):
        parser.error("clients must be 1..5000, streams 0..5000 and duration 0..600 s")
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
                            WARMUP_S + args.duration + 30.0, args.readings_per_message)
            ingest.start()
            time.sleep(3.0)  # the publisher's process start-up; the rate settles before the load starts
            log(f"ingest running: {args.ingest_workers} workers, publishing {args.ingest_rate:,.0f} readings/s")
        tokens = {}
        from quietfix.seed import DEMO_PASSWORD

        for role, user in (("dispatcher", "dispatcher"), ("customer", "customer001"), ("technician", "tech01")):
            r = httpx.post(f"{base}/api/auth/token", json={"username": user, "password": DEMO_PASSWORD}, timeout=10)
            r.raise_for_status()
            tokens[role] = r.json()["access_token"]
        mix = request_mix(world["devices"], world["customer_devices"], world["tech_devices"])
        threading.Thread(target=writer, args=(url, world["customer_id"], world["devices"][0], stop, writes),
                         daemon=True).start()
        log(f"server up on {base}; {len(mix)} request kinds; {args.clients} clients + {args.streams} streams")
        committed0 = ingest.committed() if ingest else 0
        t0 = time.monotonic()
        sampler_stop = threading.Event()

        def sample_load() -> None:
            while not sampler_stop.wait(5.0):
                loads.append(os.getloadavg()[0])

        threading.Thread(target=sample_load, daemon=True).start()
        cpu0 = server_cpu_s(proc)
        tally, live, elapsed, generator_cpu_s = run_generators(base, tokens, mix, args.clients, args.streams,
                                                               args.duration, args.generators)
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
                       change_delays_ms(live, writes))
    # The load generator's own CPU: when it nears a core, latencies include its queueing, not the server's.
    result["generator_cpu_s"] = round(generator_cpu_s, 1)
    log(f"done: {result['requests']} requests, {result['errors']} errors")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
