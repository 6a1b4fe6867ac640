"""A large fleet is re-planned one region at a time: one solver per region, each inside its share of the budget.

Why: the routing model grows with the square of its nodes (the travel matrix alone is (jobs + 2 x technicians)^2
entries) and its search with the cube; at 500 technicians and 3,000 open jobs one model does not reach a first
solution within any budget a live re-plan can afford, while ten models of 50 x 300 each do in a few seconds.
Technicians rarely cross regions, so little is lost: a region is where a technician works and where the
customer is (``Technician.region``, ``Job.region``: technicians.region, customers.region).

Rules (issue #17, docs/dispatch.md "Regional partitioning"):

* A job committed to a technician (on it, driving to it, pinned or locked to them) is planned in that
  technician's region, so every guarantee of the monolithic re-plan (committed first stops and their depot
  pick-ups, pins, locks) holds inside one partition.
* Any other job is planned in its own region when a technician there is qualified for it; otherwise (a
  *cross-region* job: no one in its region has the skills, or it has no region) in the region of the nearest
  qualified technician, so it is still served. A job nobody anywhere is qualified for stays in its region and
  is dropped with the solver's reason.
* The budget: each partition gets the time left times its share of the nodes left (jobs + technicians), so
  the whole re-plan ends within the budget whatever the sizes, and a small region does not starve a big one.
* A partition whose search ends without a real solution (a starved machine: the first solution of 50 x 300
  costs ~2 CPU-s; ``starved``) is planned by the nearest-free rule instead (``dispatch.baseline``, the loop's fallback policy:
  committed work kept, each free technician sent to the nearest job they may take), not left with every job
  dropped; the report marks it.
* Each partition sees all depots and its technicians' part of the previous plan (warm start, reassignment
  costs).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import MappingProxyType

from dispatch.baseline import nearest_free
from dispatch.encoding import REASON_NO_SKILL, committed_tech, qualified
from dispatch.models import Job, Plan, Problem, Technician
from dispatch.solver import solve
from dispatch.travel import TravelTimeProvider, haversine_km

DEFAULT_REGION = "default"
# Each partition gets at least this long (a first solution on a small model); below it the partition budget is
# not useful and a fleet with very many small regions should raise the budget instead.
MIN_PARTITION_S = 0.2

Solver = Callable[[Problem, float], Plan]


@dataclass(frozen=True)
class Partition:
    region: str
    problem: Problem
    cross_region: tuple[str, ...]  # ids of jobs planned here although their own region is another (or none)


def _region(value: str | None) -> str:
    return value if value else DEFAULT_REGION


def job_region(job: Job, problem: Problem, techs: dict[str, Technician]) -> tuple[str, bool]:
    """The region whose solver plans ``job``, and whether that is not the job's own region (see module doc)."""
    bound = committed_tech(job, problem)
    if bound is not None and bound in techs:
        region = _region(techs[bound].region)
        return region, region != _region(job.region)
    own = _region(job.region)
    able = [t for t in problem.technicians if qualified(job, t)]
    if job.region is not None and any(_region(t.region) == own for t in able):
        return own, False
    if not able:
        return own, False
    nearest = min(able, key=lambda t: (haversine_km(t.position, job.location), t.id))
    return _region(nearest.region), True


def partition(problem: Problem) -> list[Partition]:
    """One sub-problem per region that has technicians or jobs (sorted by region name)."""
    techs = {t.id: t for t in problem.technicians}
    tech_by: dict[str, list[Technician]] = defaultdict(list)
    for t in problem.technicians:
        tech_by[_region(t.region)].append(t)
    job_by: dict[str, list[Job]] = defaultdict(list)
    cross: dict[str, list[str]] = defaultdict(list)
    for j in problem.jobs:
        region, crossed = job_region(j, problem, techs)
        job_by[region].append(j)
        if crossed:
            cross[region].append(j.id)
    out = []
    prev = problem.previous_plan
    for region in sorted(set(tech_by) | set(job_by)):
        mine = tech_by.get(region, [])
        ids = {t.id for t in mine}
        jobs = job_by.get(region, [])
        sub_prev = None
        if prev is not None:
            job_ids = {j.id for j in jobs}
            sub_prev = Plan(MappingProxyType({k: v for k, v in prev.routes.items() if k in ids}),
                            MappingProxyType({k: v for k, v in prev.dropped.items() if k in job_ids}))
        out.append(Partition(region, replace(problem, jobs=tuple(jobs), technicians=tuple(mine),
                                             previous_plan=sub_prev), tuple(cross.get(region, ()))))
    return out


