"""Solomon VRPTW benchmark of the dispatch model (same RoutingData -> build_model code as the product).

Run: python -m bench.vrptw [--instances DIR] [--bks FILE] [--seconds S] [--only C101,R101] [--fixed-cost F]
       [--single-phase]
Travel time = Euclidean distance (double precision, scaled ×SCALE to integers: costs rounded, travel times
rounded *up* so an integer-feasible route is feasible in real numbers). Every solution is re-checked in double
precision by an independent checker. Gap is against the hierarchical BKS (vehicles first, then distance) and is
averaged only over instances whose vehicle count matches the BKS; vehicle excess is reported for all.
Search: dispatch.solver.solve_fewest_vehicles (fixed vehicle cost, then route elimination, then distance with
the fleet fixed) within --seconds of wall time; --single-phase runs the product's plain search once instead.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dispatch.routing_model import RoutingData, build_model
from dispatch.solver import search_parameters, solve_fewest_vehicles

REPO = Path(__file__).resolve().parent.parent


def datasets_dir() -> Path:
    """../shared/datasets relative to the repository root; worktrees sit one level deeper, so look upwards."""
    for base in (REPO, *REPO.parents):
        if (base.parent / "shared" / "datasets").is_dir():
            return base.parent / "shared" / "datasets"
    return REPO / "../shared/datasets"


SCALE = 1000  # 3 decimals: rounding error per arc ≤ 0.0005, far below the 0.01 precision of the BKS table
# Cost of opening a vehicle in distance units: larger than any detour saved by an extra route, so the search
# reduces vehicles first (the BKS objective) — a Solomon route rarely saves more than ~200 distance units.
DEFAULT_FIXED_COST = 200.0


@dataclass
class Instance:
    name: str
    vehicles: int
    capacity: int
    rows: list[tuple[float, float, int, int, int, int]]  # x, y, demand, ready, due, service


def parse(path: Path) -> Instance:
    lines = path.read_text().splitlines()
    name = lines[0].strip()
    vehicles = capacity = 0
    rows = []
    for line in lines:
        tok = line.split()
        if len(tok) == 2 and all(t.isdigit() for t in tok) and not vehicles:
            vehicles, capacity = int(tok[0]), int(tok[1])
        elif len(tok) == 7:
            try:
                vals = [float(t) for t in tok]
            except ValueError:
                continue
            rows.append((vals[1], vals[2], int(vals[3]), int(vals[4]), int(vals[5]), int(vals[6])))
    return Instance(name, vehicles, capacity, rows)


def dist(a: tuple, b: tuple) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def to_data(inst: Instance, fixed_cost: float) -> RoutingData:
    n, k = len(inst.rows), inst.vehicles
    d = [[dist(a, b) for b in inst.rows] for a in inst.rows]
    return (
        RoutingData(
            travel=[[math.ceil(x * SCALE - 1e-9) for x in row] for row in d],
            cost=[[round(x * SCALE) for x in row] for row in d],
            service=[r[5] * SCALE for r in inst.rows],
            starts=[0] * k,
            ends=[0] * k,
            horizon=inst.rows[0][4] * SCALE,
            windows={i: (r[3] * SCALE, r[4] * SCALE) for i, r in enumerate(inst.rows) if i > 0},
            demand=[r[2] for r in inst.rows],
            capacity=[inst.capacity] * k,
            vehicle_end_max=[inst.rows[0][4] * SCALE] * k,
            vehicle_fixed_cost=int(fixed_cost * SCALE),
        )
        if n
        else RoutingData([], [], [], [], [], 0)
    )


def solve_instance(
    inst: Instance, seconds: float, fixed_cost: float, single_phase: bool = False
) -> list[list[int]]:
    if not single_phase:
        return solve_fewest_vehicles(to_data(inst, fixed_cost), seconds) if inst.rows else []
    m = build_model(to_data(inst, fixed_cost))
    sol = m.routing.SolveWithParameters(search_parameters(seconds))
    if sol is None:
        return []
    routes = []
    for v in range(inst.vehicles):
        idx, route = sol.Value(m.routing.NextVar(m.routing.Start(v))), []
        while not m.routing.IsEnd(idx):
            route.append(m.manager.IndexToNode(idx))
            idx = sol.Value(m.routing.NextVar(idx))
        if route:
            routes.append(route)
    return routes


def check(inst: Instance, routes: list[list[int]]) -> tuple[list[str], float]:
    """Independent double-precision check of Solomon's rules; returns (violations, total distance)."""
    rows, v, total = inst.rows, [], 0.0
    served = [c for r in routes for c in r]
    if sorted(served) != list(range(1, len(rows))):
        v.append("customers not served exactly once")
    if len(routes) > inst.vehicles:
        v.append("too many vehicles")
    for r in routes:
        t, here, load = 0.0, 0, 0
        for c in r:
            total += dist(rows[here], rows[c])
            t = max(t + dist(rows[here], rows[c]), rows[c][3])
            if t > rows[c][4] + 1e-9:
                v.append(f"customer {c} starts {t:.3f} after due {rows[c][4]}")
            t += rows[c][5]
            load += rows[c][2]
            here = c
        total += dist(rows[here], rows[0])
        if t + dist(rows[here], rows[0]) > rows[0][4] + 1e-9:
            v.append("route returns after depot due date")
        if load > inst.capacity:
            v.append("capacity exceeded")
    return v, total


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=Path, default=datasets_dir() / "vrptw/solomon")
    ap.add_argument("--bks", type=Path, default=datasets_dir() / "vrptw/solomon_bks.csv")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--only", default="", help="comma-separated instance names, e.g. C101,R101")
    ap.add_argument("--fixed-cost", type=float, default=DEFAULT_FIXED_COST)
    ap.add_argument("--single-phase", action="store_true", help="one plain search (no vehicle elimination)")
    args = ap.parse_args(argv)
    bks = {r["instance"]: (int(r["vehicles"]), float(r["distance"])) for r in csv.DictReader(args.bks.open())}
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    files = sorted(p for p in args.instances.glob("*.txt") if not only or p.stem in only)
    mode = "single phase" if args.single_phase else "fewest vehicles, then distance"
    print(
        f"vrptw: {len(files)} instances, {args.seconds}s wall each, fixed cost {args.fixed_cost}, {mode}; "
        f"load average before {os.getloadavg()}\n"
        "gap = 100*(distance - BKS distance)/BKS distance; mean_gap_pct averages it only over instances using "
        "the BKS vehicle count (the BKS is hierarchical: vehicles first), mean_gap_pct_all over all feasible ones",
        file=sys.stderr,
    )
    feasible, gaps, all_gaps, excess, t0, c0 = 0, [], [], [], time.time(), time.process_time()
    for path in files:
        inst = parse(path)
        t, c = time.time(), time.process_time()
        routes = solve_instance(inst, args.seconds, args.fixed_cost, args.single_phase)
        viol, total = check(inst, routes) if routes else (["no solution"], float("nan"))
        ok = not viol
        feasible += ok
        bv, bd = bks.get(inst.name, (0, float("nan")))
        gap = 100.0 * (total - bd) / bd
        if ok:
            excess.append(len(routes) - bv)
            all_gaps.append(gap)
            if len(routes) == bv:
                gaps.append(gap)
        print(
            f"{inst.name}: feasible={ok} vehicles={len(routes)}/{bv} distance={total:.2f}/{bd:.2f} "
            f"gap={gap:.2f}% {time.time() - t:.1f}s cpu={time.process_time() - c:.1f}s load={os.getloadavg()[0]:.1f} "
            f"{viol[:2] if viol else ''}",
            file=sys.stderr,
        )
    n = len(files)
    mean = lambda xs: round(sum(xs) / len(xs), 3) if xs else None
    print(
        json.dumps(
            {
                "instances": n,
                "feasible": feasible,
                "mean_gap_pct": mean(gaps),
                "gap_instances": len(gaps),
                "mean_gap_pct_all": mean(all_gaps),
                "mean_vehicle_excess": mean(excess),
                "seconds_per_instance": round((time.time() - t0) / max(1, n), 2),
                "cpu_seconds_per_instance": round((time.process_time() - c0) / max(1, n), 2),
                "time_limit_s": args.seconds,
                "fixed_cost": args.fixed_cost,
                "mode": "single_phase" if args.single_phase else "fewest_vehicles",
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
