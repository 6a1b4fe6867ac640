"""The whole detection pipeline at fleet scale, real processes: publisher -> broker -> N ingest -> M diagnose.

    python -m bench.pipeline --devices 2000 --sample-s 1 --batch-s 10 --seconds 240 --faults 20 \
        --ingest-workers 1 --diagnose-workers 2

A private Mosquitto (tests/services.PrivateBroker) on a free port, a scratch database (dropped at the end),
``--ingest-workers`` `quietfix ingest` processes (shared subscription) and ``--diagnose-workers`` `quietfix diagnose`
processes sharing the fleet through leases (diagnostics/leases.py), all on the wall clock. The fleet is simulated in
this process (``edge_agent.simulator.Equipment``): each device takes a sample every ``--sample-s`` and publishes
one message every ``--batch-s`` holding that interval's samples (QoS 1), devices spread evenly over the interval.
After a warm-up, ``--faults`` faults (half motor trips, half gradual, developing over GRADUAL_DEVELOP_S) are
injected into random devices; no fault starts in the last ``fault_tail_s`` (develop time + the longest threshold
confirmation + one message interval) so each can be confirmed by the data published (bench.pipeline_replay
replays the same fleet and faults offline to judge detection quality apart from the machine's speed).

Reported (last stdout line, one JSON object):
- ``readings_per_s``: readings stored per second over the steady window (warm-up end -> publishing end), beside
  ``offered_readings_per_s``; ``messages_per_s`` the same for messages (ingest_batches rows).
- ``lost`` / ``duplicated``: after the drain, published readings missing from storage / stored more than once
  (by device and timestamp).
- ``faults_injected``, ``faults_detected`` (faulty devices with an incident), ``detection_latency_s`` {p50, p99}:
  ingest receive time of the deciding reading -> incident visible to a poller here (as bench.detect_latency).
- ``backlog_at_end_s``: once publishing stops, how long until every published reading is stored and every
  diagnose partition's cursor has passed the last batch (capped at DRAIN_MAX_S).
- ``handover`` (with ``--kill-diagnose-at S``): diagnose worker 0 is SIGKILLed S s into publishing; how many
  partitions/devices it held, ``takeover_s`` (its leases owned by the survivors) and ``caught_up_s`` (their cursors
  past the newest batch at takeover), from the kill (bench/pipeline_handover.py).
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

import numpy as np
import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from bench.detect_latency import BENCH_PASSWORD, BENCH_USER, Fleet, IncidentPoller
from bench.pipeline_faults import GRADUAL_DEVELOP_S, fault_outcomes, fault_tail_s, plan_faults
from bench.pipeline_handover import HandOver
from bench.procs import stop_processes
from bench.stats import percentile
from core.broker import upsert_credentials
from core.db import drop_database, ensure_database
from core.migrate import migrate
from core.mqtt import BufferedClient
from core.settings import load_settings
from edge_agent.payload import encode_batch, topic
from edge_agent.simulator import EQUIPMENT_TYPES, MEAN_LOAD, SIGNAL_DECIMALS, daily_load
from quietfix.seed import seed
from tests.services import ROOT, PrivateBroker, free_port

WARMUP_S = 30.0
DRAIN_MAX_S = 120.0
SIGNALS_PER_SAMPLE = 5
TICK_S = 0.1  # publisher granularity: each tick publishes the devices whose slot in the batch interval is due


def log(msg: str) -> None:
    print(f"[bench.pipeline {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BatchFleet(Fleet):
    """bench.detect_latency's fleet, publishing one message per device per ``batch_s`` (its samples since the
    previous message) with the devices' slots spread over the interval.

    Lean, so that it does not take the CPU the pipeline measures: healthy devices are sampled for a whole tick at
    once with numpy from the simulator's own healthy model (each device's ``Equipment._terms``: nominal, load
    gain, noise; ``daily_load``; clipping and rounding as ``Equipment.sample``), and the JSON is written by
    orjson in the contract's schema (the edge agent's ``encode_batch`` uses the standard library, ~4x slower).
    A device switches to its ``Equipment.sample`` for good when a fault is injected into it, so faults develop
    exactly as in bench.detect_latency. ``--publisher slow`` keeps the per-sample simulator and encoder for
    every device (the previous publisher) to compare.
    """

    def __init__(self, port: int, devices: list[tuple[str, str]], sample_s: float, batch_s: float, seconds: float,
                 faults: list[tuple[float, str, str]], *, lean: bool = True, seed: int = 1) -> None:
        super().__init__(port, devices, sample_s, seconds, faults)
        if lean:  # the server adapter's paho client: one socket read for many PUBACKs, not 3 reads + a select each
            self.client.disconnect()
            self.client.loop_stop()
            self.client = BufferedClient(CallbackAPIVersion.VERSION2, client_id=f"bench-fleet-{os.getpid()}",
                                         protocol=mqtt.MQTTv5)
            self.client.username_pw_set(BENCH_USER, BENCH_PASSWORD)
            self.client.max_inflight_messages_set(1000)
            self.client.connect("127.0.0.1", port, keepalive=30)
            self.client.loop_start()
        self._init_model(sample_s, batch_s, lean, seed)

    def _init_model(self, sample_s: float, batch_s: float, lean: bool, seed: int) -> None:
        """Everything but the broker connection (tests build a fleet without one)."""
        self.sample_s = sample_s
        self.batch_s = batch_s
        self.readings = 0
        self.last_sample: dict[str, float] = {}
        self.lean = lean
        self.thread_cpu_s = 0.0
        self.simulated: set[str] = set()  # devices sampled by their Equipment (a fault was injected)
        ids = list(self.equipment)
        self.index = {d: i for i, d in enumerate(ids)}
        terms = [self.equipment[d]._terms for d in ids]  # the simulator's healthy model, per device
        if any(len(t) != SIGNALS_PER_SAMPLE for t in terms):
            raise ValueError(f"every equipment type must have {SIGNALS_PER_SAMPLE} signals")
        self.names = [tuple(n for n, _, _, _ in t) for t in terms]
        self.nominal = np.array([[nom for _, nom, _, _ in t] for t in terms])
        self.gain = np.array([[g for _, _, g, _ in t] for t in terms])
        self.noise = np.array([[sd for _, _, _, sd in t] for t in terms])
        # Chilled water may approach 0 C; every other signal is clipped at 0 (as Equipment.sample does).
        self.floor = np.array([[-np.inf if n == "supply_temp_c" else 0.0 for n in names] for names in self.names])
        self.rng = np.random.default_rng(seed)

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.thread_cpu_s = time.thread_time()  # this thread only: sampling, encoding, paho publish calls

    def _run(self) -> None:
        start = time.time()
        ids = list(self.equipment)
        n = len(ids)
        slot = 0  # next device (in slot order) to publish
        cycle_start = start
        while not self.stop_event.is_set() and time.time() - start < self.seconds:
            now = time.time()
            self.inject_due(now)
            due = min(n, int((now - cycle_start) / self.batch_s * n) + 1)
            if self.lean:
                self._publish_block(ids[slot:due], now)
                slot = max(slot, due)
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

    def inject_due(self, now: float) -> None:
        """Inject the faults whose time has come (fault injection; bench.pipeline_replay drives it offline)."""
        while self.faults and self.faults[0][0] <= now:
            _, device_id, mode = self.faults.pop(0)
            eq = self.equipment[device_id]
            if not eq.active_faults:
                eq.inject(mode, now, develop_s=0.0 if mode == "motor_trip" else GRADUAL_DEVELOP_S)
                self.injected.append({"device_id": device_id, "mode": mode, "at": now})
                self.simulated.add(device_id)

    def _due_times(self, device_id: str, now: float) -> list[float]:
        last = self.last_sample.get(device_id, now - self.batch_s)
        ts = []
        t = last + self.sample_s
        while t <= now:
            ts.append(t)
            t += self.sample_s
        if ts:
            self.last_sample[device_id] = ts[-1]
        return ts

    def _publish_block(self, device_ids: list[str], now: float) -> None:
        """One tick's healthy devices: values for all their samples in a few numpy operations."""
        rows: list[int] = []
        times: list[float] = []
        plan: list[tuple[str, int, int]] = []  # (device, first row, samples)
        for device_id in device_ids:
            if device_id in self.simulated:
                self._publish(device_id, now)
                continue
            ts = self._due_times(device_id, now)
            if ts:
                plan.append((device_id, len(times), len(ts)))
                rows.extend([self.index[device_id]] * len(ts))
                times.extend(ts)
        if not plan:
            return
        idx = np.array(rows)
        load = np.array([daily_load(t) for t in times]) - MEAN_LOAD
        values = (self.nominal[idx] * (1.0 + self.gain[idx] * load[:, None])
                  + self.rng.standard_normal((len(rows), SIGNALS_PER_SAMPLE)) * self.noise[idx])
        values = np.round(np.maximum(values, self.floor[idx]), SIGNAL_DECIMALS).tolist()
        stamps = [int(t * 1000) for t in times]
        for device_id, first, count in plan:
            names = self.names[self.index[device_id]]
            samples = [{"t": stamps[r], "m": dict(zip(names, values[r]))} for r in range(first, first + count)]
            body = orjson.dumps({"v": 1, "device_id": device_id, "seq": self.seq[device_id], "samples": samples})
            self.seq[device_id] += 1
            self.client.publish(topic(device_id, "telemetry"), body, qos=1)
            self.published += 1
            self.readings += count * SIGNALS_PER_SAMPLE

    def _publish(self, device_id: str, now: float) -> None:
        ts = self._due_times(device_id, now)
        if not ts:
            return
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
    handover: HandOver | None = None
    victim_cpu = 0.0  # a killed worker's CPU seconds, read just before the kill
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
                prof = ["-m", "bench.threadprof", f"{args.profile_dir}/{kind}-{i}.prof"] if args.profile_dir else []
                with open(tmp / f"{kind}-{i}.log", "wb") as err:
                    procs[kind].append(subprocess.Popen([sys.executable, *prof, "-m", "quietfix.cli", kind],
                                                        env={**env, **extra}, cwd=ROOT,
                                                        stdout=subprocess.DEVNULL, stderr=err))
        time.sleep(5.0)  # connect, subscribe, load state, share the leases
        rng = random.Random(args.seed)
        t_start = time.time()
        window = (t_start + WARMUP_S, t_start + args.seconds - fault_tail_s(args.batch_s))
        if window[1] <= window[0]:
            raise SystemExit(f"--seconds must exceed {WARMUP_S + fault_tail_s(args.batch_s):.0f}")
        faults = plan_faults(rng, [d for d, _ in devices], args.faults, window)
        fleet = BatchFleet(broker.port, devices, args.sample_s, args.batch_s, args.seconds, faults,
                           lean=args.publisher == "lean", seed=args.seed)
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
                if args.kill_diagnose_at and handover is None and now - t_start >= args.kill_diagnose_at:
                    victim_cpu = cpu_s(procs["diagnose"][0].pid)
                    handover = HandOver(url, procs["diagnose"][0], f"bench-diagnose-{os.getpid()}-0",
                                        [d for d, _ in devices])
                    handover.start()
                    log(f"killed diagnose worker 0 at {now - t_start:.0f} s")
                dead = [p for ps in procs.values() for p in ps
                        if p.poll() is not None and (handover is None or p is not handover.proc)]
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
            cpu = {k: round(sum(cpu_s(p.pid) for p in ps if handover is None or p is not handover.proc), 1)
                   for k, ps in procs.items()}
            cpu["diagnose"] = round(cpu["diagnose"] + victim_cpu, 1)
            # one telemetry_samples row per device sample (SIGNALS_PER_SAMPLE readings each, the fleet sends all)
            rows, distinct_rows = conn.execute("SELECT count(*), count(DISTINCT (device_id, ts)) FROM telemetry_samples"
                                               ).fetchone()  # type: ignore[misc]
            stored, distinct = rows * SIGNALS_PER_SAMPLE, distinct_rows * SIGNALS_PER_SAMPLE
            messages_stored = counts(conn)[1]  # what ingest actually processed (less than published if not drained)
            outcomes = fault_outcomes(conn, fleet.injected, t_start, end_pub)
        cpu["publisher"] = round(time.process_time(), 1)
        if handover is not None:
            handover.stop_event.set()
            handover.join(10)
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
            **outcomes,  # per fault (missed ones first) and per healthy device's incident: what, when, from what
            "detection_latency_s": {"p50": round(percentile(lat, 0.5), 3) if lat else None,
                                    "p99": round(percentile(lat, 0.99), 3) if lat else None, "n": len(lat)},
            "backlog_at_end_s": backlog if backlog is not None else f">{DRAIN_MAX_S:.0f}",
            "cpu_s": cpu, "publisher_late_ticks": fleet.late_ticks,
            "publisher": {"kind": args.publisher, "fleet_thread_cpu_s": round(fleet.thread_cpu_s, 2),
                          "fleet_thread_cpu_us_per_message": round(fleet.thread_cpu_s / max(fleet.published, 1) * 1e6,
                                                                   1)},
            # per sample (5 readings) published, when the drain finished (backlog_at_end_s is a number)
            "diagnose_cpu_us_per_sample": round(cpu["diagnose"] / (fleet.readings / SIGNALS_PER_SAMPLE) * 1e6, 1),
            "ingest_cpu_us_per_message": round(cpu["ingest"] / max(messages_stored, 1) * 1e6, 1),
            "config": {"devices": args.devices, "sample_s": args.sample_s, "batch_s": args.batch_s,
                       "seconds": args.seconds, "faults": args.faults, "ingest_workers": args.ingest_workers,
                       "diagnose_workers": args.diagnose_workers, "seed": args.seed, "storage": report.storage},
            "load_avg_1m": {"start": loads[0], "max": max(loads), "mean": round(sum(loads) / len(loads), 2)},
            **({"handover": {"killed_at_s": args.kill_diagnose_at, **handover.result}} if handover else {}),
            "cpus": os.cpu_count(),
        }
    finally:
        if fleet is not None:
            fleet.close()
        if poller is not None:
            poller.stop_event.set()
        if handover is not None:
            handover.stop_event.set()
        stop_processes([p for ps in procs.values() for p in ps], timeout_s=20)
        broker.stop(kill=True)
        drop_database(url)
        shutil.rmtree(tmp, ignore_errors=True)


