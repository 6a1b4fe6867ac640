"""Independent plan checker: re-derives every hard rule from the Problem, not from the model.

Used by tests on every returned plan and by the benchmarks; it shares no code with the model builder except the
travel provider (both must agree on what a minute of driving is) and the one constant of the break rule
(``BREAK_FREE_START_S``: how much of a stop's start a break may not overlap). Travel times use the departure time
``problem.now`` exactly as the solver does.
"""

from __future__ import annotations

from dispatch.encoding import committed_tech, has_parts
from dispatch.models import Job, Plan, Problem, Stop, Technician
from dispatch.routing_model import BREAK_FREE_START_S
from dispatch.travel import StraightLineProvider, TravelTimeProvider

TOLERANCE_S = 1.0  # solver works in whole seconds; allow that rounding


def _work_s(problem: Problem, s: Stop, jobs: dict[str, Job], tech: Technician) -> float:
    """How long a stop's work takes: a pick-up's, or the job's (what is left of a repair under way)."""
    if s.kind == "pickup":
        return problem.params.pickup_duration_s
    job = jobs.get(s.job_id or "")
    if job is None:
        return 0.0
    if job.in_progress_by == tech.id and tech.state == "on_site" and tech.busy_until is not None:
        return max(0.0, tech.busy_until - problem.now)
    return job.duration_s


def check_plan(problem: Problem, plan: Plan, travel: TravelTimeProvider | None = None) -> list[str]:
    """List of violated rules (empty = feasible)."""
    travel = travel or StraightLineProvider()
    v: list[str] = []
    techs = {t.id: t for t in problem.technicians}
    jobs = {j.id: j for j in problem.jobs}
    depots = {d.id: d for d in problem.depots}
    p = problem.params
    seen: dict[str, str] = {}
    for tech_id, stops in plan.routes.items():
        if tech_id not in techs:
            v.append(f"unknown technician {tech_id}")
            continue
        tech = techs[tech_id]
        here = tech.position
        clock = max(problem.now, tech.shift_start)
        if (
            tech.state == "on_site"
            and tech.busy_until
            and not (stops and stops[0].job_id in jobs and jobs[stops[0].job_id].in_progress_by == tech_id)
        ):
            clock = max(clock, tech.busy_until)
        picked: set[tuple[str, str]] = set()  # (job id, depot id) picked up so far
        load = 0
        for k, s in enumerate(stops):
            loc = (
                jobs[s.job_id].location
                if s.kind == "job" and s.job_id in jobs
                else (depots[s.depot_id].location if s.depot_id in depots else None)
            )
            if loc is None:
                v.append(f"{tech_id}: stop {k} refers to unknown job/depot")
                continue
            drive = travel.matrix([here, loc], problem.now)[0][1]
            if s.eta + TOLERANCE_S < clock + drive:
                v.append(
                    f"{tech_id}: stop {k} ({s.job_id}) reached too early ({s.eta - clock:.0f}s < {drive:.0f}s)"
                )
            if s.start + TOLERANCE_S < s.eta:
                v.append(f"{tech_id}: stop {k} starts before arrival")
            work = _work_s(problem, s, jobs, tech)
            paused = 0.0  # a break inside a stop's work pauses it (routing_model.add_breaks); none in its first minute
            for a, b in tech.breaks:
                if b > problem.now and s.start < b - TOLERANCE_S \
                        and s.start + min(work, BREAK_FREE_START_S) > a + TOLERANCE_S:
                    v.append(f"{tech_id}: stop {k} starts on break {a:.0f}-{b:.0f}")
                elif b > problem.now and s.start < a < s.end:
                    paused += b - a
            if s.end + TOLERANCE_S < s.start + work + paused:
                v.append(f"{tech_id}: stop {k} ({s.job_id}) ends before its work and breaks are done")
            if s.kind == "pickup":
                depot = depots[s.depot_id]  # type: ignore[index]
                if not has_parts(depot.stock, s.skus):
                    v.append(f"{tech_id}: depot {s.depot_id} lacks {s.skus}")
                picked.add((s.job_id or "", depot.id))
            else:
                job = jobs[s.job_id]  # type: ignore[index]
                if job.id in seen:
                    v.append(f"job {job.id} served twice")
                seen[job.id] = tech_id
                in_progress = job.in_progress_by == tech_id
                if not in_progress and not job.required_skills <= tech.skills:
                    v.append(f"{tech_id}: lacks skills for {job.id}")
                kept_pickup = _committed_pickup(problem, job)
                first_k = 1 if kept_pickup is not None else 0
                if job.in_progress_by is not None and (job.in_progress_by != tech_id or k != first_k):
                    v.append(f"{job.id}: in-progress job not first stop of {job.in_progress_by}")
                if kept_pickup is not None and not (
                    k == 1 and stops[0].kind == "pickup" and stops[0].job_id == job.id
                    and stops[0].depot_id == kept_pickup
                ):
                    v.append(f"{job.id}: committed pick-up at {kept_pickup} not kept as the first stop")
                bound = committed_tech(job, problem)
                if bound is not None and bound != tech_id:
                    v.append(f"{job.id}: pinned/locked to {bound} but on {tech_id}")
                if job.window is not None and not (
                    job.window[0] - TOLERANCE_S <= s.start <= job.window[1] + TOLERANCE_S
                ):
                    v.append(f"{job.id}: start outside window")
                lacks = job.required_parts and not has_parts(tech.van_stock, job.required_parts)
                if lacks and not in_progress and not any(j == job.id for j, _ in picked) \
                        and _parts_obtainable(problem, job):
                    v.append(f"{job.id}: parts not in van and not picked up before")
                load += job.demand
            clock, here = s.end, loc
        if stops:
            back = clock + travel.matrix([here, tech.home], problem.now)[0][1]
            limit = tech.shift_end + p.max_overtime_s
            if (
                len([s for s in stops if s.kind == "job"]) == 1
                and stops[-1].job_id in jobs
                and jobs[stops[-1].job_id].in_progress_by == tech_id
                and len(stops) == (2 if _committed_pickup(problem, jobs[stops[-1].job_id]) else 1)
            ):
                limit = max(limit, back)  # a committed job is finished even past the overtime cap
            if back > limit + TOLERANCE_S:
                v.append(f"{tech_id}: back home {back - tech.shift_end:.0f}s after shift end (cap exceeded)")
        if tech.capacity is not None and load > tech.capacity:
            v.append(f"{tech_id}: load {load} over capacity {tech.capacity}")
    for job_id in jobs:
        if job_id in seen and job_id in plan.dropped:
            v.append(f"{job_id}: both served and dropped")
        if job_id not in seen and not plan.dropped.get(job_id):
            v.append(f"{job_id}: neither served nor dropped with a reason")
    if problem.previous_plan is not None:
        v += _lock_order(problem, plan)
    return v


