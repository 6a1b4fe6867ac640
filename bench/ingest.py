"""Ingest benchmark: publisher(s) → a private Mosquitto → N `quietfix ingest` processes → a scratch database.

    python -m bench.ingest --devices 200 --readings-per-message 1000 --seconds 60 --workers 2 --rate 0

Everything runs against real servers but never the shared ones' state: a private Mosquitto (the project's
configuration, `tests/services.PrivateBroker`) on a free port and a scratch database on the local PostgreSQL,
dropped at the end. Progress goes to stderr; the last stdout line is one JSON object.

Latency (device timestamp → committed row): a poller in this process reads new `ingest_batches` rows every
``POLL_S``; a batch's row is visible exactly when its transaction (claim + COPY) has committed, so
``seen_wall - last_ts`` is the delay from the *newest* sample of the message to its committed rows, plus at most
one poll interval (an over-estimate of ≤ POLL_S). The newest sample is the moment the device closes and publishes
the batch; older samples of the batch also waited on the device, which is the device's batching choice.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.ingest_publisher import PublisherConfig, run_publisher
from bench.procs import stop_processes
from bench.stats import percentile
from core.broker import upsert_credentials
from core.contracts import Sample
from core.db import drop_database, ensure_database
from core.migrate import migrate
from core.settings import load_settings
from edge_agent.simulator import NOMINAL
from ingest.copy_rows import SIGNATURE, TRAILER, encode_rows
from quietfix.seed import seed
from tests.services import ROOT, PrivateBroker

BENCH_USER = "qf-bench"  # publishes for every device: the one ACL difference from a real fleet
BENCH_PASSWORD = "qf-bench-local"
POLL_S = 0.05  # latency poller period: the latency figure over-estimates by at most this
POLL_ID_MARGIN = 5000  # ids are assigned at insert, not commit: re-read this many below the highest seen
PROGRESS_EVERY_S = 5.0
DRAIN_TIMEOUT_S = 120.0  # after publishing stops, how long ingest may take to commit the broker's backlog
SEQ_BASE = 1_000  # any base works: the database is new
POLLER_APP = "qf-bench-poller"  # excluded from the PostgreSQL CPU figure


@dataclass
class BenchConfig:
    devices: int = 200
    readings_per_message: int = 1000
    seconds: float = 60.0
    workers: int = 2
    rate: float = 0.0
    speed: float = 1.0
    publishers: int = 1
    inflight: int = 100
    ceiling_rows: int = 1_000_000
    database_url: str = ""  # base URL of the server; a scratch database is created next to it
    ingest_env: dict[str, str] = field(default_factory=dict)
    profile_dir: str = ""  # run the workers under cProfile, writing ingest-<i>.prof there
    slow_encoder: bool = False  # publish with edge_agent's encode_batch (stdlib json) instead of orjson


def log(msg: str) -> None:
    print(f"[bench.ingest {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)




def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (Linux), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class CommitPoller(threading.Thread):
    """Sees each committed batch once and records when it became visible (wall time)."""

    def __init__(self, url: str) -> None:
        super().__init__(name="commit-poller", daemon=True)
        self.url = url
        self.stop_event = threading.Event()
        self.seen: dict[int, tuple[float, int, float, float]] = {}  # id -> (seen_wall, readings, last_ts, received)
        self.lock = threading.Lock()
        self.error: Exception | None = None

    def committed_readings(self, until_wall: float | None = None) -> int:
        with self.lock:
            return sum(r for w, r, _, _ in self.seen.values() if until_wall is None or w <= until_wall)

    def committed_batches(self, until_wall: float | None = None) -> int:
        with self.lock:
            return sum(1 for w, _, _, _ in self.seen.values() if until_wall is None or w <= until_wall)

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True, application_name=POLLER_APP) as conn:
                high = 0
                while not self.stop_event.is_set():
                    self.poll(conn, high)
                    with self.lock:
                        high = max(self.seen, default=0)
                    self.stop_event.wait(POLL_S)
                self.poll(conn, high)
        except Exception as exc:  # noqa: BLE001 - any failure is re-raised by the main thread
            self.error = exc

    def poll(self, conn: psycopg.Connection, high: int) -> None:
        rows = conn.execute("SELECT id, readings, extract(epoch FROM last_ts)::float8, "
                            "extract(epoch FROM received_at)::float8 FROM ingest_batches WHERE id > %s",
                            (high - POLL_ID_MARGIN,)).fetchall()
        now = time.time()
        with self.lock:
            for bid, readings, last_ts, received in rows:
                if bid not in self.seen:
                    self.seen[bid] = (now, readings, last_ts, received)


def ingest_backends(url: str) -> list[int]:
    """PostgreSQL backend pids serving the scratch database, except the latency poller and this query."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
                            "AND application_name <> %s", (POLLER_APP,)).fetchall()
    return [int(r[0]) for r in rows]


