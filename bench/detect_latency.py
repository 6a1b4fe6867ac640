"""Detection latency at fleet load: deciding reading received by ingest -> incident row visible.

    python -m bench.detect_latency --devices 200 --seconds 420 --faults 30

Real servers, private state: a private Mosquitto (tests/services.PrivateBroker, the project's configuration) on a
free port, a scratch database on the local PostgreSQL (dropped at the end), one `quietfix ingest` and one
`quietfix diagnose` process (SystemClock, speed 1), and a fleet simulated in this process: every device's
``edge_agent.simulator.Equipment`` sampled every ``--sample-s`` seconds and published (schema v1, QoS 1, one
message per device per sample) as a bench account. After a warm-up, ``--faults`` sudden faults (motor trips) and
gradual ones (developing over a few minutes) are injected at random times into random devices.

What is measured, per incident: ``received_at`` of the reading that decided it (the ingest receive time of the
newest batch of that device the deciding pass read; the diagnose loop writes it into the incident's
``evidence.detection``) to the moment the incident row is visible (committed) to a poller in this process that
reads new incidents every ``POLL_S``. So the figure covers ingest commit + the diagnose loop's poll wait + its
pass, and over-estimates by at most one poll interval. Detector confirmation time (a threshold's minimum duration)
is *not* in it: that is detection *delay* by design, measured by bench.detect_fleet as lead time.
The diagnose process exports the same quantity as the Prometheus histogram
``quietfix_detection_decision_latency_seconds`` (its /metrics is scraped at the end and reported too).
Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from bench.procs import stop_processes
from bench.stats import percentile
from core.broker import upsert_credentials
from core.db import drop_database, ensure_database
from core.migrate import migrate
from core.settings import load_settings
from edge_agent.payload import encode_batch, topic
from edge_agent.simulator import Equipment
from quietfix.seed import seed
from tests.services import ROOT, PrivateBroker, free_port

BENCH_USER = "qf-bench"  # publishes for every device: the one ACL difference from a real fleet
BENCH_PASSWORD = "qf-bench-local"
POLL_S = 0.05  # incident poller period: each latency over-estimates by at most this
WARMUP_S = 30.0  # devices report (and detectors warm up) before the first fault
DRAIN_S = 300.0  # no fault in the last 300 s: confirmation (threshold min durations 60-120 s after the crossing) + pass
GRADUAL = ("overheating", "clogged_filter", "bearing_wear")  # developed over minutes, crossing thresholds
GRADUAL_DEVELOP_S = 120.0  # thresholds crossed within ~1.5 min of onset


def log(msg: str) -> None:
    print(f"[bench.detect_latency {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)




def scratch_url(base_url: str) -> str:
    return base_url.rsplit("/", 1)[0] + f"/quietfix_bench_detect_{os.getpid()}"


class Fleet(threading.Thread):
    """Samples every device each ``sample_s`` and publishes one message per device per sample."""

    def __init__(self, port: int, devices: list[tuple[str, str]], sample_s: float, seconds: float,
                 faults: list[tuple[float, str, str]]) -> None:
        super().__init__(daemon=True)
        self.devices, self.sample_s, self.seconds = devices, sample_s, seconds
        self.equipment = {d: Equipment(d, t, seed=11) for d, t in devices}
        self.faults = sorted(faults)  # (wall time, device, mode)
        self.injected: list[dict[str, Any]] = []
        self.published = 0
        self.late_ticks = 0
        self.stop_event = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-fleet-{os.getpid()}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(BENCH_USER, BENCH_PASSWORD)
        self.client.max_inflight_messages_set(1000)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        self.seq = dict.fromkeys(self.equipment, 1)

    def status_online(self) -> None:
        for d in self.equipment:
            self.client.publish(topic(d, "status"), b'{"v":1,"state":"online"}', qos=1)

    def run(self) -> None:
        start = time.time()
        nxt = start
        while not self.stop_event.is_set() and time.time() - start < self.seconds:
            now = time.time()
            while self.faults and self.faults[0][0] <= now:
                _, device_id, mode = self.faults.pop(0)
                eq = self.equipment[device_id]
                if eq.active_faults:
                    continue
                develop = 0.0 if mode == "motor_trip" else GRADUAL_DEVELOP_S
                eq.inject(mode, now, develop_s=develop)
                self.injected.append({"device_id": device_id, "mode": mode, "at": now})
            for device_id, eq in self.equipment.items():
                body = encode_batch(device_id, self.seq[device_id], [(int(now * 1000), eq.sample(now))])
                self.seq[device_id] += 1
                self.client.publish(topic(device_id, "telemetry"), body, qos=1)
                self.published += 1
            nxt += self.sample_s
            delay = nxt - time.time()
            if delay > 0:
                self.stop_event.wait(delay)
            else:
                self.late_ticks += 1
                nxt = time.time()

    def close(self) -> None:
        self.stop_event.set()
        self.join(10)
        self.client.disconnect()
        self.client.loop_stop()


class IncidentPoller(threading.Thread):
    """Sees each new incident row the first time it is committed; records wall time."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.seen: dict[int, dict[str, Any]] = {}
        self.stop_event = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                high = 0
                while not self.stop_event.is_set():
                    rows = conn.execute("SELECT id, device_id, fault_mode, evidence->'detection', opened_at "
                                        "FROM incidents WHERE id > %s ORDER BY id", (high,)).fetchall()
                    wall = time.time()
                    for iid, dev, mode, det, opened in rows:
                        self.seen[iid] = {"device_id": dev, "mode": mode, "detection": det, "seen": wall,
                                          "opened_at": opened.timestamp()}
                        high = max(high, iid)
                    self.stop_event.wait(POLL_S)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc


