"""One re-plan of a large fleet, partitioned by region: 500 technicians x 3,000 open jobs within 30 s (#17).

Run: python -m bench.dispatch_regional [--technicians 500] [--jobs 3000] [--regions 10] [--seconds 30] [--seed 1]
     [--threshold N] [--monolithic]

Regions are 40 km x 40 km squares on a grid 60 km apart (centre to centre); technicians and jobs are spread
evenly over them. Technicians hold 2 of 4 common skills; a rare skill ("gas") is held by 3 technicians in
every even-numbered region only, and ``--cross`` jobs in odd-numbered regions need it: no one in their region is
qualified, so they are planned by a neighbouring region's solver (cross-region). A share of technicians is
already committed (driving to or on site at one of the jobs), a few jobs are pinned. Jobs were created up to
90 min ago with the 2-hour target (contract deadline = target). The re-plan runs the live loop's code path
(``dispatch.regional.plan_fleet``'s steps with the ``dispatch.regional_min_technicians`` setting), timed from problem
to merged plan; the independent checker (``check_plan``) then checks the merged plan against the whole problem.
``--monolithic`` also tries one model for the whole fleet at the same budget (slow to even build). The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections import Counter

from core.settings import DispatchSettings
from dispatch.feasibility import check_plan
from dispatch.models import TIERS, Job, Location, Problem, Technician
from dispatch.regional import partition, should_partition, solve_by_region
from dispatch.solver import solve
from dispatch.travel import StraightLineProvider

ORIGIN = Location(30.0, 114.0)  # a Chinese inland province: only the geometry matters
KM_PER_DEG_LAT = 111.2
NOW = 1_767_258_000.0 + 2 * 3600  # 2026-01-01 11:00 UTC: outside rush hours
SKILLS = ("electrical", "hvac", "plumbing", "controls")
RARE = "gas"
TIER_P = (0.1, 0.2, 0.5, 0.2)
REGION_KM, SPACING_KM = 40.0, 60.0


def _at(east_km: float, north_km: float) -> Location:
    return Location(ORIGIN.lat + north_km / KM_PER_DEG_LAT,
                    ORIGIN.lon + east_km / (KM_PER_DEG_LAT * math.cos(math.radians(ORIGIN.lat))))


def world(technicians: int, jobs: int, regions: int, cross: int, seed: int) -> Problem:
    rng = random.Random(seed)
    cols = math.ceil(math.sqrt(regions))

    def point(r: int) -> Location:
        cx, cy = (r % cols) * SPACING_KM, (r // cols) * SPACING_KM
        return _at(cx + (rng.random() - 0.5) * REGION_KM, cy + (rng.random() - 0.5) * REGION_KM)

    techs: list[Technician] = []
    for i in range(technicians):
        r = i % regions
        skills = set(rng.sample(SKILLS, 2))
        if r % 2 == 0 and i // regions < 3:
            skills.add(RARE)
        home = point(r)
        techs.append(Technician(f"T{i:04d}", frozenset(skills), home, home, NOW - 3 * 3600, NOW + 6 * 3600,
                                region=f"R{r:02d}"))
    odd = [r for r in range(regions) if r % 2 == 1] or [0]
    out: list[Job] = []
    for k in range(jobs):
        rare = k < cross
        r = odd[k % len(odd)] if rare else k % regions
        created = NOW - rng.uniform(0, 90 * 60)
        out.append(Job(f"J{k:05d}", point(r), frozenset({RARE if rare else rng.choice(SKILLS)}),
                       rng.uniform(20, 60) * 60, tier=rng.choices(TIERS, TIER_P)[0], created_at=created,
                       onsite_deadline=created + 7200, onsite_target=created + 7200, region=f"R{r:02d}"))
    # A quarter of the technicians are committed to a job of their region they are qualified for (driving there
    # or on site), and 1 % of the jobs are pinned to a qualified technician of their region.
    by_region: dict[str, list[int]] = {}
    for k, j in enumerate(out):
        by_region.setdefault(j.region or "", []).append(k)
    taken: set[int] = set()
    for i, t in enumerate(techs):
        if i % 4:
            continue
        for k in by_region.get(t.region or "", []):
            if k not in taken and out[k].required_skills <= t.skills:
                taken.add(k)
                on_site = i % 8 == 0
                out[k] = Job(**{**_fields(out[k]), "in_progress_by": t.id})
                techs[i] = Technician(**{**_fields(t), "state": "on_site" if on_site else "travelling",
                                         "position": out[k].location if on_site else t.position,
                                         "busy_until": NOW + 1200 if on_site else None})
                break
    free = [k for k in range(len(out)) if k not in taken and k >= cross]
    for k in rng.sample(free, max(1, jobs // 100)):
        able = [t for t in techs if t.region == out[k].region and out[k].required_skills <= t.skills]
        if able:
            out[k] = Job(**{**_fields(out[k]), "pinned_to": rng.choice(able).id})
    return Problem(NOW, tuple(out), tuple(techs))


def _fields(x: object) -> dict:
    return {f: getattr(x, f) for f in type(x).__dataclass_fields__}  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--technicians", type=int, default=500)
    ap.add_argument("--jobs", type=int, default=3000)
    ap.add_argument("--regions", type=int, default=10)
    ap.add_argument("--cross", type=int, default=30, help="jobs needing a skill nobody in their region holds")
    ap.add_argument("--seconds", type=float, default=30.0, help="re-plan budget (dispatch.replan_budget_s)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threshold", type=int, default=DispatchSettings().regional_min_technicians,
                    help="dispatch.regional_min_technicians")
    ap.add_argument("--monolithic", action="store_true", help="also one model for everyone, same budget")
    a = ap.parse_args(argv)
    load = os.getloadavg()
    print(f"dispatch_regional: {vars(a)}, load average {load[0]:.1f}", file=sys.stderr)
    problem = world(a.technicians, a.jobs, a.regions, a.cross, a.seed)
    travel = StraightLineProvider()
    t0 = time.perf_counter()
    regions: list[dict] = []
    if should_partition(problem, a.threshold):  # what plan_fleet (the live loop's call) does, with its report
        plan, regions = solve_by_region(problem, a.seconds, travel, a.seed)
    else:
        plan = solve(problem, a.seconds, seed=a.seed, travel=travel)
    wall = time.perf_counter() - t0
    violations = check_plan(problem, plan, travel)
    cross = {j for p in partition(problem) for j in p.cross_region}
    rare = [j.id for j in problem.jobs if RARE in j.required_skills]
    committed = [j for j in problem.jobs if j.in_progress_by]
    first_kept = sum(1 for j in committed
                     if plan.routes.get(j.in_progress_by or "") and plan.routes[j.in_progress_by][0].job_id == j.id)  # type: ignore[index]
    pinned = [j for j in problem.jobs if j.pinned_to]
    eta = {s.job_id: s.eta for stops in plan.routes.values() for s in stops if s.kind == "job"}
    by_id = {j.id: j for j in problem.jobs}
    in_target = sum(1 for jid, t in eta.items() if t <= (by_id[jid].onsite_target or math.inf))
    out: dict[str, object] = {
        "technicians": a.technicians, "jobs": a.jobs, "regions": a.regions, "budget_s": a.seconds,
        "partitioned": bool(regions),
        "wall_s": round(wall, 2), "assigned": int(plan.kpis.get("assigned", len(eta))),
        "dropped": len(plan.dropped), "dropped_reasons": dict(Counter(plan.dropped.values())),
        "cross_region_jobs": len(cross), "rare_skill_jobs": len(rare),
        "rare_skill_assigned": sum(1 for j in rare if j in eta),
        "committed": len(committed), "committed_first_stop_kept": first_kept,
        "pinned": len(pinned), "pinned_kept": sum(1 for j in pinned if plan.technician_of(j.id) == j.pinned_to),
        "planned_within_target": round(in_target / max(1, len(eta)), 4),
        "checker_violations": len(violations), "load_avg_1m_start": round(load[0], 2),
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
        "partition_wall_s_max": max((r["wall_s"] for r in regions), default=None),
        "partition_budget_s": [r["budget_s"] for r in regions],
        "partitions_nearest_free_fallback": sum(1 for r in regions if r["fallback"]),
    }
    print(f"regional: {out}; first violations: {violations[:3]}", file=sys.stderr)
    if a.monolithic:
        t0 = time.perf_counter()
        mono = solve(problem, a.seconds, seed=a.seed, travel=travel)
        out["monolithic"] = {"wall_s": round(time.perf_counter() - t0, 2),
                             "assigned": int(mono.kpis.get("assigned", 0)), "dropped": len(mono.dropped),
                             "checker_violations": len(check_plan(problem, mono, travel))}
        print(f"monolithic: {out['monolithic']}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