def scratch_url(base_url: str) -> str:
    name = f"quietfix_bench_{os.getpid()}_{int(time.time())}"
    return psycopg.conninfo.make_conninfo(base_url, dbname=name)


def copy_ceiling(url: str, data: list[bytes], rows: int) -> float:
    """Rows/s of a plain binary COPY of ``data`` (pre-encoded sample rows, the bytes ingest would send) into a
    fresh table with telemetry_samples' columns, CHECK and indexes. Only the COPY is timed: this is the
    database's ceiling for this row shape, not Python's."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy_ceiling")
        conn.execute("CREATE TABLE bench_copy_ceiling (LIKE telemetry_samples INCLUDING CONSTRAINTS)")
        conn.execute("CREATE INDEX ON bench_copy_ceiling (device_id, ts DESC)")
        conn.execute("CREATE INDEX ON bench_copy_ceiling USING brin (ts) WITH (pages_per_range = 32)")
        t0 = time.perf_counter()
        sql = "COPY bench_copy_ceiling (device_id, ts, signals, readings, batch_id) FROM STDIN (FORMAT BINARY)"
        with conn.transaction(), conn.cursor() as cur, cur.copy(sql) as cp:
            cp.write(SIGNATURE)
            for block in data:
                cp.write(block)
            cp.write(TRAILER)
        elapsed = time.perf_counter() - t0
        conn.execute("DROP TABLE bench_copy_ceiling")
    return rows / elapsed


def ceiling_rows(devices: list[tuple[str, str]], n_readings: int, readings_per_message: int,
                 t0: float) -> tuple[list[bytes], int, int]:
    """The sample rows ingest writes for ``n_readings`` readings, in its order (one message's samples together,
    messages round-robin over the devices as the publisher sends them), binary-encoded per message.
    Returns (blocks, rows, readings)."""
    blocks: list[bytes] = []
    rows = readings = m = 0
    while readings < n_readings:
        device_id, eq = devices[m % len(devices)]
        names = NOMINAL[eq]
        n_samples = max(1, readings_per_message // len(names))
        samples = [Sample(int((t0 - 3600 + m * 0.2) * 1000) + j, tuple(names.items())) for j in range(n_samples)]
        encoded = encode_rows(device_id, samples)
        blocks.append(encoded.data)
        rows += encoded.rows
        readings += encoded.readings
        m += 1
    return blocks, rows, readings


def start_ingest_workers(cfg: BenchConfig, url: str, broker: PrivateBroker, speed: float,
                         logdir: Path) -> list[subprocess.Popen]:
    base = load_settings()
    procs = []
    for i in range(cfg.workers):
        env = {**os.environ, "QUIETFIX_DATABASE_URL": url, "QUIETFIX_MQTT_URL": broker.url,
               "QUIETFIX_MQTT_USERNAME": base.mqtt_username, "QUIETFIX_MQTT_PASSWORD": base.mqtt_password,
               "QUIETFIX_INGEST__WORKER_ID": f"bench-ingest-{os.getpid()}-{i}",
               "QUIETFIX_INGEST__SHARED_GROUP": "ingest", "QUIETFIX_LOG_LEVEL": "WARNING",
               **cfg.ingest_env}
        prof = ["-m", "bench.threadprof", f"{cfg.profile_dir}/ingest-{i}.prof"] if cfg.profile_dir else []
        with open(logdir / f"ingest-{i}.log", "wb") as err:  # the child keeps its own descriptor
            procs.append(subprocess.Popen([sys.executable, *prof, "-m", "quietfix.cli", "ingest", "--speed",
                                           str(speed)],
                                          env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err))
    return procs


def wait_subscribed(broker: PrivateBroker, url: str, devices: list[tuple[str, str]], workers: int,
                    timeout_s: float = 30.0) -> None:
    """Every worker connected (broker log) and a status message per device committed (the pipeline works)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    deadline = time.monotonic() + timeout_s
    logfile = broker.dir / "mosquitto.log"
    while True:
        text = logfile.read_text() if logfile.exists() else ""
        if text.count(" as bench-ingest-") >= workers:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("ingest workers did not connect to the broker")
        time.sleep(0.1)
    time.sleep(0.5)  # SUBSCRIBE follows CONNACK
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-status-{os.getpid()}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(BENCH_USER, BENCH_PASSWORD)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                for device_id, _ in devices:
                    client.publish(f"qf/v1/{device_id}/status", b'{"v":1,"state":"online"}', qos=1)
                time.sleep(0.5)
                row = conn.execute("SELECT count(*) FILTER (WHERE online) FROM devices").fetchone()
                if row and row[0] == len(devices):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError("status messages did not reach the database")
    finally:
        client.disconnect()
        client.loop_stop()


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    """The whole benchmark; returns the result dict (the JSON line)."""
    base = load_settings()
    url = scratch_url(cfg.database_url or base.database_url)
    tmp = Path(tempfile.mkdtemp(prefix="qf-bench-ingest-"))
    broker = PrivateBroker(tmp / "broker", base.mqtt_username, base.mqtt_password)
    with (broker.dir / "acl").open("a") as acl:
        acl.write(f"\nuser {BENCH_USER}\ntopic readwrite qf/v1/#\n")
    upsert_credentials(broker.dir / "passwd", [(BENCH_USER, BENCH_PASSWORD)])
    workers: list[subprocess.Popen] = []
    poller: CommitPoller | None = None
    loads: list[float] = [os.getloadavg()[0]]
    try:
        ensure_database(url)
        report = migrate(url)
        with psycopg.connect(url) as conn:
            devices = [(d.device_id, d.equipment_type)
                       for d in seed(conn, devices=cfg.devices, technicians=1, users=False)]
            conn.commit()
        log(f"scratch database ready ({report.storage}), {len(devices)} devices; measuring the COPY ceiling")
        blocks, c_rows, c_readings = ceiling_rows(devices, cfg.ceiling_rows, cfg.readings_per_message, time.time())
        ceiling_rows_s = copy_ceiling(url, blocks, c_rows)
        ceiling = ceiling_rows_s * c_readings / c_rows  # in readings/s, comparable with readings_per_s
        del blocks
        log(f"plain binary COPY ceiling: {ceiling_rows_s:,.0f} sample rows/s = {ceiling:,.0f} readings/s "
            f"({c_rows:,} rows, {c_readings:,} readings)")
        broker.start()
        workers = start_ingest_workers(cfg, url, broker, cfg.speed, tmp)
        wait_subscribed(broker, url, devices, cfg.workers)
        log(f"{cfg.workers} ingest worker(s) subscribed; publishing for {cfg.seconds:.0f} s")
        poller = CommitPoller(url)
        poller.start()
        result = _publish_and_measure(cfg, broker, devices, workers, poller, loads)
        poller.stop_event.set()
        poller.join(10)
        if poller.error is not None:
            raise RuntimeError("commit poller failed") from poller.error
        stored, distinct, rows, batches, dead = _count(url)
        worker_logs = [(tmp / f"ingest-{i}.log").read_text(errors="replace") for i in range(cfg.workers)]
        retry_lines = [line for text in worker_logs for line in text.splitlines() if "database unavailable" in line]
        db_retries = len(retry_lines)
        published = result.pop("published_readings")
        result.update({
            "published": published, "stored": stored, "lost": published - distinct,
            "duplicated": stored - distinct, "sample_rows_stored": rows, "batches_stored": batches,
            "dead_letters": dead,
            "ingest_db_retries": db_retries,
            "ingest_db_retry_reasons": sorted({line[-300:] for line in retry_lines})[:5],
            "copy_ceiling_readings_per_s": round(ceiling),
            "copy_ceiling_rows_per_s": round(ceiling_rows_s),
            "ratio": round(result["readings_per_s"] / ceiling, 3) if ceiling else None,
            "storage": report.storage,
            "units": "readings = signal values (readings_per_s, published, stored, lost, duplicated, "
                     "copy_ceiling_readings_per_s); rows = telemetry_samples rows, one per device sample",
            "load_avg_1m": {"start": loads[0], "max": max(loads), "mean": round(sum(loads) / len(loads), 2)},
            "config": {k: v for k, v in asdict(cfg).items() if k not in ("database_url",)},
            "publisher": "bench.ingest_publisher (lean, QoS 1, "
                         + ("edge_agent.payload.encode_batch)" if cfg.slow_encoder else "orjson, schema v1)"),
            "cpus": os.cpu_count(),
        })
        log(f"sustained {result['readings_per_s']:,} readings/s committed (readings = signal values; "
            f"{rows:,} sample rows for {stored:,} readings), lost={result['lost']}, "
            f"duplicated={result['duplicated']}, p99 {result['p99_latency_ms']} ms")
        return result
    finally:
        if poller is not None:
            poller.stop_event.set()
        stop_processes(workers, timeout_s=15)
        broker.stop(kill=True)
        drop_database(url)
        shutil.rmtree(tmp, ignore_errors=True)


