"""The whole detection pipeline at fleet scale, real processes: publisher -> broker -> N ingest -> M diagnose.

    python -m bench.pipeline --devices 2000 --sample-s 1 --batch-s 10 --seconds 240 --faults 20 \
        --ingest-workers 1 --diagnose-workers 2

A private Mosquitto (tests/services.PrivateBroker) on a free port, a scratch database (dropped at the end),
``--ingest-workers`` `quietfix ingest` processes (shared subscription) and ``--diagnose-workers`` `quietfix diagnose`
processes sharing the fleet through leases (diagnostics/leases.py), all on the wall clock. The fleet is simulated in
this process (``edge_agent.simulator.Equipment``): each device takes a sample every ``--sample-s`` and publishes
one message every ``--batch-s`` holding that interval's samples (QoS 1), devices spread evenly over the interval.
After a warm-up, ``--faults`` faults (half motor trips, half gradual, developing over GRADUAL_DEVELOP_S) are
injected into random devices; no fault starts in the last FAULT_TAIL_S so each can be confirmed.

Reported (last stdout line, one JSON object):
- ``readings_per_s``: readings stored per second over the steady window (warm-up end -> publishing end), beside
  ``offered_readings_per_s``; ``messages_per_s`` the same for messages (ingest_batches rows).
- ``lost`` / ``duplicated``: after the drain, published readings missing from storage / stored more than once
  (by device and timestamp).
- ``faults_injected``, ``faults_detected`` (faulty devices with an incident), ``detection_latency_s`` {p50, p99}:
  ingest receive time of the deciding reading -> incident visible to a poller here (as bench.detect_latency).
- ``backlog_at_end_s``: once publishing stops, how long until every published reading is stored and every
  diagnose partition's cursor has passed the last batch (capped at DRAIN_MAX_S).
- ``cpu_s``: CPU seconds per process kind after the drain (publisher = this process, which also polls), per
  sample (diagnose) and per message (ingest), and the load averages: on a shared machine the CPU cost is the
  figure to size by, the wall-clock ones depend on what else runs.
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
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.detect_latency import BENCH_PASSWORD, BENCH_USER, GRADUAL, Fleet, IncidentPoller
from bench.procs import stop_processes
from bench.stats import percentile
from core.broker import upsert_credentials
from core.db import drop_database, ensure_database
from core.migrate import migrate
from core.settings import load_settings
from edge_agent.payload import encode_batch, topic
from quietfix.seed import seed
from tests.services import ROOT, PrivateBroker, free_port

WARMUP_S = 30.0
FAULT_TAIL_S = 120.0  # no fault starts later than this before the end: confirmation (60-120 s minimum durations)
GRADUAL_DEVELOP_S = 60.0
DRAIN_MAX_S = 120.0
SIGNALS_PER_SAMPLE = 5
TICK_S = 0.1  # publisher granularity: each tick publishes the devices whose slot in the batch interval is due


def log(msg: str) -> None:
    print(f"[bench.pipeline {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BatchFleet(Fleet):
    """bench.detect_latency's fleet, publishing one message per device per ``batch_s`` (its samples since the
    previous message) with the devices' slots spread over the interval."""

    def __init__(self, port: int, devices: list[tuple[str, str]], sample_s: float, batch_s: float, seconds: float,
                 faults: list[tuple[float, str, str]]) -> None:
        super().__init__(port, devices, sample_s, seconds, faults)
        self.batch_s = batch_s
        self.readings = 0
        self.last_sample: dict[str, float] = {}

    def run(self) -> None:
        start = time.time()
        ids = list(self.equipment)
        n = len(ids)
        slot = 0  # next device (in slot order) to publish
        cycle_start = start
        while not self.stop_event.is_set() and time.time() - start < self.seconds:
            now = time.time()
            while self.faults and self.faults[0][0] <= now:
                _, device_id, mode = self.faults.pop(0)
                eq = self.equipment[device_id]
                if not eq.active_faults:
                    eq.inject(mode, now, develop_s=0.0 if mode == "motor_trip" else GRADUAL_DEVELOP_S)
                    self.injected.append({"device_id": device_id, "mode": mode, "at": now})
            due = min(n, int((now - cycle_start) / self.batch_s * n) + 1)
            while slot < due:
                self._publish(ids[slot], now)
                slot += 1
            if slot >= n:
                slot, cycle_start = 0, cycle_start + self.batch_s
            delay = TICK_S - (time.time() - now)
            if delay > 0:
                self.stop_event.wait(delay)
            else:
                self.late_ticks += 1

    def _publish(self, device_id: str, now: float) -> None:
        last = self.last_sample.get(device_id, now - self.batch_s)
        ts = []
        t = last + self.sample_s
        while t <= now:
            ts.append(t)
            t += self.sample_s
        if not ts:
            return
        self.last_sample[device_id] = ts[-1]
        eq = self.equipment[device_id]
        body = encode_batch(device_id, self.seq[device_id], [(int(x * 1000), eq.sample(x)) for x in ts])
        self.seq[device_id] += 1
        self.client.publish(topic(device_id, "telemetry"), body, qos=1)
        self.published += 1
        self.readings += len(ts) * SIGNALS_PER_SAMPLE