def run_publisher_only(args: argparse.Namespace) -> dict[str, Any]:
    """The fleet publisher alone against a private broker (no subscriber, no database): what it costs per message
    and per sample, to check it leaves the machine to the processes the pipeline measures."""
    base = load_settings()
    tmp = Path(tempfile.mkdtemp(prefix="qf-bench-publisher-"))
    broker = PrivateBroker(tmp / "broker", base.mqtt_username, base.mqtt_password)
    with (broker.dir / "acl").open("a") as acl:
        acl.write(f"\nuser {BENCH_USER}\ntopic readwrite qf/v1/#\n")
    upsert_credentials(broker.dir / "passwd", [(BENCH_USER, BENCH_PASSWORD)])
    fleet: BatchFleet | None = None
    try:
        broker.start()
        devices = [(f"pub{i:06d}", EQUIPMENT_TYPES[i % len(EQUIPMENT_TYPES)]) for i in range(args.devices)]
        fleet = BatchFleet(broker.port, devices, args.sample_s, args.batch_s, args.seconds, [],
                           lean=args.publisher == "lean", seed=args.seed)
        load0 = os.getloadavg()[0]
        cpu0, wall0 = time.process_time(), time.time()
        fleet.start()
        fleet.join(args.seconds + 60)
        time.sleep(1.0)  # the last PUBACKs
        cpu, wall = time.process_time() - cpu0, time.time() - wall0
        samples = fleet.readings / SIGNALS_PER_SAMPLE
        return {"publisher": args.publisher, "devices": args.devices, "messages": fleet.published,
                "messages_per_s": round(fleet.published / wall), "samples_per_s": round(samples / wall),
                "process_cpu_s": round(cpu, 2), "fleet_thread_cpu_s": round(fleet.thread_cpu_s, 2),
                "process_cpu_us_per_message": round(cpu / max(fleet.published, 1) * 1e6, 1),
                "process_cpu_us_per_sample": round(cpu / max(samples, 1) * 1e6, 2),
                "late_ticks": fleet.late_ticks, "load_avg_1m": {"start": load0, "end": os.getloadavg()[0]},
                "cpus": os.cpu_count()}
    finally:
        if fleet is not None:
            fleet.close()
        broker.stop(kill=True)
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
    p.add_argument("--kill-diagnose-at", type=float, default=0.0,
                   help="SIGKILL diagnose worker 0 this many seconds into publishing and report how long its "
                        "devices take to move (bench/pipeline_handover.py); needs --diagnose-workers >= 2")
    p.add_argument("--profile-dir", default="", help="run the workers under cProfile, writing <kind>-<i>.prof here")
    p.add_argument("--publisher", choices=("lean", "slow"), default="lean",
                   help="lean: healthy devices sampled per tick with numpy, orjson; slow: Equipment.sample and "
                        "edge_agent encode_batch for every device")
    p.add_argument("--publisher-only", action="store_true",
                   help="measure the fleet publisher alone (private broker, no database, no workers)")
    args = p.parse_args(argv)
    command = "python -m bench.pipeline " + " ".join(argv if argv is not None else sys.argv[1:])
    log("run as: " + command)
    if args.publisher_only:
        only = run_publisher_only(args)
        only["command"] = command
        print(json.dumps(only), flush=True)
        return 0
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
