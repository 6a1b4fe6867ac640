"""bench.pipeline's fleet and faults replayed offline through the diagnose loop's detection path: which faults are
missed and why, and which healthy devices get an incident and from what.

    python -m bench.pipeline_replay --devices 2000 --seconds 240 --faults 40 --seed 2

Why offline: at 20,000 devices the real pipeline shares two cores with its publisher, broker, ingest and diagnose
processes, so a miss there may be a detector decision or the machine being late. Here the same fleet (bench.pipeline
BatchFleet: its lean healthy model and the simulator's Equipment.sample once a fault is injected, the same messages
on a simulated clock, the same fault plan for a seed, with device ids as quietfix.seed names them) goes through the
same steps the diagnose loop takes per pass (diagnostics.loop_rules.in_time_order, Fleet.observe over the pass's
batches, classify, focus, the incident state machine), with no broker, database or wall clock. What is left is
detection quality alone.

Per fault it reports when (fault seconds after onset) the first finding and the incident came, and for a fault not
detected before publishing ended it keeps feeding that device for ``--extra-s`` more seconds to tell "needs more
time than the run gives it" (the run's limit) from "not detectable at all" (the fault is too weak, or the detectors
miss it). Per healthy device with an incident it names the finding behind it (kind, signal, value, z).
``--handover-at S`` exports every device's detector state to the checkpoint format and loads it back at S seconds
(what a lease hand-over between diagnose workers does), to look for warm-up effects after a restore.
The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import orjson

from bench.detect_latency import GRADUAL
from bench.pipeline import TICK_S, WARMUP_S, BatchFleet
from bench.pipeline_faults import fault_tail_s, plan_faults
from diagnostics import checkpoint
from diagnostics.classify import classify
from diagnostics.fleet import Fleet
from diagnostics.incidents import IncidentState, step
from diagnostics.loop_rules import focus, in_time_order, monitor_config
from diagnostics.monitor import DeviceMonitor
from diagnostics.policy import LoopPolicy
from diagnostics.rul import WearTracker, limits_from_config
from edge_agent.simulator import Equipment
from quietfix.seed import EQUIPMENT

DAY_S = 86400.0


class _Capture:
    """Stands in for the MQTT client: keeps each published body for the simulated ingest."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        self.sent.append(payload)


def device_ids(n: int) -> list[tuple[str, str]]:
    """Device ids and types as quietfix.seed makes them (the simulator's noise is seeded by the id)."""
    return [(f"{EQUIPMENT[i % len(EQUIPMENT)]}-{i + 1:04d}", EQUIPMENT[i % len(EQUIPMENT)]) for i in range(n)]


def make_fleet(devices: list[tuple[str, str]], faults: list[tuple[float, str, str]], args: argparse.Namespace
               ) -> BatchFleet:
    f = BatchFleet.__new__(BatchFleet)  # no broker connection: only the sampling and encoding
    f.equipment = {d: Equipment(d, t, seed=11) for d, t in devices}
    f.seq = dict.fromkeys(f.equipment, 1)
    f.published, f.late_ticks = 0, 0
    f.faults = sorted(faults)
    f.injected = []
    f.client = _Capture()  # type: ignore[assignment]
    BatchFleet._init_model(f, sample_s=args.sample_s, batch_s=args.batch_s, lean=True, seed=args.seed)
    return f


