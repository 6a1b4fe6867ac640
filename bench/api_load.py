"""API under load: N concurrent signed-in clients against a real uvicorn server on a scratch database.

    python -m bench.api_load [--clients 200] [--duration 20] [--workers 1] [--devices 300]

Creates (and afterwards drops) a scratch database, migrates and seeds it, starts ``uvicorn`` in a subprocess on a
free loopback port, signs in as a dispatcher, a customer and a technician, then runs ``--clients`` asyncio
clients (one httpx AsyncClient, a connection per client) that loop over a read mix of the API's main routes until ``--duration``
elapses. Progress goes to stderr; the last stdout line is one JSON object:
``clients, duration_s, requests, requests_per_s, p50_ms, p99_ms, errors, status_counts, server_workers``.
The client runs on the same machine as the server, so on a small host it competes for the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from core.db import drop_database, ensure_database
from core.migrate import migrate
from core.settings import load_settings

# How long the server gets to start (migrations are done beforehand; this is import time plus the pool).
SERVER_START_TIMEOUT_S = 30.0
# A request slower than this counts as an error: the user gave up long before.
REQUEST_TIMEOUT_S = 10.0


def log(message: str) -> None:
    print(f"[api_load] {message}", file=sys.stderr, flush=True)


def make_app():
    from api.app import create_app

    return create_app(load_settings())


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summarise(tally: Tally, clients: int, elapsed_s: float, workers: int) -> dict[str, object]:
    requests = len(tally.latencies_ms)
    return {"clients": clients, "duration_s": round(elapsed_s, 2), "requests": requests,
            "requests_per_s": round(requests / elapsed_s, 1) if elapsed_s > 0 else 0.0,
            "p50_ms": round(percentile(tally.latencies_ms, 50), 2),
            "p99_ms": round(percentile(tally.latencies_ms, 99), 2), "errors": tally.errors,
            "status_counts": dict(sorted(tally.statuses.items())), "server_workers": workers}


def request_mix(devices: list[str], customer_devices: list[str], tech_devices: list[str]) -> list[tuple[str, str]]:
    """(role, path) pairs weighted like a route board plus portal users: mostly lists and a device's page."""
    now = datetime.now(UTC)
    window = f"start={(now - timedelta(hours=1)).isoformat()}&end={now.isoformat()}".replace("+", "%2B")
    mix = [("dispatcher", "/api/devices?limit=100"), ("dispatcher", "/api/incidents?open_only=true"),
           ("dispatcher", "/api/work-orders"), ("dispatcher", "/api/technicians")]
    mix += [("dispatcher", f"/api/devices/{d}/telemetry/latest") for d in devices[:20]]
    mix += [("dispatcher", f"/api/devices/{d}/telemetry?{window}&bucket_s=60") for d in devices[:5]]
    mix += [("customer", "/api/devices"), ("customer", "/api/incidents")]
    mix += [("customer", f"/api/devices/{d}/timeline?limit=50") for d in customer_devices[:5]]
    mix += [("technician", "/api/work-orders")]
    mix += [("technician", f"/api/devices/{d}") for d in tech_devices[:3]]
    return mix


async def client_loop(http: httpx.AsyncClient, tokens: dict[str, str], mix: list[tuple[str, str]], deadline: float,
                      tally: Tally, seed: int) -> None:
    """One simulated user: a request, its answer, the next request (closed loop, no think time)."""
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        role, path = rng.choice(mix)
        started = time.perf_counter()
        try:
            r = await http.get(path, headers={"Authorization": f"Bearer {tokens[role]}"})
            tally.statuses[str(r.status_code)] += 1
            if r.status_code >= 400:
                tally.errors += 1
        except httpx.HTTPError as exc:
            tally.statuses[type(exc).__name__] += 1
            tally.errors += 1
        tally.latencies_ms.append((time.perf_counter() - started) * 1000)


async def run_load(base: str, tokens: dict[str, str], mix: list[tuple[str, str]], clients: int,
                   duration_s: float) -> tuple[Tally, float]:
    """``clients`` concurrent users over one httpx client with a connection each (``max_connections=clients``).

    One shared AsyncClient, not one per user: building 200 clients (each with its own TLS context) costs the
    load generator seconds of CPU that would show up as server latency.
    """
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S, limits=limits) as http:
        started = time.monotonic()
        deadline = started + duration_s
        await asyncio.gather(*(client_loop(http, tokens, mix, deadline, tally, i) for i in range(clients)))
        return tally, time.monotonic() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_database(url: str, devices: int) -> tuple[list[str], list[str], list[str]]:
    """Scratch database: migrated, seeded, an hour of telemetry for 20 devices, one job for tech01."""
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
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO telemetry_samples (device_id, ts, signals, readings) "
                            "VALUES (%s, %s, %s, %s)", rows)
            cur.executemany("INSERT INTO telemetry_latest VALUES (%s, 'pressure_bar', %s, 4.2)",
                            [(d.device_id, now) for d in seeded])
            first = seeded[0]
            cur.execute("INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, "
                        "summary, opened_at, response_due, onsite_due, repair_due) VALUES (%s, %s, 'bench', "
                        "'bench', 2, 'work_order', 'bench', %s, %s, %s, %s) RETURNING id",
                        (first.device_id, first.customer_id, now, now, now + timedelta(hours=2),
                         now + timedelta(hours=24)))
            row = cur.fetchone()
            assert row is not None
            incident = row[0]
            cur.execute("INSERT INTO work_orders (incident_id, device_id, customer_id, lat, lon, created_at, "
                        "onsite_due, technician_id, status) SELECT %s, %s, %s, %s, %s, %s, %s, id, 'assigned' "
                        "FROM technicians WHERE code = 'T01'",
                        (incident, first.device_id, first.customer_id, first.lat, first.lon, now,
                         now + timedelta(hours=2)))
        conn.commit()
    customer1 = [d.device_id for d in seeded if d.customer_id == seeded[0].customer_id]
    return [d.device_id for d in seeded], customer1, [seeded[0].device_id]


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients (one connection each)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--devices", type=int, default=300, help="seeded devices")
    parser.add_argument("--database", default="quietfix_bench_api", help="scratch database (dropped after)")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 5000 and 0 < args.duration <= 600):
        parser.error("clients must be 1..5000 and duration 0..600 s")
    url = psycopg.conninfo.make_conninfo(load_settings().database_url, dbname=args.database)
    log(f"clients={args.clients} duration={args.duration}s workers={args.workers} devices={args.devices} db={args.database}")
    devices, customer_devices, tech_devices = prepare_database(url, args.devices)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(url, port, args.workers)
    try:
        wait_ready(base, proc)
        tokens = {}
        for role, user in (("dispatcher", "dispatcher"), ("customer", "customer001"), ("technician", "tech01")):
            from quietfix.seed import DEMO_PASSWORD

            r = httpx.post(f"{base}/api/auth/token", json={"username": user, "password": DEMO_PASSWORD}, timeout=10)
            r.raise_for_status()
            tokens[role] = r.json()["access_token"]
        mix = request_mix(devices, customer_devices, tech_devices)
        log(f"server up on {base}; {len(mix)} request kinds; loading")
        tally, elapsed = asyncio.run(run_load(base, tokens, mix, args.clients, args.duration))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        drop_database(url)
    result = summarise(tally, args.clients, elapsed, args.workers)
    log(f"done: {result['requests']} requests, {result['errors']} errors")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
