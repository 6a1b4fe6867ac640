"""Solve a dispatch ``Problem`` with OR-Tools and return a plain ``Plan``.

Search: parallel cheapest insertion (robust with time windows and optional nodes), then guided local search
until the time limit or ``solution_limit``. Warm start: the previous plan is read back with
ReadAssignmentFromRoutes and improved with SolveFromAssignmentWithParameters.

Determinism: OR-Tools' routing search is single-threaded and has no random component, so for the same problem,
seed and parameters the search trajectory is identical. Only *where it stops* can differ when the wall-clock
time limit ends the search; pass ``solution_limit`` (the limit then is hit first) for bit-identical plans. The
``seed`` permutes the order in which jobs enter the model, which changes tie-breaking (a different, equally
valid trajectory) — the same seed always gives the same order.
"""

from __future__ import annotations

import logging
import random
import time
from types import MappingProxyType

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from dispatch.encoding import REASON_CAPACITY, Encoding, encode
from dispatch.models import Plan, Problem, Stop
from dispatch.routing_model import RoutingModel, build_model
from dispatch.travel import StraightLineProvider, TravelTimeProvider

log = logging.getLogger(__name__)

MIN_SEARCH_S = 0.05  # always leave the search enough time to find a first solution on small problems
# Reading the plan back and the search's own overrun of its limit: measured p95 overrun was ~35 ms at
# 20 technicians with 50 ms reserved, so 100 ms keeps the call inside its budget.
EXTRACT_RESERVE_S = 0.1


def search_parameters(
    time_limit_s: float, solution_limit: int | None = None
) -> pywrapcp.DefaultRoutingSearchParameters:
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    if solution_limit is not None:
        params.solution_limit = solution_limit
    return params


def solve(
    problem: Problem,
    time_limit_s: float = 5.0,
    seed: int = 0,
    travel: TravelTimeProvider | None = None,
    solution_limit: int | None = None,
) -> Plan:
    """Optimised plan for ``problem`` within ``time_limit_s`` of wall time in total: model building is measured
    and subtracted from the search budget, so the call returns within the budget (plus plan extraction)."""
    started = time.perf_counter()
    travel = travel or StraightLineProvider()
    jobs = list(problem.jobs)
    random.Random(seed).shuffle(jobs)
    shuffled = Problem(
        problem.now, tuple(jobs), problem.technicians, problem.depots, problem.previous_plan, problem.params
    )
    enc = encode(shuffled, travel)
    model = build_model(enc.data)
    params = search_parameters(time_limit_s, solution_limit)
    model.routing.CloseModelWithParameters(params)
    initial = None
    if problem.previous_plan is not None and any(enc.warm_routes):
        for warm in (enc.warm_routes, enc.warm_routes_previous_only):  # new jobs appended first, else without
            routes = [[model.manager.NodeToIndex(n) for n in r] for r in warm]
            initial = model.routing.ReadAssignmentFromRoutes(routes, True)
            if initial is not None:
                break
        if initial is None:
            log.info("previous plan not feasible any more; solving from scratch")

    def remaining() -> float:
        return max(MIN_SEARCH_S, time_limit_s - (time.perf_counter() - started) - EXTRACT_RESERVE_S)

    params.time_limit.FromMilliseconds(int(remaining() * 1000))
    solution = None
    if initial is not None:
        solution = model.routing.SolveFromAssignmentWithParameters(initial, params)
    if solution is None:
        params.time_limit.FromMilliseconds(int(remaining() * 1000))
        solution = model.routing.SolveWithParameters(params)
    if solution is None:
        log.warning("no solution found", extra={"jobs": len(problem.jobs)})
        return Plan(
            {t.id: () for t in problem.technicians},
            {**{j.id: REASON_CAPACITY for j in problem.jobs}, **enc.reasons},
            float("inf"),
        )
    return extract_plan(problem, enc, model, solution)


def extract_plan(problem: Problem, enc: Encoding, model: RoutingModel, solution: pywrapcp.Assignment) -> Plan:
    """Routes with ETA (earliest arrival), start (earliest feasible service start) and end per stop."""
    routing, manager, time = model.routing, model.manager, model.time
    d = enc.data
    routes: dict[str, tuple[Stop, ...]] = {}
    served: set[str] = set()
    travel_s = 0
    overtime_s = 0.0
    late = 0
    for v, tech in enumerate(problem.technicians):
        stops: list[Stop] = []
        index = routing.Start(v)
        prev_node = manager.IndexToNode(index)
        prev_end = solution.Min(time.CumulVar(index))
        while not routing.IsEnd(index):
            index = solution.Value(routing.NextVar(index))
            node = manager.IndexToNode(index)
            travel_s += d.travel[prev_node][node]
            if routing.IsEnd(index):
                end_t = prev_end + d.travel[prev_node][node]
                overtime_s += max(0.0, problem.now + end_t - tech.shift_end) if stops else 0.0
                break
            start = solution.Min(time.CumulVar(index))
            eta = min(start, prev_end + d.travel[prev_node][node])
            meta = enc.meta[node]
            if meta.kind == "job" and node in d.soft_deadlines and start > d.soft_deadlines[node][0]:
                late += 1
            stops.append(
                Stop(
                    meta.kind,
                    meta.job_id,
                    meta.depot_id,
                    meta.skus,  # type: ignore[arg-type]
                    problem.now + eta,
                    problem.now + start,
                    problem.now + start + d.service[node],
                )
            )
            if meta.kind == "job" and meta.job_id is not None:
                served.add(meta.job_id)
            prev_end = start + d.service[node]
            prev_node = node
        routes[tech.id] = tuple(stops)
    dropped = dict(enc.reasons)
    for job in problem.jobs:
        if job.id not in served and job.id not in dropped:
            dropped[job.id] = REASON_CAPACITY
    kpis = {
        "assigned": float(len(served)),
        "dropped": float(len(dropped)),
        "travel_s": float(travel_s),
        "late_jobs": float(late),
        "overtime_s": overtime_s,
    }
    return Plan(
        MappingProxyType(routes),
        MappingProxyType(dropped),
        float(solution.ObjectiveValue()),
        MappingProxyType(kpis),
    )
