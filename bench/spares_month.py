"""A simulated month of field-service parts demand, run through a static min/max policy and quietfix's policy.

The world and its failure/signal stream: bench/spares_world.py. The policies and the month's simulation:
bench/spares_sim.py. Here: the runs over seeds, the matched baseline and the report.

* ``static_sourcing_matched``: ``static_sourcing`` with ONE safety factor for all seeds, bisected so that its
  mean first-visit fix rate reaches quietfix's (the fair baseline: equal service, compare inventory).

Run: ``python -m bench.spares_month --seeds 10`` (seeds 1-10, averaged; quietfix's parameters were tuned on
seeds 101-130, ``python -m bench.spares_tune``). Progress goes to stderr; one JSON line last on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace

import numpy as np

from bench.matching import smallest_reaching
from bench.spares_sim import Sim
from bench.spares_world import (
    Z_STATIC,
    Config,
    Stream,
    build_world,
    daily_history,
    generate,
    make_stream,
    signal_probability,
    static_levels,
)

__all__ = ["MATCHED", "POLICIES", "Z_RANGE", "Config", "build_world", "daily_history", "generate", "make_stream",
           "run_month", "run_policy", "run_seeds", "signal_probability", "static_levels"]

log = logging.getLogger(__name__)

POLICIES = ("static", "quietfix", "static_sourcing", "quietfix_no_signals")
MATCHED = "static_sourcing_matched"
Z_RANGE = (-3.0, 6.0)  # safety factors the matched baseline may take (z < 0: below mean lead-time demand)


def run_policy(stream: Stream, policy: str, z: float = Z_STATIC) -> dict[str, float]:
    """One policy over one stream; ``static_sourcing_matched`` is ``static_sourcing`` at safety factor ``z``."""
    sim_policy = "static_sourcing" if policy == MATCHED else policy
    static = static_levels(stream.world, stream.total, z)
    return Sim(stream.cfg, stream.world, sim_policy, stream.failures, stream.signals, stream.unannounced, static,
               stream.start).run()


def run_month(cfg: Config, policies: tuple[str, ...] = POLICIES
              ) -> dict[str, dict[str, float]]:
    stream = make_stream(cfg)
    out = {}
    for policy in policies:
        t0 = time.perf_counter()
        out[policy] = run_policy(stream, policy)
        log.info("%s done in %.1f s: %s", policy, time.perf_counter() - t0, out[policy])
    return out


def mean_metrics(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = runs[0].keys()
    return {k: round(float(np.mean([r[k] for r in runs])), 4 if "rate" in k else 1) for k in keys}


def run_seeds(base: Config, seeds: list[int]) -> dict[str, object]:
    """Every policy on every seed, then the static+sourcing policy with ONE safety factor (common to all seeds,
    like quietfix's parameters) bisected so its mean first-visit fix rate reaches quietfix's mean."""
    streams = [make_stream(replace(base, seed=s)) for s in seeds]
    per_seed: dict[str, list[dict[str, float]]] = {p: [] for p in POLICIES}
    for s, stream in zip(seeds, streams, strict=True):
        for policy in POLICIES:
            per_seed[policy].append(run_policy(stream, policy))
        log.info("seed %d: %s", s, {p: (per_seed[p][-1]["first_visit_fix_rate"],
                                        per_seed[p][-1]["inventory_value_avg"]) for p in POLICIES})
    target = float(np.mean([r["first_visit_fix_rate"] for r in per_seed["quietfix"]]))

    def fvf(z: float) -> float:
        v = float(np.mean([run_policy(st, MATCHED, z)["first_visit_fix_rate"] for st in streams]))
        log.info("  static_sourcing at z = %.4f: mean first-visit fix %.4f", z, v)
        return v

    z, _ = smallest_reaching(fvf, target, *Z_RANGE)
    per_seed[MATCHED] = [run_policy(st, MATCHED, z) for st in streams]
    mean = {p: mean_metrics(r) for p, r in per_seed.items()}
    qf, matched = mean["quietfix"], mean[MATCHED]
    ratio = qf["inventory_value_avg"] / matched["inventory_value_avg"]
    return {"seeds": seeds, "quietfix": qf, MATCHED: {"safety_factor_z": round(z, 4), **matched},
            **{p: mean[p] for p in POLICIES if p != "quietfix"},
            "quietfix_inventory_over_matched": round(ratio, 4),
            "target": "quietfix first-visit >= 0.97 at <= 0.70 x matched static inventory",
            "target_met": bool(qf["first_visit_fix_rate"] >= 0.97 and ratio <= 0.70),
            "quietfix_inventory_over_matched_per_seed": [
                round(q["inventory_value_avg"] / m["inventory_value_avg"], 3)
                for q, m in zip(per_seed["quietfix"], per_seed[MATCHED], strict=True)],
            "per_seed": {p: [(r["first_visit_fix_rate"], r["inventory_value_avg"]) for r in runs]
                         for p, runs in per_seed.items()}}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1, help="first seed")
    ap.add_argument("--seeds", type=int, default=1, help="number of seeds (seed, seed + 1, ...), averaged")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--techs", type=int, default=20)
    ap.add_argument("--depots", type=int, default=4, choices=[3, 4, 5])
    ap.add_argument("--jobs-per-day", type=float, default=40.0)
    ap.add_argument("--predictable-share", type=float, default=0.5)
    ap.add_argument("--wrong-part-rate", type=float, default=Config.wrong_part_rate)
    ap.add_argument("--wrong-week-rate", type=float, default=Config.wrong_week_rate)
    ap.add_argument("--no-transfers", action="store_true",
                    help="quietfix as first measured in session 6: no nightly depot transfers, depot fill 0.99")
    ap.add_argument("--fill-levels", action="store_true",
                    help="quietfix as measured before session 6: aggregate fill on vans too, signals without bounds")
    ap.add_argument("--per-sku-levels", action="store_true",
                    help="quietfix with the earlier per-SKU targets (van cycle 97 %%, depot fill 97 %%, 3-day horizon)")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")
    for name in ("wrong_part_rate", "wrong_week_rate"):
        if not 0.0 <= getattr(args, name) < 1.0:
            ap.error(f"--{name.replace('_', '-')} must be in [0, 1)")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    cfg = Config(seed=args.seed, days=args.days, techs=args.techs, depots=args.depots,
                 jobs_per_day=args.jobs_per_day, predictable_share=args.predictable_share,
                 wrong_part_rate=args.wrong_part_rate, wrong_week_rate=args.wrong_week_rate)
    before_transfers = {"depot_transfers": False, "depot_system_fill": 0.99}
    if args.no_transfers:
        cfg = replace(cfg, **before_transfers)
    if args.fill_levels:
        cfg = replace(cfg, van_lambda=None, signal_bounds=False, **before_transfers)
    if args.per_sku_levels:
        cfg = replace(cfg, cost_weighted=False, predict_horizon_days=3.0, van_lambda=None, signal_bounds=False,
                      **before_transfers)
    seeds = list(range(args.seed, args.seed + args.seeds))
    log.info("bench.spares_month %s, seeds %s, signal probability stated %.3f", cfg, seeds, signal_probability(cfg))
    t0 = time.perf_counter()
    result = run_seeds(cfg, seeds)
    log.info("quietfix %s", result["quietfix"])
    log.info("%s %s", MATCHED, result[MATCHED])
    log.info("quietfix inventory / matched static: %.3f; target met: %s", result["quietfix_inventory_over_matched"],
             result["target_met"])
    cfg_out = {k: v for k, v in cfg.__dict__.items() if k != "seed"}
    print(json.dumps({"bench": "spares_month", "config": cfg_out,
                      "quietfix_tuned_on_seeds": "101-130 (never the evaluation seeds 1-10)", **result,
                      "wall_s": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
