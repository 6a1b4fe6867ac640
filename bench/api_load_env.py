"""The world bench/api_load.py runs in: scratch database, distinct users, the API server, ingest, the writer.

Split from bench/api_load.py (which runs the generators and reports the figures; the simulated users are in
bench/api_load_users.py) so each file reads on its own.
"""

from __future__ import annotations

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
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.procs import stop_processes
from core.db import drop_database, ensure_database
from core.migrate import migrate
from core.settings import load_settings

# How long the server gets to start (migrations are done beforehand; this is import time plus the pool).
SERVER_START_TIMEOUT_S = 60.0
# The writer's mean period: one board-visible change (timeline event) every 2 s.
WRITE_EVERY_S = 2.0
# Open work orders in the seeded region (a third assigned, the rest planned later in routes or unassigned).
OPEN_JOBS = 45
# uvicorn's default keep-alive (what `quietfix api` runs with).
SERVER_KEEPALIVE_S = 5.0
# Sign-ins run in parallel before the load (argon2 verification costs the server ~tens of ms each).
SIGN_IN_THREADS = 4
# On a loaded host several argon2 verifications at once can take seconds each; sign-in is outside the window.
SIGN_IN_TIMEOUT_S = 60.0


def log(message: str) -> None:
    print(f"[api_load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class BenchUser:
    """One distinct account of the scratch database: its role, the customer or technician it is bound to (its
    scope) and the devices it may open (a customer's own assets; a technician's first assigned job's device)."""

    username: str
    role: str
    customer_id: int | None
    technician_id: int | None
    devices: tuple[str, ...]


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


def prepare_database(url: str, devices: int, technicians: int = 0) -> dict[str, Any]:
    """Scratch database: migrated, seeded, an hour of telemetry for 20 devices, OPEN_JOBS open work orders of
    which a third are assigned, all of them on a current plan's routes (what a busy board shows)."""
    from quietfix.seed import seed

    drop_database(url)
    ensure_database(url)
    report = migrate(url)
    with psycopg.connect(url) as conn:
        seeded = seed(conn, devices=devices, technicians=max(2, devices // 20, technicians), users=True)
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
    by_customer: dict[int, list[str]] = {}
    for d in seeded:
        by_customer.setdefault(d.customer_id, []).append(d.device_id)
    # Jobs 0..len(techs)-1 are each technician's first (assigned) stop: its phone may open that device.
    tech_device = {techs[j]: seeded[j].device_id for j in range(min(OPEN_JOBS, len(techs)))}
    return {"by_customer": by_customer, "techs": techs, "tech_device": tech_device,
            "devices": [d.device_id for d in seeded], "customer_devices": customer1,
            "tech_devices": [seeded[0].device_id], "customer_id": seeded[0].customer_id,
            "typed": [(d.device_id, d.equipment_type) for d in seeded], "storage": report.storage}



def start_server(url: str, port: int, workers: int, logins: int = 0) -> subprocess.Popen[bytes]:
    env = {**os.environ, "QUIETFIX_DATABASE_URL": url, "QUIETFIX_LOG_LEVEL": "WARNING",
           # Every simulated user signs in once, from one address, before the load: not a brute-force attempt.
           "QUIETFIX_SECURITY__LOGIN_ATTEMPTS": str(max(1000, 2 * logins))}
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
    with urllib.request.urlopen(req, timeout=SIGN_IN_TIMEOUT_S) as r:
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


def create_users(url: str, world: dict[str, Any], roles: list[str]) -> list[BenchUser]:
    """One distinct account per simulated user (bench-<role>-<n>, the demo password), bound round-robin to the
    seeded technicians and customers: every phone and portal is its own scope, as in production, instead of one
    shared login per role (which made every customer one feed and one cache entry)."""
    from api.auth import hash_password
    from quietfix.seed import DEMO_PASSWORD

    hashed = hash_password(DEMO_PASSWORD)
    customers = sorted(world["by_customer"])
    made: list[BenchUser] = []
    counts: dict[str, int] = {}
    for role in roles:
        k = counts[role] = counts.get(role, 0) + 1
        cid = customers[(k - 1) % len(customers)] if role == "customer" else None
        tid = world["techs"][(k - 1) % len(world["techs"])] if role == "technician" else None
        devices = (tuple(world["by_customer"][cid]) if cid is not None
                   else (world["tech_device"][tid],) if tid in world["tech_device"] else ())
        made.append(BenchUser(f"bench-{role}-{k:04d}", role, cid, tid, devices))
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO users (username, password_hash, role, customer_id, technician_id) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        [(u.username, hashed, u.role, u.customer_id, u.technician_id) for u in made])
    return made


def sign_in_all(base: str, users: list[BenchUser]) -> list[str]:
    """Each user's own bearer token (signed in before the load window, in parallel)."""
    from quietfix.seed import DEMO_PASSWORD

    with ThreadPoolExecutor(SIGN_IN_THREADS) as pool:
        return list(pool.map(lambda u: sign_in(base, u.username, DEMO_PASSWORD), users))