def _scrape(port: int) -> dict[str, float]:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("quietfix_detection_decision_latency_seconds"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    base = load_settings()
    url = scratch_url(args.database_url or base.database_url)
    tmp = Path(tempfile.mkdtemp(prefix="qf-bench-detect-"))
    broker = PrivateBroker(tmp / "broker", base.mqtt_username, base.mqtt_password)
    with (broker.dir / "acl").open("a") as acl:
        acl.write(f"\nuser {BENCH_USER}\ntopic readwrite qf/v1/#\n")
    upsert_credentials(broker.dir / "passwd", [(BENCH_USER, BENCH_PASSWORD)])
    procs: list[subprocess.Popen] = []
    fleet: Fleet | None = None
    poller: IncidentPoller | None = None
    metrics_port = free_port()
    loads = [os.getloadavg()[0]]
    try:
        ensure_database(url)
        report = migrate(url)
        with psycopg.connect(url) as conn:
            devices = [(d.device_id, d.equipment_type)
                       for d in seed(conn, devices=args.devices, technicians=2, users=False)]
            conn.commit()
        broker.start()
        env = {**os.environ, "QUIETFIX_DATABASE_URL": url, "QUIETFIX_MQTT_URL": broker.url,
               "QUIETFIX_MQTT_USERNAME": base.mqtt_username, "QUIETFIX_MQTT_PASSWORD": base.mqtt_password,
               "QUIETFIX_INGEST__WORKER_ID": f"bench-ingest-{os.getpid()}", "QUIETFIX_INGEST__SHARED_GROUP": "",
               "QUIETFIX_LOG_LEVEL": "WARNING", "QUIETFIX_DIAGNOSTICS__METRICS_PORT": str(metrics_port),
               "QUIETFIX_DIAGNOSTICS__POLL_INTERVAL_S": str(args.poll_s)}
        for name in ("ingest", "diagnose"):
            with open(tmp / f"{name}.log", "wb") as err:
                procs.append(subprocess.Popen([sys.executable, "-m", "quietfix.cli", name], env=env, cwd=ROOT,
                                              stdout=subprocess.DEVNULL, stderr=err))
        time.sleep(3.0)  # both connect and subscribe (the diagnose loop also loads its state)
        rng = random.Random(args.seed)
        t_start = time.time()
        fault_window = (t_start + WARMUP_S, t_start + args.seconds - DRAIN_S)
        if fault_window[1] <= fault_window[0]:
            raise SystemExit(f"--seconds must exceed {WARMUP_S + DRAIN_S:.0f} (warm-up + drain)")
        faulty = rng.sample([d for d, _ in devices], min(args.faults, len(devices)))
        faults = []
        for d in faulty:
            mode = "motor_trip" if rng.random() < 0.5 else rng.choice(GRADUAL)
            faults.append((rng.uniform(*fault_window), d, mode))
        fleet = Fleet(broker.port, devices, args.sample_s, args.seconds, faults)
        fleet.status_online()
        poller = IncidentPoller(url)
        poller.start()
        log(f"{len(devices)} devices, one sample each every {args.sample_s} s "
            f"({len(devices) * 5 / args.sample_s:.0f} readings/s), {len(faults)} faults; running {args.seconds:.0f} s")
        fleet.start()
        while fleet.is_alive():
            fleet.join(10)
            loads.append(os.getloadavg()[0])
            log(f"published {fleet.published} messages, injected {len(fleet.injected)}, incidents "
                f"{len(poller.seen)}, load {loads[-1]:.2f}")
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("ingest or diagnose exited; see " + str(tmp))
        time.sleep(3.0)  # the last pass commits
        for name in ("ingest", "diagnose"):
            tail = (tmp / f"{name}.log").read_text(errors="replace").splitlines()[-5:]
            for line in tail:
                log(f"{name} log: {line[:300]}")
        scraped = _scrape(metrics_port)
        poller.stop_event.set()
        poller.join(10)
        if poller.error is not None:
            raise RuntimeError("incident poller failed") from poller.error
        lat, undecided = [], 0
        for inc in poller.seen.values():
            det = inc["detection"]
            if not det or "received_at" not in det:
                undecided += 1  # silence-based incidents have no deciding reading
                continue
            received = datetime.fromisoformat(det["received_at"]).timestamp()
            lat.append(inc["seen"] - received)
        with psycopg.connect(url) as conn:
            dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]  # type: ignore[index]
            readings = conn.execute("SELECT count(*) FROM telemetry").fetchone()[0]  # type: ignore[index]
        injected_devs = {f["device_id"] for f in fleet.injected}
        detected_devs = {i["device_id"] for i in poller.seen.values()}
        count = scraped.get("quietfix_detection_decision_latency_seconds_count", 0.0)
        result = {
            "incidents": len(poller.seen),
            "incident_modes": dict(sorted(Counter(i["mode"] for i in poller.seen.values()).items())),
            "measured": len(lat), "without_deciding_reading": undecided,
            "latency_s": {"p50": round(percentile(lat, 0.5), 3), "p95": round(percentile(lat, 0.95), 3),
                          "p99": round(percentile(lat, 0.99), 3), "max": round(max(lat), 3) if lat else None,
                          "mean": round(sum(lat) / len(lat), 3) if lat else None},
            "target_s": 2.0,
            "metric_quietfix_detection_decision_latency_seconds": {
                "count": count,
                "mean": round(scraped.get("quietfix_detection_decision_latency_seconds_sum", 0.0) / count, 3)
                if count else None,
                "le_2s": scraped.get('quietfix_detection_decision_latency_seconds_bucket{le="2.0"}')},
            "faults_injected": len(fleet.injected), "faulty_devices_with_incident": len(injected_devs & detected_devs),
            "incidents_on_healthy_devices": len(detected_devs - injected_devs),
            "messages_published": fleet.published, "readings_stored": int(readings), "dead_letters": int(dead),
            "publisher_late_ticks": fleet.late_ticks,
            "config": {"devices": args.devices, "sample_s": args.sample_s, "seconds": args.seconds,
                       "faults": args.faults, "diagnose_poll_interval_s": args.poll_s, "seed": args.seed,
                       "readings_per_s": round(args.devices * 5 / args.sample_s), "storage": report.storage,
                       "poller_resolution_s": POLL_S},
            "load_avg_1m": {"start": loads[0], "max": max(loads), "mean": round(sum(loads) / len(loads), 2)},
            "cpus": os.cpu_count(),
        }
        return result
    finally:
        if fleet is not None:
            fleet.close()
        if poller is not None:
            poller.stop_event.set()
        stop_processes(procs, timeout_s=20)
        broker.stop(kill=True)
        drop_database(url)
        shutil.rmtree(tmp, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Arguments, refused before any server starts when the run could not place a fault (too short)."""
    p = argparse.ArgumentParser(prog="python -m bench.detect_latency", description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--sample-s", type=float, default=1.0, help="seconds between a device's samples")
    p.add_argument("--seconds", type=float, default=420.0,
                   help=f"how long the fleet publishes (more than warm-up + drain, {WARMUP_S + DRAIN_S:.0f} s)")
    p.add_argument("--faults", type=int, default=30, help="devices that get a fault during the run")
    p.add_argument("--poll-s", type=float, default=0.25, help="diagnose loop poll interval (its setting's default)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--database-url", default="", help="server to create the scratch database on")
    args = p.parse_args(argv)
    if args.seconds <= WARMUP_S + DRAIN_S:
        p.error(f"--seconds must exceed {WARMUP_S + DRAIN_S:.0f} (warm-up + drain)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m bench.detect_latency " + " ".join(argv if argv is not None else sys.argv[1:])
    log("run as: " + command)
    result = run_bench(args)
    result["command"] = command
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"detection latency (deciding reading received by ingest -> incident visible), "
          f"{result['measured']} incidents: p50 {result['latency_s']['p50']} s, p95 {result['latency_s']['p95']} s, "
          f"p99 {result['latency_s']['p99']} s (target < 2 s); load avg max {result['load_avg_1m']['max']}")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
