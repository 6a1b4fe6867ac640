"""The warm-start trap: jobs a previous plan put on busy technicians' stocked vans, re-planned.

    python -m bench.warm_start [--seeds 100-109] [--seconds 1.0] [--fresh-share 0.3]

Why: a job needing a part is one node on the vans that hold it and a pick-up/job pair per nearby depot for the
others. Local search cannot swap the single node on one route for a pair on another, so a warm start that put
the job on a busy van kept it there (issue #14, a 24-h ``bench.live_day`` run). ``dispatch.solver`` therefore
spends ``Params.fresh_start_share`` of the main search on a fresh construction and continues from the cheaper
start. This benchmark shows what that buys and costs, on the same random shapes, three ways:

* ``warm``: the warm start alone (``fresh_start_share`` 0, the solver before the fix);
* ``fresh``: the product (``--fresh-share``, default the product's);
* ``cold``: no previous plan at all (the whole budget from scratch; no reassignment cost either, so its
  objective is a reference, not a competitor).

Shape per seed: 18 technicians in a 40 km square, 8 of them on site for 1-3 more hours (4 of those with two
filters in the van), two depots with filters, 12 new jobs (6 needing a filter). The previous plan pins the 6
to the first three stocked busy technicians. Reported per way: the sum of plan objectives, jobs left on busy
vans, and the mean planned arrival of the new jobs. Wall-clock budget per solve (``--seconds``): the numbers
move a little with machine load. Progress on stderr; the last stdout line is JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from dataclasses import replace
from typing import Any

from dispatch import Depot, Job, Location, Params, Plan, Problem, Technician, solve

NOW = 1_767_258_000.0  # 2026-01-01 09:00 UTC, outside rush hours
ORIGIN = Location(48.0, 11.0)
BUSY, STOCKED, TECHS, NEW, WITH_PARTS = 8, 4, 18, 12, 6


def _at(east_km: float, north_km: float) -> Location:
    return Location(ORIGIN.lat + north_km / 111.2, ORIGIN.lon + east_km / (111.2 * math.cos(math.radians(48.0))))


def _tech(tid: str, where: Location, **kw: Any) -> Technician:
    return Technician(tid, frozenset({"hvac"}), where, where, NOW - 3600, NOW + 8 * 3600, **kw)


def _job(jid: str, where: Location, **kw: Any) -> Job:
    return Job(jid, where, frozenset({"hvac"}), 1800.0, **kw)


def shape(seed: int) -> tuple[Problem, Problem, set[str]]:
    """(the previous plan's problem with the part jobs pinned to busy vans, the re-plan's problem, busy ids)."""
    r = random.Random(seed)
    techs, started = [], []
    for i in range(TECHS):
        where = _at(r.uniform(0, 40), r.uniform(0, 40))
        kw: dict[str, Any] = {"van_stock": {"filter": 2}} if i < STOCKED else {}
        if i < BUSY:
            kw |= {"state": "on_site", "busy_until": NOW + r.uniform(1, 3) * 3600}
            started.append(_job(f"ip{i}", where, in_progress_by=f"T{i}", created_at=NOW - 3600))
        techs.append(_tech(f"T{i}", where, **kw))
    depots = (Depot("D1", _at(10, 10), {"filter": 50}), Depot("D2", _at(30, 30), {"filter": 50}))
    new = [_job(f"j{k}", _at(r.uniform(0, 40), r.uniform(0, 40)), created_at=NOW - 600,
                required_parts=(("filter", 1),) if k < WITH_PARTS else ()) for k in range(NEW)]
    pinned = [replace(j, pinned_to=f"T{k % 3}") if j.required_parts else j for k, j in enumerate(new)]
    before = Problem(NOW, tuple(started + pinned), tuple(techs), depots)
    after = Problem(NOW + 60, tuple(started + new), tuple(techs), depots)
    return before, after, {f"T{i}" for i in range(STOCKED)}


def measure(plan: Plan, problem: Problem, busy_vans: set[str]) -> dict[str, float]:
    new = [j for j in problem.jobs if j.id.startswith("j")]
    arrivals = [s.start for stops in plan.routes.values() for s in stops if s.kind == "job" and s.job_id
                and s.job_id.startswith("j")]
    on_busy = sum(1 for j in new if j.required_parts and plan.technician_of(j.id) in busy_vans)
    return {"objective": plan.objective, "on_busy_vans": on_busy,
            "mean_arrival_min": sum(a - NOW for a in arrivals) / max(1, len(arrivals)) / 60}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="100-109", help="a range like 100-109 (inclusive); 0-5 were used while fixing")
    ap.add_argument("--seconds", type=float, default=1.0, help="wall-clock budget per solve")
    ap.add_argument("--fresh-share", type=float, default=Params().fresh_start_share)
    args = ap.parse_args(argv)
    lo, hi = (int(x) for x in args.seeds.split("-"))
    print(f"# bench.warm_start seeds {lo}-{hi}, {args.seconds} s per solve, fresh share {args.fresh_share}",
          file=sys.stderr)
    ways = {"warm": 0.0, "fresh": args.fresh_share}
    totals: dict[str, dict[str, float]] = {w: {"objective": 0, "on_busy_vans": 0, "mean_arrival_min": 0}
                                           for w in (*ways, "cold")}
    n = hi - lo + 1
    for seed in range(lo, hi + 1):
        before, after, busy = shape(seed)
        previous = solve(before, args.seconds)
        for way, share in ways.items():
            p = replace(after, previous_plan=previous, params=replace(Params(), fresh_start_share=share))
            m = measure(solve(p, args.seconds), p, busy)
            for k, v in m.items():
                totals[way][k] += v / n if k == "mean_arrival_min" else v
            print(f"seed {seed} {way}: {m}", file=sys.stderr)
        m = measure(solve(after, args.seconds), after, busy)
        for k, v in m.items():
            totals["cold"][k] += v / n if k == "mean_arrival_min" else v
    print(json.dumps({"bench": "warm_start", "seeds": [lo, hi], "seconds": args.seconds,
                      "fresh_share": args.fresh_share,
                      **{w: {k: round(v, 1) for k, v in t.items()} for w, t in totals.items()}}))


if __name__ == "__main__":
    main()
