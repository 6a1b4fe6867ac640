"""Fault injection of bench.pipeline: which faults, when, and how each one turned out.

Apart from bench/pipeline.py (the processes, the publisher, the throughput figures) because bench.pipeline_replay
replays the same plan offline, and because these rules decide whether a fault *can* be detected in the run at all:
a fault injected too late for its confirmation counts as missed however good the detectors are.
"""

from __future__ import annotations

import random
from typing import Any

import psycopg

from bench.detect_latency import GRADUAL
from diagnostics.config import equipment_config
from edge_agent.simulator import EQUIPMENT_TYPES

# Onset -> full severity of a gradual fault. Its threshold is crossed by then at the latest and confirmed the
# threshold's minimum duration later (up to 120 s), so a run must leave that much after the last onset
# (fault_tail_s); 30 s keeps a 240 s run's fault window 40 s wide.
GRADUAL_DEVELOP_S = 30.0
TAIL_MARGIN_S = 10.0  # diagnose pass and incident commit after the deciding sample's message


def confirm_s() -> float:
    """The longest threshold minimum duration in the shipped detector config: how long after crossing its limit a
    gradual fault is confirmed (motor trips are confirmed within seconds by the rate detectors)."""
    return max(float(sc["threshold"].get("min_duration_s", 0.0))
               for et in EQUIPMENT_TYPES for sc in equipment_config(et)["signals"].values() if "threshold" in sc)


def fault_tail_s(batch_s: float) -> float:
    """No fault starts later than this before publishing ends. It was a fixed 120 s (the confirmation alone),
    which left the gradual faults injected in the second half of the window too little data to cross a threshold
    and then hold it for 120 s: 5-7 of 40 faults undetectable by construction at any fleet size (offline replay,
    bench.pipeline_replay, seeds 1 and 2). The deciding sample is published up to ``batch_s`` after it is taken."""
    return GRADUAL_DEVELOP_S + confirm_s() + batch_s + TAIL_MARGIN_S


def fault_outcomes(conn: psycopg.Connection, injected: list[dict[str, Any]], t_start: float, end: float
                   ) -> dict[str, Any]:
    """Per injected fault: its device, type, mode, onset (s into the run), the data published after it, and the
    first incident on the device (mode, opened how long after onset); per incident on a device without a fault: what
    opened it (the hypothesis' signals, reason and first finding details). To tell a fault the run left too little
    time for, a detector miss and a late detection apart, and a false positive's source (bench.pipeline_replay
    replays the same plan offline)."""
    rows = conn.execute("SELECT i.device_id, a.equipment_type, i.fault_mode, i.opened_at, i.evidence->'hypothesis' "
                        "FROM incidents i LEFT JOIN assets a ON a.device_id = i.device_id ORDER BY i.id").fetchall()
    first: dict[str, tuple[str, float]] = {}
    for dev, _et, mode, opened, _hyp in rows:
        first.setdefault(dev, (mode, opened.timestamp()))
    faults = []
    for f in injected:
        inc = first.get(f["device_id"])
        faults.append({"device_id": f["device_id"], "mode": f["mode"], "onset_s": round(f["at"] - t_start, 1),
                       "data_after_onset_s": round(end - f["at"], 1), "incident_mode": inc[0] if inc else None,
                       "opened_after_s": round(inc[1] - f["at"], 1) if inc else None})
    faulty = {f["device_id"] for f in injected}
    healthy = [{"device_id": dev, "type": et, "mode": mode, "opened_s": round(opened.timestamp() - t_start, 1),
                "signals": (hyp or {}).get("signals"), "why": (hyp or {}).get("why"),
                "details": ((hyp or {}).get("details") or [None])[0]}
               for dev, et, mode, opened, hyp in rows if dev not in faulty]
    return {"faults_missed": [f for f in faults if f["incident_mode"] is None],
            "faults": sorted(faults, key=lambda f: (f["incident_mode"] is not None, f["onset_s"])),
            "healthy_incidents": healthy[:20]}


def plan_faults(rng: random.Random, device_ids: list[str], n: int, window: tuple[float, float]
                ) -> list[tuple[float, str, str]]:
    """(wall time, device, mode) of ``n`` faults on distinct random devices, uniform over ``window``: half motor
    trips, half gradual faults (bench.pipeline_replay replays the same plan offline for a seed)."""
    return [(rng.uniform(*window), d, "motor_trip" if rng.random() < 0.5 else rng.choice(GRADUAL))
            for d in rng.sample(device_ids, min(n, len(device_ids)))]
