"""How quietfix's spares parameters were chosen: a sweep on TUNING seeds >= 101 only (bench.spares_month
evaluates on seeds 1-10, never these).

For speed the matched baseline is not bisected per candidate: static_sourcing is run once on a grid of safety
factors (z = -1.5 .. 2 by 0.25), and its inventory at a candidate's first-visit rate is interpolated linearly
between grid points (an approximation of ``static_sourcing_matched``; the curve is steep between z = -0.25 and
0, so ratios there are rough).

Session 6 (first engineer): seeds 101-105, rule "lowest ratio among candidates >= 97.75 % first visit" (a margin
because the evaluation seeds had run 0.3 points below 101-105) -> van_lambda 7e-5. Those 5 seeds proved
optimistic (0.62x there, 0.76x on the evaluation seeds): the spread between seeds was larger than any knob's gain.
Session 6 (second engineer): the default is now 30 tuning seeds, 101-130, and the rule (fixed before the sweep
ran) "lowest ratio among candidates >= 97.5 % mean first visit on 101-130" (a 0.5-point margin over the 97 %
target: 30 seeds narrow the gap between sets, they do not remove it).

Run: ``python -m bench.spares_tune`` (seeds 101-130, about 7 CPU-minutes; ``--seeds 5 --min-fvf 0.9775
--session6a`` reruns the first sweep). Progress to stderr; one JSON line last on stdout.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import time
from dataclasses import replace
from typing import Any

import numpy as np

from bench.spares_month import MATCHED, run_policy
from bench.spares_world import Config, Stream, make_stream

log = logging.getLogger(__name__)
MIN_TUNING_FVF = 0.975  # see the docstring: 97 % on the evaluation seeds, plus a margin for the gap between sets
FIRST_TUNING_SEED = 101  # seeds below are never tuned on (1-10 are the evaluation seeds)
# Every candidate is read over these values (the levels before the second sweep; Config's defaults now differ).
BASE: dict[str, Any] = {"signal_bounds": True, "van_lambda": 7e-5, "depot_system_fill": 0.99,
                        "depot_transfers": False}
# The first sweep of session 6 on seeds 101-105 (each is a replace() on Config): the previous levels, the fill
# targets, the signals' stated bounds, and the marginal van rule at several prices.
CANDIDATES_6A: tuple[dict[str, Any], ...] = (
    {"signal_bounds": False, "van_lambda": None},
    {"signal_bounds": True, "van_lambda": None},
    {"signal_bounds": True, "van_lambda": None, "van_system_fill": 0.93},
    {"signal_bounds": True, "van_lambda": None, "depot_system_fill": 0.98},
    {"signal_bounds": True, "van_lambda": 5e-5},
    {"signal_bounds": True, "van_lambda": 7e-5},
    {"signal_bounds": True, "van_lambda": 1e-4},
    {"signal_bounds": True, "van_lambda": 7e-5, "predict_horizon_days": 3.0},
    {"signal_bounds": True, "van_lambda": 7e-5, "predict_horizon_days": 6.0},
    {"signal_bounds": True, "van_lambda": 7e-5, "depot_lambda": 5e-5},
    {"signal_bounds": False, "van_lambda": 7e-5},
)
# The second sweep (30 seeds): the van price and the depot fill around the first choice, then with transfers.
CANDIDATES: tuple[dict[str, Any], ...] = (
    {},
    {"van_lambda": 5e-5},
    {"van_lambda": 1e-4},
    {"depot_system_fill": 0.985},
    {"van_lambda": 5e-5, "depot_system_fill": 0.985},
    {"van_lambda": 1e-4, "depot_system_fill": 0.995},
    {"van_lambda": 5e-5, "depot_system_fill": 0.98},
    # nightly depot-to-depot transfers of excess before ordering (the flow the live product proposes)
    {"depot_transfers": True},
    {"depot_transfers": True, "van_lambda": 5e-5},
    {"depot_transfers": True, "depot_system_fill": 0.995},
    {"depot_transfers": True, "van_lambda": 5e-5, "depot_system_fill": 0.995},
)


def static_curve(streams: list[Stream]) -> list[tuple[float, float, float]]:
    """(z, mean first-visit rate, mean inventory) of static_sourcing over the streams."""
    out = []
    for z in np.arange(-1.5, 2.01, 0.25):
        runs = [run_policy(st, MATCHED, float(z)) for st in streams]
        out.append((float(z), float(np.mean([r["first_visit_fix_rate"] for r in runs])),
                    float(np.mean([r["inventory_value_avg"] for r in runs]))))
        log.info("static_sourcing z=%.2f: %.4f at %.0f", *out[-1])
    return out


def matched_inventory(curve: list[tuple[float, float, float]], fvf: float) -> float:
    """Interpolated inventory of the static curve at first-visit rate ``fvf`` (nan when never reached)."""
    for (_, f0, i0), (_, f1, i1) in itertools.pairwise(curve):
        if f0 >= fvf:
            return i0
        if f1 >= fvf:
            return i0 + (i1 - i0) * (fvf - f0) / (f1 - f0)
    return float("nan")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=FIRST_TUNING_SEED, help="first tuning seed (>= 101)")
    ap.add_argument("--seeds", type=int, default=30, help="number of tuning seeds")
    ap.add_argument("--min-fvf", type=float, default=MIN_TUNING_FVF, help="selection rule's first-visit floor")
    ap.add_argument("--session6a", action="store_true", help="the first sweep's candidates")
    args = ap.parse_args(argv)
    if args.seed < FIRST_TUNING_SEED or args.seeds < 1:
        ap.error(f"tuning seeds start at {FIRST_TUNING_SEED} or above (1-10 are the evaluation seeds)")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    t0 = time.process_time()
    seeds = list(range(args.seed, args.seed + args.seeds))
    streams = [make_stream(replace(Config(), seed=s)) for s in seeds]
    curve = static_curve(streams)
    rows: list[dict[str, Any]] = []
    for cand in CANDIDATES_6A if args.session6a else CANDIDATES:
        runs = [run_policy(replace(st, cfg=replace(st.cfg, **{**BASE, **cand})), "quietfix") for st in streams]
        fvf = float(np.mean([r["first_visit_fix_rate"] for r in runs]))
        inv = float(np.mean([r["inventory_value_avg"] for r in runs]))
        ratio = inv / matched_inventory(curve, fvf)
        rows.append({"candidate": cand, "first_visit_fix_rate": round(fvf, 4), "inventory_value_avg": round(inv),
                     "approx_ratio_to_matched": round(ratio, 3)})
        log.info("%s", rows[-1])
    ok = [r for r in rows if r["first_visit_fix_rate"] >= args.min_fvf]
    best = min(ok, key=lambda r: r["approx_ratio_to_matched"]) if ok else None
    print(json.dumps({"bench": "spares_tune", "seeds": seeds, "min_fvf": args.min_fvf, "static_curve": curve,
                      "candidates": rows, "chosen": best, "cpu_s": round(time.process_time() - t0, 1)}))


if __name__ == "__main__":
    main()
