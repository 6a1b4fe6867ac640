"""Detection benchmark on the edge simulator's labelled faults: precision, recall, lead time, false alarms,
remote fix rate.

Mode: direct (no MQTT, no database). Each simulated device's ``Equipment.sample()`` feeds the diagnose worker's
vectorised detectors (``diagnostics.fleet.Fleet``, one block update per time step for the whole fleet);
findings go through ``classify``, ``diagnostics.loop_rules.focus`` and the incident state machine exactly as the
live loop does; the live loop's responses are replayed in simulation: the knowledge base's remote command
(``Equipment.reset()`` after a command latency) with verification, otherwise a technician visit
(``Equipment.repair()`` after a travel delay). Normal models are trained per equipment type on healthy simulated
history first (as ``diagnostics.training.train`` does from the database).

Scoring, per fault label (device, mode, onset, failure): detected when an incident opens on that device between
onset and failure + ``--grace-h``; lead time = failure - detection (negative = after functional failure).
An incident matching no label is a false alarm. ``remote_fix_rate`` = detected faults closed by a remote command
without a visit / detected faults.

    python -m bench.detect_fleet --devices 30 --hours 36
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field

from diagnostics.classify import classify
from diagnostics.fleet import Fleet
from diagnostics.incidents import Incident, IncidentPolicy, IncidentState, step, transition
from diagnostics.knowledge import load_knowledge
from diagnostics.loop_rules import focus, monitor_config
from diagnostics.normal_model import NormalModel, train_normal_model
from diagnostics.remote import COMMANDS
from diagnostics.service import LoopPolicy
from edge_agent.models import FaultLabel
from edge_agent.simulator import APPLICABLE_TYPES, EQUIPMENT_TYPES, FAULT_MODES, Equipment

T0 = 1_767_225_600.0  # 2026-01-01T00:00Z
COMMAND_LATENCY_S = 30.0  # broker round trip plus the device acting on a reset
TRAIN_SAMPLE_S = 60.0  # healthy training history: one sample a minute over whole days covers the load cycle


@dataclass
class Dev:
    eq: Equipment
    label: FaultLabel | None = None
    reset_at: float | None = None
    repair_at: float | None = None
    visit_for: list[str] = field(default_factory=list)


def train_models(days: float, seed: int) -> dict[str, NormalModel]:
    models = {}
    for et in EQUIPMENT_TYPES:
        rows = []
        for k in range(3):
            e = Equipment(f"train-{et}-{k}", et, seed=seed + 1000)
            rows += [e.sample(T0 - days * 86400 + TRAIN_SAMPLE_S * i) for i in range(int(days * 86400 / TRAIN_SAMPLE_S))]
        models[et] = train_normal_model(et, rows, version=f"{et}-bench")
    return models


def run(args: argparse.Namespace) -> dict[str, float | int | str]:
    rng = random.Random(args.seed)
    models = train_models(args.train_days, args.seed) if args.model else {}
    kb = load_knowledge()
    pol = LoopPolicy()
    ipol: IncidentPolicy = pol.incident
    devs: dict[str, Dev] = {}
    fleet = Fleet()
    for i in range(args.devices):
        et = EQUIPMENT_TYPES[i % len(EQUIPMENT_TYPES)]
        did = f"{et}-{i:04d}"
        eq = Equipment(did, et, seed=args.seed)
        model = models.get(et)
        d = Dev(eq)
        fleet.add(did, et, monitor_config(et, None, model), model)
        if rng.random() < args.fault_share:
            mode = rng.choice([m for m in FAULT_MODES if et in APPLICABLE_TYPES[m]])
            onset = T0 + rng.uniform(args.warmup_h, args.hours - args.tail_h) * 3600
            d.label = eq.inject(mode, onset)
        devs[did] = d
    state = IncidentState()
    opened: list[tuple[Incident, float]] = []  # (incident, data time)
    outcome: dict[str, str] = {}
    steps = int(args.hours * 3600 / args.sample_s)
    started = time.monotonic()
    for k in range(steps):
        t = T0 + k * args.sample_s
        for d in devs.values():
            if d.reset_at is not None and t >= d.reset_at:
                d.eq.reset()
                d.reset_at = None
            if d.repair_at is not None and t >= d.repair_at:
                d.eq.repair()
                d.repair_at = None
                for iid in d.visit_for:
                    state, _ = transition(state, iid, "resolved_onsite", t)
                    state, _ = transition(state, iid, "closed", t)
                    outcome[iid] = "visit"
                d.visit_for = []
        raised = fleet.observe({did: [(t, d.eq.sample(t))] for did, d in devs.items()})
        for did, d in devs.items():
            if did not in raised and not any(i.asset_id == did and i.state in ("detected", "remote_fix_attempted")
                                   for i in state.incidents):
                continue  # nothing changed and nothing to resolve: skip the classifier (hot path)
            hyps = focus(state, did, classify(d.eq.equipment_type, fleet.active(did)))
            state, events = step(state, did, hyps, t, ipol)
            for ev in events:
                inc = ev.incident
                if ev.kind == "opened":
                    opened.append((inc, t))
                    entry = kb.get((d.eq.equipment_type, inc.mode))
                    if entry is not None and entry.remote_fix in COMMANDS:
                        state, _ = transition(state, inc.id, "remote_fix_attempted", t)
                        d.reset_at = t + COMMAND_LATENCY_S
                        outcome[inc.id] = "remote_pending"
                    elif entry is not None and entry.severity <= 1:
                        outcome[inc.id] = "watching"
                    else:
                        state = _visit(state, d, inc.id, t, args.visit_h, outcome)
                elif ev.kind == "auto_resolved":
                    outcome[inc.id] = "remote" if inc.state == "resolved_remote" else "auto"
                elif ev.kind == "reopened" and inc.state == "detected":
                    state = _visit(state, d, inc.id, t, args.visit_h, outcome)
        # verification deadline and watch period, as Actions.check_attempts / check_watch
        for inc in state.incidents:
            if inc.state == "remote_fix_attempted" and t - inc.opened_at > pol.verify_s or inc.state == "detected" and t - inc.opened_at >= pol.watch_s:
                state = _visit(state, devs[inc.asset_id], inc.id, t, args.visit_h, outcome)
        if k % max(1, steps // 10) == 0:
            print(f"  {100 * k / steps:.0f}% simulated, {len(opened)} incidents, "
                  f"{time.monotonic() - started:.0f}s", file=sys.stderr)
    return score(devs, opened, outcome, args)


def _visit(state: IncidentState, d: Dev, iid: str, t: float, visit_h: float, outcome: dict[str, str]) -> IncidentState:
    state, _ = transition(state, iid, "work_order", t)
    d.visit_for.append(iid)
    if d.repair_at is None:
        d.repair_at = t + visit_h * 3600
    outcome[iid] = "visit_pending"
    return state


def score(devs: dict[str, Dev], opened: list[tuple[Incident, float]], outcome: dict[str, str],
          args: argparse.Namespace) -> dict[str, float | int | str]:
    labels = [d.label for d in devs.values() if d.label is not None]
    grace = args.grace_h * 3600
    matched: dict[int, list[tuple[Incident, float]]] = {}
    false_alarms = 0
    examples: list[str] = []
    for inc, t in opened:
        hit = next((j for j, lb in enumerate(labels) if lb.device_id == inc.asset_id
                    and lb.onset_s <= t <= lb.failure_s + grace), None)
        if hit is None:
            false_alarms += 1
            before = next((lb for lb in labels if lb.device_id == inc.asset_id and lb.onset_s <= t), None)
            examples.append(f"{inc.asset_id}:{inc.mode}@{(t - T0) / 3600:.1f}h"
                            + (f" (after {before.mode} at {(before.onset_s - T0) / 3600:.1f}h)" if before else ""))
        else:
            matched.setdefault(hit, []).append((inc, t))
    tp = sum(len(v) for v in matched.values())
    leads = [(labels[j].failure_s - min(t for _, t in v)) / 60 for j, v in matched.items()]
    mode_ok = sum(1 for j, v in matched.items() if any(i.mode == labels[j].mode for i, _ in v))
    remote = sum(1 for v in matched.values() if any(outcome.get(i.id) == "remote" for i, _ in v)
                 and not any(outcome.get(i.id, "").startswith("visit") for i, _ in v))
    fixable = [j for j in matched if labels[j].remote_fixable]
    days = args.devices * args.hours / 24
    return {
        "mode": "direct (Equipment.sample -> vectorised detectors (Fleet) -> classify -> incident state machine; no MQTT/DB)",
        "devices": args.devices, "hours": args.hours, "faults": len(labels), "incidents": len(opened),
        "precision": round(tp / len(opened), 3) if opened else 0.0,
        "recall": round(len(matched) / len(labels), 3) if labels else 0.0,
        "fault_mode_accuracy": round(mode_ok / len(matched), 3) if matched else 0.0,
        "median_lead_time_min": round(statistics.median(leads), 1) if leads else 0.0,
        "false_alarms_per_asset_day": round(false_alarms / days, 4) if days else 0.0,
        "remote_fix_rate": round(remote / len(matched), 3) if matched else 0.0,
        "remote_fixable_fixed_remotely": f"{sum(1 for j in fixable if any(outcome.get(i.id) == 'remote' for i, _ in matched[j]))}/{len(fixable)}",
        "false_alarms": examples,
        "missed": sorted(f"{lb.device_id}:{lb.mode}" for j, lb in enumerate(labels) if j not in matched),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=30)
    ap.add_argument("--hours", type=float, default=36.0, help="simulated hours per device")
    ap.add_argument("--sample-s", type=float, default=10.0, help="sample interval (simulated s)")
    ap.add_argument("--fault-share", type=float, default=0.7, help="share of devices that get one fault")
    ap.add_argument("--warmup-h", type=float, default=4.0, help="no fault starts before this (detector warm-up)")
    ap.add_argument("--tail-h", type=float, default=10.0, help="no fault starts this close to the end")
    ap.add_argument("--grace-h", type=float, default=2.0, help="detections this long after failure still count")
    ap.add_argument("--visit-h", type=float, default=2.0, help="technician arrives and repairs after this")
    ap.add_argument("--train-days", type=float, default=2.0)
    ap.add_argument("--no-model", dest="model", action="store_false", help="thresholds/rates/sensor checks only")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(f"detect_fleet: {vars(args)}", file=sys.stderr)
    res = run(args)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