def merge(plans: list[Plan]) -> Plan:
    """One plan from the partitions' plans (routes and drops are disjoint; objective and counts add up)."""
    routes: dict = {}
    dropped: dict = {}
    kpis: dict[str, float] = defaultdict(float)
    objective = 0.0
    for p in plans:
        routes.update(p.routes)
        dropped.update(p.dropped)
        objective += p.objective
        for k, v in p.kpis.items():
            kpis[k] += v
    return Plan(MappingProxyType(routes), MappingProxyType(dropped), objective, MappingProxyType(dict(kpis)))


def solve_by_region(problem: Problem, time_limit_s: float, travel: TravelTimeProvider | None = None,
                    seed: int = 0, solver: Solver | None = None) -> tuple[Plan, list[dict]]:
    """Solve each region's partition in turn within ``time_limit_s`` in total; the merged plan and, per
    partition, what it got (region, technicians, jobs, cross-region jobs, budget, wall seconds)."""
    started = time.perf_counter()
    run = solver or (lambda p, s: solve(p, s, seed=seed, travel=travel))
    parts = partition(problem)
    weights = [len(p.problem.jobs) + len(p.problem.technicians) for p in parts]
    left_weight = sum(w for w, p in zip(weights, parts, strict=True) if p.problem.jobs)
    plans: list[Plan] = []
    report: list[dict] = []
    for part, weight in sorted(zip(parts, weights, strict=True), key=lambda pw: (-pw[1], pw[0].region)):
        sub = part.problem
        t0 = time.perf_counter()
        budget, fallback = 0.0, False
        if not sub.jobs:
            plan = Plan(MappingProxyType({t.id: () for t in sub.technicians}), MappingProxyType({}))
        elif not sub.technicians:
            plan = Plan(MappingProxyType({}), MappingProxyType({j.id: REASON_NO_SKILL for j in sub.jobs}))
        else:
            left = time_limit_s - (time.perf_counter() - started)
            budget = max(MIN_PARTITION_S, left * weight / max(1, left_weight))
            left_weight -= weight
            plan = run(sub, budget)
            if starved(plan, sub):
                plan, fallback = nearest_free(sub, travel), True
        plans.append(plan)
        report.append({"region": part.region, "technicians": len(sub.technicians), "jobs": len(sub.jobs),
                       "cross_region": len(part.cross_region), "budget_s": round(budget, 3),
                       "wall_s": round(time.perf_counter() - t0, 3), "fallback": fallback})
    return merge(plans), report


def starved(plan: Plan, problem: Problem) -> bool:
    """The search ended before a real first solution: nothing found (objective inf), or what OR-Tools hands back
    when the limit cuts the first-solution heuristic short (every job unperformed, committed ones too: any real
    solution keeps those, each costs 10^9 left out)."""
    if plan.objective == float("inf"):
        return True
    committed = [j.id for j in problem.jobs if j.in_progress_by]
    served = plan.kpis.get("assigned", 0.0)
    return (bool(problem.jobs) and served == 0) or any(j in plan.dropped for j in committed)


def should_partition(problem: Problem, min_technicians: int) -> bool:
    """Partition when the threshold is on (> 0), the fleet reaches it and there is more than one region."""
    if min_technicians <= 0 or len(problem.technicians) < min_technicians:
        return False
    return len({_region(t.region) for t in problem.technicians}) > 1


def plan_fleet(problem: Problem, time_limit_s: float, travel: TravelTimeProvider | None = None,
               min_technicians: int = 0, seed: int = 0) -> Plan:
    """The re-plan the live loop runs: by region when ``should_partition``, else one model for everyone."""
    if should_partition(problem, min_technicians):
        return solve_by_region(problem, time_limit_s, travel, seed)[0]
    return solve(problem, time_limit_s, seed=seed, travel=travel)