class Loop:
    """The diagnose loop's detection and incident decisions, pass by pass (diagnostics/service.py _ingest)."""

    def __init__(self, devices: list[tuple[str, str]]) -> None:
        self.types = dict(devices)
        self.fleet = Fleet()
        self.state = IncidentState()
        self.policy = LoopPolicy().incident
        self.opened: list[dict[str, Any]] = []
        self.first_finding: dict[str, tuple[float, str, tuple[str, ...]]] = {}
        for d, et in devices:
            self.fleet.add(d, et, monitor_config(et, None, None), None)

    def feed(self, bodies: list[bytes], now: float) -> None:
        per: dict[str, list[tuple[float, Mapping[str, float]]]] = {}
        for body in bodies:
            msg = orjson.loads(body)
            per.setdefault(msg["device_id"], []).extend((s["t"] / 1000.0, s["m"]) for s in msg["samples"])
        feed = {}
        for d, samples in per.items():
            kept = in_time_order(self.fleet.last_t(d), sorted(samples, key=lambda s: s[0]))
            if kept:
                feed[d] = kept
        raised = self.fleet.observe(feed)
        for d in raised:
            if d not in self.first_finding:
                f = self.fleet.active(d)[0]
                self.first_finding[d] = (f.at, f.kind, f.signals)
        busy = self.fleet.with_findings() | {i.asset_id for i in self.state.incidents}
        for d, fed in feed.items():
            if d in busy:
                self._decide(d, fed[-1][0], now)

    def _decide(self, d: str, t: float, now: float) -> None:
        active = self.fleet.active(d)
        hyps = focus(self.state, d, classify(self.types[d], active))
        self.state, events = step(self.state, d, hyps, t, self.policy)
        for ev in events:
            if ev.kind == "opened":
                self.opened.append({"device_id": d, "mode": ev.incident.mode, "at": t, "pass_at": now,
                                    "findings": [_finding(f) for f in active]})

    def handover(self) -> None:
        """Every device's state through the checkpoint codec into a fresh row, as a lease hand-over does."""
        for d in list(self.fleet):
            mon, wear = self.fleet.export(d)
            snap = json.loads(json.dumps({"monitor": checkpoint.snapshot(mon), "wear": checkpoint.snapshot(wear)}))
            fresh = DeviceMonitor.from_effective(d, mon.equipment_type, mon.cfg, None)
            fresh_wear = WearTracker(limits_from_config(fresh.cfg))
            checkpoint.restore(fresh, snap["monitor"])
            checkpoint.restore(fresh_wear, snap["wear"])
            self.fleet.remove(d)
            self.fleet.add(d, mon.equipment_type, mon.cfg, None)
            self.fleet.load(d, fresh, fresh_wear)


def _finding(f: Any) -> dict[str, Any]:
    ev = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in f.evidence.items()
          if k in ("value", "robust_z", "limit", "count", "max_rate_ratio", "held_s")}
    return {"kind": f.kind, "signals": list(f.signals), "started_at": round(f.started_at, 3), **ev}


def run(args: argparse.Namespace) -> dict[str, Any]:
    devices = device_ids(args.devices)
    t_start = args.start
    rng = random.Random(args.seed)
    window = (t_start + WARMUP_S, t_start + args.seconds - fault_tail_s(args.batch_s))
    faults = plan_faults(rng, [d for d, _ in devices], args.faults, window)
    fleet = make_fleet(devices, faults, args)
    loop = Loop(devices)
    ids, n = list(fleet.equipment), len(fleet.equipment)
    slot, cycle_start, next_pass = 0, t_start, t_start + args.pass_s
    end = t_start + args.seconds
    handover_at = t_start + args.handover_at if args.handover_at else None
    capture: _Capture = fleet.client  # type: ignore[assignment]
    tick, wall0 = 0, time.monotonic()
    while True:
        now = t_start + tick * TICK_S
        if now >= end:
            break
        fleet.inject_due(now)
        due = min(n, int((now - cycle_start) / args.batch_s * n) + 1)
        fleet._publish_block(ids[slot:due], now)
        slot = max(slot, due)
        if slot >= n:
            slot, cycle_start = 0, cycle_start + args.batch_s
        if now >= next_pass:
            loop.feed(capture.sent, now)
            capture.sent = []
            next_pass += args.pass_s
        if handover_at is not None and now >= handover_at:
            loop.handover()
            handover_at = None
        tick += 1
    loop.feed(capture.sent, end)
    capture.sent = []
    detected_in_run = {o["device_id"] for o in loop.opened}
    # Faults not detected: keep only their devices publishing, to tell "needed longer" from "never".
    pending = [f for f in fleet.injected if f["device_id"] not in detected_in_run]
    extra_opened: dict[str, float] = {}
    if pending and args.extra_s > 0:
        late = [f["device_id"] for f in pending]
        t = end
        while t < end + args.extra_s:
            t += args.batch_s
            fleet._publish_block(late, t)
            loop.feed(capture.sent, t)
            capture.sent = []
            for o in loop.opened:
                if o["device_id"] in late and o["device_id"] not in extra_opened:
                    extra_opened[o["device_id"]] = o["at"]
    return report(args, fleet, loop, detected_in_run, extra_opened, end, time.monotonic() - wall0)