def _lock_order(problem: Problem, plan: Plan) -> list[str]:
    """Locked jobs keep their previous relative order on their technician."""
    locked = {j.id for j in problem.jobs if j.locked}
    out = []
    for tech_id, stops in problem.previous_plan.routes.items():  # type: ignore[union-attr]
        now = [s.job_id for s in plan.routes.get(tech_id, ()) if s.kind == "job" and s.job_id in locked]
        before = [s.job_id for s in stops if s.job_id in locked and s.job_id in now]
        if before != [j for j in now if j in before]:
            out.append(f"{tech_id}: locked order changed")
    return out


def _parts_obtainable(problem: Problem, job: Job) -> bool:
    """Whether someone could have brought the parts; if nobody can, a visit without them is allowed (Params)."""
    if not problem.params.visit_without_parts:
        return True
    return any(has_parts(d.stock, job.required_parts) for d in problem.depots) or any(
        has_parts(t.van_stock, job.required_parts) for t in problem.technicians)


def _committed_pickup(problem: Problem, job: Job) -> str | None:
    """Depot of an in-progress job's pick-up still to be made, when it must be kept (the same rule as the model:
    the technician is not on site yet and the depot is in the problem)."""
    tech = next((t for t in problem.technicians if t.id == job.in_progress_by), None)
    if tech is None or tech.state == "on_site" or job.pickup_depot is None:
        return None
    return job.pickup_depot if any(d.id == job.pickup_depot for d in problem.depots) else None