def cpu_s(pid: int) -> float:
    """utime + stime of a live process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def counts(conn: psycopg.Connection) -> tuple[int, int]:
    # readings of committed batches (each batch row counts its readings): cheap enough to poll every few seconds
    row = conn.execute("SELECT coalesce(sum(readings), 0), count(*) FROM ingest_batches").fetchone()
    return int(row[0]), int(row[1])  # type: ignore[index]


def caught_up(conn: psycopg.Connection, published_readings: int) -> bool:
    stored, _ = counts(conn)
    row = conn.execute("SELECT coalesce((SELECT max(arrival) FROM ingest_batches), 0), "
                       "coalesce((SELECT min(batch_id) FROM diagnose_progress WHERE device_id LIKE '*p%'), 0)"
                       ).fetchone()
    return stored >= published_readings and int(row[1]) >= int(row[0])  # type: ignore[index]


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    base = load_settings()
    url = (args.database_url or base.database_url).rsplit("/", 1)[0] + f"/quietfix_bench_pipeline_{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix="qf-bench-pipeline-"))
    broker = PrivateBroker(tmp / "broker", base.mqtt_username, base.mqtt_password)
    with (broker.dir / "acl").open("a") as acl:
        acl.write(f"\nuser {BENCH_USER}\ntopic readwrite qf/v1/#\n")
    upsert_credentials(broker.dir / "passwd", [(BENCH_USER, BENCH_PASSWORD)])
    procs: dict[str, list[subprocess.Popen]] = {"ingest": [], "diagnose": []}
    fleet: BatchFleet | None = None
    poller: IncidentPoller | None = None
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
               "QUIETFIX_LOG_LEVEL": "WARNING"}
        for kind, n in (("ingest", args.ingest_workers), ("diagnose", args.diagnose_workers)):
            for i in range(n):
                extra = ({"QUIETFIX_INGEST__WORKER_ID": f"bench-ingest-{os.getpid()}-{i}",
                          "QUIETFIX_INGEST__METRICS_PORT": str(free_port())} if kind == "ingest" else
                         {"QUIETFIX_DIAGNOSTICS__WORKER_ID": f"bench-diagnose-{os.getpid()}-{i}",
                          "QUIETFIX_DIAGNOSTICS__METRICS_PORT": str(free_port())})
                prof = ["-m", "cProfile", "-o", f"{args.profile_dir}/{kind}-{i}.prof"] if args.profile_dir else []
                with open(tmp / f"{kind}-{i}.log", "wb") as err:
                    procs[kind].append(subprocess.Popen([sys.executable, *prof, "-m", "quietfix.cli", kind],
                                                        env={**env, **extra}, cwd=ROOT,
                                                        stdout=subprocess.DEVNULL, stderr=err))
        time.sleep(5.0)  # connect, subscribe, load state, share the leases
        rng = random.Random(args.seed)
        t_start = time.time()
        window = (t_start + WARMUP_S, t_start + args.seconds - FAULT_TAIL_S)
        if window[1] <= window[0]:
            raise SystemExit(f"--seconds must exceed {WARMUP_S + FAULT_TAIL_S:.0f}")
        faults = [(rng.uniform(*window), d, "motor_trip" if rng.random() < 0.5 else rng.choice(GRADUAL))
                  for d in rng.sample([d for d, _ in devices], min(args.faults, len(devices)))]
        fleet = BatchFleet(broker.port, devices, args.sample_s, args.batch_s, args.seconds, faults)
        fleet.status_online()
        poller = IncidentPoller(url)
        poller.start()
        offered = args.devices * SIGNALS_PER_SAMPLE / args.sample_s
        log(f"{args.devices} devices, {offered:.0f} readings/s in {args.devices / args.batch_s:.0f} messages/s; "
            f"{args.ingest_workers} ingest, {args.diagnose_workers} diagnose; {len(faults)} faults; {args.seconds:.0f} s")
        fleet.start()
        steady: list[tuple[float, int, int]] = []
        with psycopg.connect(url, autocommit=True) as conn:
            while fleet.is_alive():
                fleet.join(5)
                loads.append(os.getloadavg()[0])
                now = time.time()
                if now - t_start >= WARMUP_S:
                    steady.append((now, *counts(conn)))
                log(f"published {fleet.published} msgs / {fleet.readings} readings, stored "
                    f"{steady[-1][1] if steady else '-'}, incidents {len(poller.seen)}, load {loads[-1]:.2f}")
                dead = [p for ps in procs.values() for p in ps if p.poll() is not None]
                if dead:
                    raise RuntimeError(f"a worker exited; see {tmp}")
            end_pub = time.time()
            backlog = None
            while time.time() - end_pub < DRAIN_MAX_S:
                if caught_up(conn, fleet.readings):
                    backlog = round(time.time() - end_pub, 2)
                    break
                time.sleep(0.2)
            time.sleep(2.0)  # the last incidents become visible
            # after the drain: what it cost to store and evaluate everything published (idle polling included)
            cpu = {k: round(sum(cpu_s(p.pid) for p in ps), 1) for k, ps in procs.items()}
            # one telemetry_samples row per device sample (SIGNALS_PER_SAMPLE readings each, the fleet sends all)
            rows, distinct_rows = conn.execute("SELECT count(*), count(DISTINCT (device_id, ts)) FROM telemetry_samples"
                                               ).fetchone()  # type: ignore[misc]
            stored, distinct = rows * SIGNALS_PER_SAMPLE, distinct_rows * SIGNALS_PER_SAMPLE
        cpu["publisher"] = round(time.process_time(), 1)
        poller.stop_event.set()
        poller.join(10)
        lat = [inc["seen"] - datetime.fromisoformat(inc["detection"]["received_at"]).timestamp()
               for inc in poller.seen.values() if inc["detection"] and "received_at" in inc["detection"]]
        injected = {f["device_id"] for f in fleet.injected}
        detected = {i["device_id"] for i in poller.seen.values()}
        (t0, r0, m0), (t1, r1, m1) = (steady[0], steady[-1]) if len(steady) > 1 else ((0, 0, 0), (1, 0, 0))
        return {
            "readings_per_s": round((r1 - r0) / (t1 - t0)), "offered_readings_per_s": round(offered),
            "messages_per_s": round((m1 - m0) / (t1 - t0)), "offered_messages_per_s": round(args.devices / args.batch_s),
            "readings_published": fleet.readings, "messages_published": fleet.published, "readings_stored": stored,
            # lost: published but not stored when the drain ended; a real loss only when drained is true (else it
            # includes what was still queued when the bench stopped the workers)
            "lost": max(0, fleet.readings - distinct), "duplicated": stored - distinct, "drained": backlog is not None,
            "faults_injected": len(fleet.injected), "faults_detected": len(injected & detected),
            "incidents_on_healthy_devices": len(detected - injected),
            "detection_latency_s": {"p50": round(percentile(lat, 0.5), 3) if lat else None,
                                    "p99": round(percentile(lat, 0.99), 3) if lat else None, "n": len(lat)},
            "backlog_at_end_s": backlog if backlog is not None else f">{DRAIN_MAX_S:.0f}",
            "cpu_s": cpu, "publisher_late_ticks": fleet.late_ticks,
            # per sample (5 readings) published, when the drain finished (backlog_at_end_s is a number)
            "diagnose_cpu_us_per_sample": round(cpu["diagnose"] / (fleet.readings / SIGNALS_PER_SAMPLE) * 1e6, 1),
            "ingest_cpu_us_per_message": round(cpu["ingest"] / max(fleet.published, 1) * 1e6, 1),
            "config": {"devices": args.devices, "sample_s": args.sample_s, "batch_s": args.batch_s,
                       "seconds": args.seconds, "faults": args.faults, "ingest_workers": args.ingest_workers,
                       "diagnose_workers": args.diagnose_workers, "seed": args.seed, "storage": report.storage},
            "load_avg_1m": {"start": loads[0], "max": max(loads), "mean": round(sum(loads) / len(loads), 2)},
            "cpus": os.cpu_count(),
        }
    finally:
        if fleet is not None:
            fleet.close()
        if poller is not None:
            poller.stop_event.set()
        stop_processes([p for ps in procs.values() for p in ps], timeout_s=20)
        broker.stop(kill=True)
        drop_database(url)
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=2000)
    p.add_argument("--sample-s", type=float, default=1.0)
    p.add_argument("--batch-s", type=float, default=10.0, help="seconds of samples per message")
    p.add_argument("--seconds", type=float, default=240.0)
    p.add_argument("--faults", type=int, default=20)
    p.add_argument("--ingest-workers", type=int, default=1)
    p.add_argument("--diagnose-workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--database-url", default="")
    p.add_argument("--profile-dir", default="", help="run the workers under cProfile, writing <kind>-<i>.prof here")
    args = p.parse_args(argv)
    command = "python -m bench.pipeline " + " ".join(argv if argv is not None else sys.argv[1:])
    log("run as: " + command)
    result = run_bench(args)
    result["command"] = command
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"stored {result['readings_per_s']}/{result['offered_readings_per_s']} readings/s, "
          f"{result['messages_per_s']} msgs/s, lost {result['lost']}, dup {result['duplicated']}, "
          f"detected {result['faults_detected']}/{result['faults_injected']}, "
          f"p99 {result['detection_latency_s']['p99']} s, backlog {result['backlog_at_end_s']} s")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
