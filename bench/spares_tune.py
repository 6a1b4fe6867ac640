"""How quietfix's spares parameters were chosen: a sweep on the TUNING seeds 101-105 only (bench.spares_month
evaluates on seeds 1-10, never these).

For speed the matched baseline is not bisected per candidate: static_sourcing is run once on a grid of safety
factors (z = -1.5 .. 2 by 0.25), and its inventory at a candidate's first-visit rate is interpolated linearly
between grid points (an approximation of ``static_sourcing_matched``; the curve is steep between z = -0.25 and
0, so ratios there are rough). Rule used in session 6: among candidates with a mean first-visit rate >= 97.75 %
on 101-105, the lowest ratio. Why the margin: with the previous levels the evaluation seeds ran 0.3 points
below the tuning seeds (97.08 % vs 96.75 %), and the target is >= 97 % there.

Run: ``python -m bench.spares_tune`` (about 2 CPU-minutes). Progress to stderr; one JSON line last on stdout.
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
MIN_TUNING_FVF = 0.9775  # see the docstring: 97 % on the evaluation seeds, plus the gap seen between the sets
TUNING_SEEDS = (101, 102, 103, 104, 105)
# The candidates swept in session 6 (each is a replace() on Config): the previous levels, the fill targets,
# the signals' stated bounds, and the marginal van rule at several prices.
CANDIDATES: tuple[dict[str, Any], ...] = (
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
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    t0 = time.process_time()
    streams = [make_stream(replace(Config(), seed=s)) for s in TUNING_SEEDS]
    curve = static_curve(streams)
    rows: list[dict[str, Any]] = []
    for cand in CANDIDATES:
        runs = [run_policy(replace(st, cfg=replace(st.cfg, **cand)), "quietfix") for st in streams]
        fvf = float(np.mean([r["first_visit_fix_rate"] for r in runs]))
        inv = float(np.mean([r["inventory_value_avg"] for r in runs]))
        ratio = inv / matched_inventory(curve, fvf)
        rows.append({"candidate": cand, "first_visit_fix_rate": round(fvf, 4), "inventory_value_avg": round(inv),
                     "approx_ratio_to_matched": round(ratio, 3)})
        log.info("%s", rows[-1])
    ok = [r for r in rows if r["first_visit_fix_rate"] >= MIN_TUNING_FVF]
    best = min(ok, key=lambda r: r["approx_ratio_to_matched"]) if ok else None
    print(json.dumps({"bench": "spares_tune", "seeds": list(TUNING_SEEDS), "static_curve": curve,
                      "candidates": rows, "chosen": best, "cpu_s": round(time.process_time() - t0, 1)}))


if __name__ == "__main__":
    main()
