"""Capacity benchmark: a flat roster vs the forecast-driven roster for the same technician hours.

Run: python -m bench.capacity --seed 1 [--weeks 5] [--days 7] [--flat-per-cell 4] [--policy baseline]
Simulates ``weeks`` of incident history in three regions (planning.simulate), fits the workload forecast on all
but the last week and, for each day of the last week, forecasts incidents per region and hour day-ahead (at
06:00, with the RUL predictions known then). Rosters per day x region x shift (06-14, 14-22, 22-06):
  flat      ``--flat-per-cell`` technicians in every cell;
  flat_by_region  the same technicians per region every shift and day, regions split by forecast volume;
  forecast  the same total technician-shifts spread by planning.capacity.allocate on the forecast;
  history_average  the same total spread by the same allocate on the training weeks' mean demand per region
            and hour of the day (planning.capacity.average_day): every day staffed alike, no forecast;
  required  the smallest roster the analytic model says reaches the target (for reference).
Each roster then meets that day's *actual* incidents in the dispatch simulation of bench.dispatch_day
(each region dispatched on its own; ``--policy baseline`` = nearest qualified free technician, ``optimiser`` =
re-plan with the OR-Tools solver on every event, much slower). Skill mix: planning.capacity.skill_mix from the
region's skill shares, the same rule for every roster. Prints, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time

import numpy as np

from bench.dispatch_day import KM_PER_DEG_LAT, TIER_P, Config, simulate
from bench.forecast import dataset
from dispatch.models import TIERS, Job, Location, Technician
from planning.capacity import (
    SHIFTS,
    Cell,
    RegionProfile,
    allocate,
    average_day,
    hours_by_region,
    required,
    shift_hourly,
    skill_mix,
)
from planning.forecast import fit
from planning.simulate import DAY, HOUR, History, Region, fleet_risk, simulate_history

# Share of each region's incidents by the skill they need: the port's plants are mostly pumps and drives,
# the rural area has more cold stores.
SKILL_SHARES = {
    "port": {"mechanical": 0.5, "electrical": 0.3, "refrigeration": 0.2},
    "town": {"mechanical": 0.4, "electrical": 0.3, "refrigeration": 0.3},
    "rural": {"mechanical": 0.4, "electrical": 0.2, "refrigeration": 0.4},
}
ONSITE_H = 1.0  # jobs take 30-90 min on site (uniform), as in bench.dispatch_day
TARGET = 0.95


def point(rng: random.Random, r: Region) -> Location:
    dy, dx = (rng.random() - 0.5) * r.size_km, (rng.random() - 0.5) * r.size_km
    return Location(r.lat + dy / KM_PER_DEG_LAT, r.lon + dx / (KM_PER_DEG_LAT * math.cos(math.radians(r.lat))))


def day_jobs(hist: History, r: Region, day0: float, seed: int) -> list[Job]:
    rng = random.Random(f"{seed}/{r.name}/{day0}")
    shares = SKILL_SHARES[r.name]
    out: list[Job] = []
    for t in hist.arrivals[r.name]:
        if day0 <= t < day0 + DAY:
            out.append(Job(f"{r.name}-J{len(out):04d}", point(rng, r),
                           frozenset({rng.choices(list(shares), list(shares.values()))[0]}),
                           rng.uniform(30, 90) * 60, tier=rng.choices(TIERS, TIER_P)[0], created_at=t,
                           onsite_deadline=t + 2 * HOUR))
    return out


def roster_techs(roster: dict[Cell, int], r: Region, day: int, day0: float) -> list[Technician]:
    """Technicians of one region and day; the k-th technician of a shift lives at the same place whatever the
    roster (both rosters draw homes from the same sequence), only the number differs."""
    techs = []
    for s in SHIFTS:
        n = roster.get(Cell(day, r.name, s.name), 0)
        rng = random.Random(f"home/{r.name}/{s.name}")
        for k, skills in enumerate(skill_mix(n, SKILL_SHARES[r.name])):
            home = point(rng, r)
            techs.append(Technician(f"{r.name}-{s.name}-{k:02d}", skills, home, home,
                                    day0 + (s.start_h - 6) * HOUR, day0 + (s.end_h - 6) * HOUR))
    return techs


def evaluate(hist: History, roster: dict[Cell, int], days: list[float], seed: int, policy: str) -> dict:
    cfg = Config(seed=seed, replan_seconds=0.5)
    jobs_total, within_total = 0, 0
    by_region: dict[str, list[int]] = {}
    for d, day0 in enumerate(days):
        for r in hist.regions:
            jobs = day_jobs(hist, r, day0, seed)
            if not jobs:
                continue
            res = simulate(cfg, policy, world=(roster_techs(roster, r, d, day0), jobs))
            within = round(float(res["onsite_2h_rate"] or 0.0) * len(jobs))
            jobs_total += len(jobs)
            within_total += within
            acc = by_region.setdefault(r.name, [0, 0])
            acc[0] += within
            acc[1] += len(jobs)
    return {"onsite_2h_rate": round(within_total / max(1, jobs_total), 4),
            "hours_by_region": hours_by_region(roster),
            "technician_hours": sum(hours_by_region(roster).values()),
            "rate_by_region": {k: round(a / max(1, b), 4) for k, (a, b) in sorted(by_region.items())},
            "jobs": jobs_total}


def run(seed: int, weeks: int, n_days: int, flat_per_cell: int, policy: str) -> dict[str, object]:
    hist = simulate_history(seed, weeks)
    region_of, starts, counts, risk = dataset(hist)
    train = starts < hist.start + (weeks - 1) * 7 * DAY
    model = fit([r for r, m in zip(region_of, train, strict=True) if m], starts[train], counts[train],
                risk[train], hist.start)
    # Operational days 06:00 -> 06:00 in the held-back week; the last one must end inside the history.
    first = hist.start + (weeks - 1) * 7 * DAY + 6 * HOUR
    days = [first + d * DAY for d in range(n_days) if first + (d + 1) * DAY <= hist.start + hist.hours * HOUR]
    demand: dict[Cell, list[float]] = {}
    for d, day0 in enumerate(days):
        hours = day0 + HOUR * np.arange(24)
        for r in hist.regions:
            mu = model.mean([r.name] * 24, hours, fleet_risk(hist.predictions, r.name, day0, hours))
            for s in SHIFTS:
                demand[Cell(d, r.name, s.name)] = shift_hourly(list(mu), s)
    profiles = {r.name: RegionProfile(r.size_km, ONSITE_H) for r in hist.regions}
    flat = {c: flat_per_cell for c in demand}
    budget = sum(flat.values())
    forecast_roster = allocate(demand, budget, profiles)
    # The no-forecast planner's roster: the training weeks' average day per region, same allocator, same budget.
    train_hours = (weeks - 1) * 7 * 24
    avg_day = {r.name: average_day(hist.counts[r.name][:train_hours].tolist()) for r in hist.regions}
    hist_demand = {c: shift_hourly(avg_day[c.region], next(s for s in SHIFTS if s.name == c.shift))
                   for c in demand}
    history_roster = allocate(hist_demand, budget, profiles)
    # A stronger flat baseline: constant over days and shifts, but split between regions by forecast volume.
    volume = {r.name: sum(sum(h) for c, h in demand.items() if c.region == r.name) for r in hist.regions}
    per_region = _largest_remainder(volume, budget // (len(days) * len(SHIFTS)))
    flat_regional = {c: max(1, per_region[c.region]) for c in demand}
    needed = required(demand, TARGET, profiles)
    out: dict[str, object] = {"seed": seed, "policy": policy, "days": len(days), "target": TARGET,
                              "flat_per_cell": flat_per_cell, "technician_shifts": budget}
    for name, roster in (("flat", flat), ("flat_by_region", flat_regional), ("forecast", forecast_roster),
                         ("history_average", history_roster), ("required", needed)):
        t0 = time.perf_counter()
        out[name] = evaluate(hist, roster, days, seed, policy)
        print(f"{name}: {out[name]} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    day0_cells = {f"{c.region}/{c.shift}": n for c, n in sorted(forecast_roster.items()) if c.day == 0}
    out["forecast_roster_day0"] = day0_cells
    f, fl = out["forecast"], out["flat"]
    out["target_met"] = bool(f["onsite_2h_rate"] >= TARGET > fl["onsite_2h_rate"])  # type: ignore[index]
    ha = out["history_average"]
    out["equal_hours"] = len({out[k]["technician_hours"]  # type: ignore[index]
                              for k in ("flat", "forecast", "history_average")}) == 1
    out["forecast_minus_history_average"] = round(f["onsite_2h_rate"] - ha["onsite_2h_rate"], 4)  # type: ignore[index]
    return out


def _largest_remainder(weights: dict[str, float], total: int) -> dict[str, int]:
    s = sum(weights.values()) or 1.0
    exact = {k: total * w / s for k, w in weights.items()}
    out = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - out[k], reverse=True)[: total - sum(out.values())]:
        out[k] += 1
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--weeks", type=int, default=5, help="weeks of simulated history; the last is evaluated")
    ap.add_argument("--days", type=int, default=6, help="operational days of the last week to evaluate")
    ap.add_argument("--flat-per-cell", type=int, default=4, help="technicians per region and shift, flat roster")
    ap.add_argument("--policy", choices=("baseline", "optimiser"), default="baseline")
    a = ap.parse_args(argv)
    print(f"capacity: {vars(a)}", file=sys.stderr)
    t0 = time.perf_counter()
    out = run(a.seed, a.weeks, a.days, a.flat_per_cell, a.policy)
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