def _publish_and_measure(cfg: BenchConfig, broker: PrivateBroker, devices: list[tuple[str, str]],
                         workers: list[subprocess.Popen], poller: CommitPoller,
                         loads: list[float]) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    t0 = time.time()
    pipes, procs = [], []
    for i in range(cfg.publishers):
        mine = tuple(devices[i::cfg.publishers])
        pcfg = PublisherConfig("127.0.0.1", broker.port, BENCH_USER, BENCH_PASSWORD, mine,
                               cfg.readings_per_message, cfg.rate / cfg.publishers, cfg.seconds, cfg.speed,
                               cfg.inflight, SEQ_BASE, t0, cfg.slow_encoder)
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=run_publisher, args=(pcfg, child, f"bench-pub-{os.getpid()}-{i}"), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    last: list[dict[str, Any]] = [{} for _ in procs]
    started: list[float] = []
    finals: list[dict[str, Any] | None] = [None for _ in procs]
    cpu0 = {p.pid: cpu_seconds(p.pid) for p in workers}
    pg_pids = ingest_backends(poller.url)
    pg_cpu0 = {pid: cpu_seconds(pid) for pid in pg_pids}
    next_progress = time.time() + PROGRESS_EVERY_S
    publish_end: float | None = None
    while any(f is None for f in finals):
        for i, pipe in enumerate(pipes):
            while finals[i] is None and pipe.poll(0.05):
                msg = pipe.recv()
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                if "started" in msg:
                    started.append(msg["started"])
                    continue
                last[i] = msg
                if msg.get("final"):
                    finals[i] = msg
        if publish_end is None and len(started) == len(procs) and time.time() - max(started) >= cfg.seconds:
            publish_end = time.time()
            worker_cpu = {p.pid: cpu_seconds(p.pid) - cpu0[p.pid] for p in workers}
            pg_cpu = sum(cpu_seconds(pid) - pg_cpu0[pid] for pid in pg_pids)
            publisher_cpu = [cpu_seconds(p.pid or 0) for p in procs]
            broker_cpu = cpu_seconds(broker.proc.pid) if broker.proc else 0.0
        if time.time() >= next_progress:
            loads.append(os.getloadavg()[0])
            pub = sum(m.get("published", {}).get("readings", 0) for m in last)
            log(f"t={time.time() - t0:5.1f}s published {pub:,} readings, committed "
                f"{poller.committed_readings():,}; load {loads[-1]:.2f}")
            next_progress += PROGRESS_EVERY_S
        if any(not p.is_alive() for p, f in zip(procs, finals) if f is None) and all(
                not pipe.poll() for pipe in pipes):
            raise RuntimeError("a publisher process died")
    if publish_end is None:
        publish_end = time.time()
        worker_cpu = {p.pid: cpu_seconds(p.pid) - cpu0[p.pid] for p in workers}
        pg_cpu = sum(cpu_seconds(pid) - pg_cpu0[pid] for pid in pg_pids)
        publisher_cpu = [0.0 for _ in procs]  # already exited: not measured
        broker_cpu = cpu_seconds(broker.proc.pid) if broker.proc else 0.0
    window_start = min(started)
    window_s = publish_end - window_start
    # Readings committed while publishing (the first commits need a published message, so none precede it).
    in_window = poller.committed_readings(until_wall=publish_end)
    in_window_messages = poller.committed_batches(until_wall=publish_end)
    published_readings = sum(f["acked"]["readings"] for f in finals if f)
    published_messages = sum(f["acked"]["messages"] for f in finals if f)
    unacked = sum(f["unacked"] for f in finals if f)
    log(f"publishing done: {published_readings:,} readings in {published_messages:,} messages acked "
        f"({unacked} unacked); draining")
    deadline = time.time() + DRAIN_TIMEOUT_S
    while poller.committed_readings() < published_readings and time.time() < deadline:
        time.sleep(0.2)
    drained = time.time()
    # After the drain every published message has been received, decoded, committed and acknowledged: the
    # workers' CPU since the window opened, over what they stored, is the cost per message and per reading.
    total_cpu = sum(cpu_seconds(p.pid) - cpu0[p.pid] for p in workers)
    all_messages = poller.committed_batches()
    all_readings = poller.committed_readings()
    with poller.lock:
        seen = list(poller.seen.values())
    last_commit = max((w for w, _, _, _ in seen), default=drained)
    # Device time -> wall time (the publisher's device clock runs `speed` times faster from t0).
    lat = [(w - (t0 + (ts - t0) / cfg.speed)) * 1000 for w, _, ts, _ in seen]
    weights = [r for _, r, _, _ in seen]
    lat_readings = [x for x, r in zip(lat, weights) for _ in range(max(1, r // 100))]  # weight by readings
    return {
        "readings_per_s": round(in_window / window_s),
        "messages_per_s": round(published_messages / window_s),
        "published_per_s": round(published_readings / window_s),
        "end_to_end_readings_per_s": round(published_readings / max(1e-9, last_commit - window_start)),
        "p50_latency_ms": round(percentile(lat, 0.50), 1),
        "p99_latency_ms": round(percentile(lat, 0.99), 1),
        "max_latency_ms": round(max(lat, default=float("nan")), 1),
        "p99_latency_ms_reading_weighted": round(percentile(lat_readings, 0.99), 1),
        "latency_poll_ms": POLL_S * 1000,
        "window_s": round(window_s, 2),
        "drain_s": round(last_commit - publish_end, 2),
        "published_messages": published_messages,
        "published_readings": published_readings,
        "unacked_at_end": unacked,
        "ingest_cpu_s_per_worker": [round(v, 1) for v in worker_cpu.values()],
        "publisher_cpu_s": [round(v, 1) for v in publisher_cpu],  # incl. start-up imports
        "broker_cpu_s": round(broker_cpu, 1),
        # The ingest workers' PostgreSQL backends (on this machine, from /proc) during the window: with the
        # workers' own CPU this is the load-independent cost of ingest; WAL writer/checkpointer not included.
        "postgres_ingest_backends_cpu_s": round(pg_cpu, 1),
        # The whole worker path (paho receive, decode, claim, COPY, commit, broker and device acks) per message and
        # per reading: the ingest processes' CPU seconds from the window's start to the end of the drain, over
        # everything they committed (idle polling during the drain included). Load-insensitive, unlike rates.
        "ingest_cpu_s_total": round(total_cpu, 2),
        "ingest_cpu_us_per_message": round(total_cpu / max(1, all_messages) * 1e6, 1),
        "ingest_cpu_us_per_reading": round(total_cpu / max(1, all_readings) * 1e6, 3),
        "ingest_messages_per_cpu_s": round(all_messages / max(1e-9, total_cpu)),
        "ingest_readings_per_cpu_s": round(all_readings / max(1e-9, total_cpu)),
        "messages_committed_in_window": in_window_messages,
        "cpu_s_per_million_readings": {
            "ingest_workers": round(sum(worker_cpu.values()) / max(1, in_window) * 1e6, 2),
            "postgres_backends": round(pg_cpu / max(1, in_window) * 1e6, 2)},
    }


def _count(url: str) -> tuple[int, int, int, int, int]:
    """(readings stored, distinct (device, signal, ts) readings, sample rows, batches, dead letters).

    Readings are counted through the reading-level view, so a reading stored twice (in two rows or twice in one
    row) counts twice in ``stored`` and once in ``distinct``: duplicated = stored - distinct stays exact."""
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT count(*) FROM telemetry").fetchone()[0]  # type: ignore[index]
        distinct = conn.execute("SELECT count(*) FROM (SELECT DISTINCT device_id, signal, ts FROM telemetry) d"
                                ).fetchone()[0]  # type: ignore[index]
        rows = conn.execute("SELECT count(*) FROM telemetry_samples").fetchone()[0]  # type: ignore[index]
        batches = conn.execute("SELECT count(*) FROM ingest_batches").fetchone()[0]  # type: ignore[index]
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]  # type: ignore[index]
    return int(stored), int(distinct), int(rows), int(batches), int(dead)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--readings-per-message", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--workers", type=int, default=2, help="ingest processes (`quietfix ingest`)")
    p.add_argument("--rate", type=float, default=0.0, help="target readings/s in total, 0 = as fast as possible")
    p.add_argument("--speed", type=float, default=1.0, help="device clock speed (ingest gets the same)")
    p.add_argument("--publishers", type=int, default=1, help="publisher processes")
    p.add_argument("--inflight", type=int, default=100, help="QoS 1 messages in flight per publisher")
    p.add_argument("--ceiling-rows", type=int, default=1_000_000,
                   help="readings (signal values) in the COPY-ceiling measurement, as sample rows")
    p.add_argument("--database-url", default="", help="server to create the scratch database on")
    p.add_argument("--profile-dir", default="", help="run the workers under cProfile, writing ingest-<i>.prof here")
    p.add_argument("--slow-encoder", action="store_true",
                   help="publish with edge_agent.payload.encode_batch (stdlib json), the previous publisher")
    p.add_argument("--ingest-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra QUIETFIX_* settings for the ingest workers")
    args = p.parse_args(argv)
    cfg = BenchConfig(devices=args.devices, readings_per_message=args.readings_per_message, seconds=args.seconds,
                      workers=args.workers, rate=args.rate, speed=args.speed, publishers=args.publishers,
                      inflight=args.inflight, ceiling_rows=args.ceiling_rows, database_url=args.database_url,
                      ingest_env=dict(kv.split("=", 1) for kv in args.ingest_env), profile_dir=args.profile_dir,
                      slow_encoder=args.slow_encoder)
    log("run as: python -m bench.ingest " + " ".join(argv if argv is not None else sys.argv[1:]))
    result = run_bench(cfg)
    result["command"] = "python -m bench.ingest " + " ".join(argv if argv is not None else sys.argv[1:])
    result["finished_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
