"""Live RUL on the simulated fleet: the fleet-learned model (diagnostics/rul_learned.py) against the trend it
replaces (diagnostics/rul.py, ``WearTracker``), on the same held-out assets.

``python -m bench.fleet_rul [--types pump] [--train-failures 10] [--test-failures 20] [--healthy 20] [--seed 0]``

How: the edge simulator (edge_agent/simulator.py) plays each asset at one sample per 2 minutes, as the demo's
seeded history does. Training data (seed S): assets with one wear fault run to failure (the label) and healthy
assets (censored lives), as `quietfix train` reads them from the database. Test data (seed S + 1000, other
assets, other noise): each test asset runs a healthy day (the trend needs 18 h to learn its envelope) and then a
wear fault to failure; healthy test assets run the same time without a fault. Both estimators see the same
samples and estimate at the end of every 10-minute cycle.

Scored per cycle in the last 8 h before failure (``CAP``): RMSE of the estimated time to failure in hours, with
"no failure in sight" (and no estimate) counted as the cap; the share of failures warned (a degrading estimate)
at least 1 h before failure, held to the end; on healthy assets, the share of cycles called degrading (false
alarms). Both capped the same way: that is the comparison's fairness. Prints how it ran, then ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time

import numpy as np

from diagnostics.config import equipment_config
from diagnostics.rul import WearTracker, asset_rul, limits_from_config
from diagnostics.rul_learned import (
    CAP_CYCLES,
    CYCLE_S,
    HEALTHY_FRAC,
    WINDOW_CYCLES,
    Failure,
    LearnedRulModel,
    fleet_features,
    train_learned,
)
from edge_agent.simulator import APPLICABLE_TYPES, DEFAULT_DEVELOP_S, Equipment

STEP_S = 120.0
WEAR = ("bearing_wear", "clogged_filter", "overheating", "refrigerant_leak", "seal_leak")
CAP_S = CAP_CYCLES * CYCLE_S
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def run_asset(device: str, eq: str, seed: int, lead_s: float, mode: str | None, develop_s: float,
              signals: list[str]) -> tuple[np.ndarray, np.ndarray, float]:
    """(raw samples rows x signals, their times, failure time or the end) for one simulated asset."""
    sim = Equipment(device, eq, seed=seed)
    onset = T0 + lead_s
    end = onset + develop_s
    if mode is not None:
        sim.inject(mode, onset, develop_s=develop_s)
    ts = np.arange(T0, end, STEP_S)
    x = np.array([[sim.sample(t)[s] for s in signals] for t in ts])
    return x, ts, end


def cycles(x: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """10-minute means, as the database's date_bin gives them (complete cycles from T0)."""
    idx = ((ts - T0) // CYCLE_S).astype(int)
    n = int(idx.max()) + 1
    out = np.zeros((n, x.shape[1]))
    np.add.at(out, idx, x)
    return out / np.bincount(idx, minlength=n)[:, None]


def plan(eq: str, n: int, rng: random.Random) -> list[tuple[str, float]]:
    modes = [m for m in WEAR if eq in APPLICABLE_TYPES[m]]
    return [(m, DEFAULT_DEVELOP_S[m] * rng.uniform(0.5, 1.5)) for m in (rng.choice(modes) for _ in range(n))]


def train(eq: str, signals: list[str], n_fail: int, n_healthy: int, seed: int) -> LearnedRulModel:
    rng = random.Random(seed)
    fails = []
    for i, (mode, dev) in enumerate(plan(eq, n_fail, rng)):
        x, ts, _ = run_asset(f"tr-{eq}-{i}", eq, seed, rng.uniform(2, 26) * 3600, mode, dev, signals)
        fails.append(Failure(f"tr-{eq}-{i}", mode, cycles(x, ts)))
    lives = []
    for i in range(n_healthy):
        x, ts, _ = run_asset(f"trh-{eq}-{i}", eq, seed, 40 * 3600, None, 0.0, signals)
        lives.append(cycles(x, ts)[: -CAP_CYCLES])  # known to run 8 h past this end
    return train_learned(eq, signals, fails, lives)


def evaluate(eq: str, signals: list[str], model: LearnedRulModel, n_fail: int, n_healthy: int,
             seed: int) -> dict[str, dict[str, float]]:
    rng = random.Random(seed)
    limits = limits_from_config(equipment_config(eq))
    err = {"learned": [], "trend": []}
    warned = {"learned": 0, "trend": 0}
    false = {"learned": [], "trend": []}
    cases = [(m, d) for m, d in plan(eq, n_fail, rng)] + [(None, 16 * 3600.0)] * n_healthy
    for i, (mode, dev) in enumerate(cases):
        x, ts, fail_at = run_asset(f"te-{eq}-{i}", eq, seed, 24 * 3600, mode, dev, signals)
        wear = WearTracker(limits)
        c = cycles(x, ts)
        feats = fleet_features(c, WINDOW_CYCLES)
        learned_c = np.clip(model.predict_features(feats), 0, CAP_CYCLES)
        k = 0
        flags = {"learned": [], "trend": []}
        for j in range(len(c)):
            end = T0 + (j + 1) * CYCLE_S
            while k < len(ts) and ts[k] < end:
                wear.observe(float(ts[k]), dict(zip(signals, x[k], strict=True)))
                k += 1
            left = fail_at - end
            if left <= 0 or end < T0 + 18 * 3600:
                continue
            best = asset_rul(wear.estimate(end))
            trend_s = best.rul_s if best is not None and best.status in ("degrading", "at_limit") else None
            lrn_s = learned_c[j] * CYCLE_S if learned_c[j] < HEALTHY_FRAC * CAP_CYCLES else None
            for name, est in (("learned", lrn_s), ("trend", trend_s)):
                flags[name].append(est is not None)
                if mode is not None and left <= CAP_S:
                    e = min(CAP_S, est if est is not None else CAP_S) - min(CAP_S, left)
                    err[name].append(e / 3600)
        for name in ("learned", "trend"):
            f = flags[name]
            if mode is None:
                false[name] += f
            else:  # warned and held: flagged continuously over (at least) the last hour before failure
                tail = int(3600 // CYCLE_S)
                warned[name] += bool(len(f) >= tail and all(f[-tail:]))
    return {name: {"rmse_h": round(float(np.sqrt(np.mean(np.square(err[name])))), 3),
                   "warned_1h_before": round(warned[name] / max(1, n_fail), 3),
                   "healthy_false_alarm_rate": round(float(np.mean(false[name])) if false[name] else 0.0, 4)}
            for name in ("learned", "trend")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--types", nargs="*", default=["pump", "chiller", "compressor"])
    ap.add_argument("--train-failures", type=int, default=10, help="repaired failures per type (the demo seeds 10)")
    ap.add_argument("--train-healthy", type=int, default=20)
    ap.add_argument("--test-failures", type=int, default=20)
    ap.add_argument("--healthy", type=int, default=20, help="healthy held-out assets per type")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    started = time.time()
    print(f"bench.fleet_rul: types={args.types} train={args.train_failures} failures + {args.train_healthy} "
          f"healthy lives (seed {args.seed}); test={args.test_failures} failures + {args.healthy} healthy "
          f"(seed {args.seed + 1000}); sample every {STEP_S:.0f} s, cycle {CYCLE_S:.0f} s, cap {CAP_S / 3600:.0f} h; "
          f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus")
    out = {}
    for eq in args.types:
        signals = sorted(limits_from_config(equipment_config(eq)))
        model = train(eq, signals, args.train_failures, args.train_healthy, args.seed)
        out[eq] = evaluate(eq, signals, model, args.test_failures, args.healthy, args.seed + 1000)
        print(eq, json.dumps(out[eq]))
    print(json.dumps({"bench": "fleet_rul", "seed": args.seed, "seconds": round(time.time() - started, 1),
                      "per_type": out}))


if __name__ == "__main__":
    main()