def report(args: argparse.Namespace, fleet: BatchFleet, loop: Loop, detected_in_run: set[str],
           extra_opened: dict[str, float], end: float, wall_s: float) -> dict[str, Any]:
    first_inc: dict[str, dict[str, Any]] = {}
    for o in loop.opened:
        first_inc.setdefault(o["device_id"], o)
    per_fault = []
    for f in fleet.injected:
        d, at = f["device_id"], f["at"]
        inc = first_inc.get(d) if d in detected_in_run else None
        ff = loop.first_finding.get(d)
        row: dict[str, Any] = {"device_id": d, "type": fleet.equipment[d].equipment_type, "mode": f["mode"],
                               "onset_s": round(at - args.start, 1), "data_after_onset_s": round(end - at, 1),
                               "first_finding": None if ff is None else
                               {"after_s": round(ff[0] - at, 1), "kind": ff[1], "signals": list(ff[2])}}
        if inc is not None:
            row |= {"outcome": "detected", "incident_mode": inc["mode"], "after_s": round(inc["at"] - at, 1),
                    "findings": inc["findings"][:3]}
        elif d in extra_opened:
            row |= {"outcome": "needs_longer", "would_detect_after_s": round(extra_opened[d] - at, 1)}
        else:
            row |= {"outcome": "not_detected", "checked_until_s": round(end + args.extra_s - at, 1)}
        per_fault.append(row)
    injected = {f["device_id"] for f in fleet.injected}
    healthy = [o for o in loop.opened if o["device_id"] not in injected]
    outcome = Counter(r["outcome"] for r in per_fault)
    return {
        "mode": "offline replay of bench.pipeline's fleet (BatchFleet, plan_faults) through in_time_order, "
                "Fleet.observe per pass, classify, focus, incident step; no broker/DB/wall clock",
        "faults_injected": len(per_fault), "faults_detected": outcome["detected"],
        "faults_needing_longer": outcome["needs_longer"], "faults_not_detected": outcome["not_detected"],
        "incidents_on_healthy_devices": len({o["device_id"] for o in healthy}),
        "healthy_incidents": [{k: o[k] for k in ("device_id", "mode", "findings")} |
                              {"at_s": round(o["at"] - args.start, 1)} for o in healthy][:50],
        "healthy_incident_kinds": dict(Counter(f["kind"] for o in healthy for f in o["findings"][:1])),
        "faults": sorted(per_fault, key=lambda r: (r["outcome"], r["mode"])),
        "by_mode": {m: dict(Counter(r["outcome"] for r in per_fault if r["mode"] == m))
                    for m in ("motor_trip", *GRADUAL)},
        "config": {k: getattr(args, k) for k in ("devices", "seconds", "faults", "seed", "sample_s", "batch_s",
                                                  "pass_s", "start", "handover_at", "extra_s")},
        "wall_s": round(wall_s, 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.pipeline_replay", description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=2000)
    p.add_argument("--sample-s", type=float, default=1.0)
    p.add_argument("--batch-s", type=float, default=10.0)
    p.add_argument("--seconds", type=float, default=240.0)
    p.add_argument("--faults", type=int, default=40)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", type=float, default=1_796_551_200.0,
                   help="simulated epoch start (default 2026-12-06T10:40Z: the load cycle depends on the hour)")
    p.add_argument("--pass-s", type=float, default=1.0, help="simulated seconds between diagnose passes")
    p.add_argument("--handover-at", type=float, default=0.0,
                   help="seconds into the run at which every device's state goes through a checkpoint (0: never)")
    p.add_argument("--extra-s", type=float, default=600.0,
                   help="keep undetected faulty devices publishing this long after the end, to classify the miss")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m bench.pipeline_replay " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"[bench.pipeline_replay] run as: {command}", file=sys.stderr)
    result = run(args)
    result["command"] = command
    print(f"detected {result['faults_detected']}/{result['faults_injected']} "
          f"(needs longer {result['faults_needing_longer']}, not detected {result['faults_not_detected']}), "
          f"healthy devices with an incident {result['incidents_on_healthy_devices']} "
          f"{result['healthy_incident_kinds']}", file=sys.stderr)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
