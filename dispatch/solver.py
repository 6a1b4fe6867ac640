"""Solve a dispatch ``Problem`` with OR-Tools and return a plain ``Plan``.

Search: parallel cheapest insertion (robust with time windows and optional nodes), then guided local search
until the time limit or ``solution_limit``. Warm start: the previous plan is read back with
ReadAssignmentFromRoutes and improved with SolveFromAssignmentWithParameters. Then the distance pass
(dispatch.second_pass) gets ``Params.second_pass_share`` of the budget (or of ``solution_limit``): km with each
served job's arrival bounded near the main plan's; when the main plan leaves a job out, the main search gets that
share instead.

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
from dataclasses import replace
from types import MappingProxyType

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from dispatch.encoding import REASON_CAPACITY, Encoding, encode
from dispatch.models import Plan, Problem, Stop
from dispatch.routing_model import RoutingData, RoutingModel, build_model, forward_times, node_routes
from dispatch.second_pass import improve, main_objective
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
    share = min(0.9, max(0.0, problem.params.second_pass_share))
    first_limit = None if solution_limit is None else max(1, round(solution_limit * (1 - share)))
    params = search_parameters(time_limit_s, first_limit)
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

    def remaining(part: float = 1.0) -> float:
        left = time_limit_s - (time.perf_counter() - started) - EXTRACT_RESERVE_S
        return max(MIN_SEARCH_S, part * left)

    main_part = 1.0 - share
    params.time_limit.FromMilliseconds(int(remaining(main_part) * 1000))
    solution = None
    if initial is not None:
        fresh = min(0.9, max(0.0, problem.params.fresh_start_share))
        start = better_start(model, initial, params, fresh, remaining(main_part), first_limit)
        params.time_limit.FromMilliseconds(int(remaining(main_part) * 1000))
        if first_limit is not None:
            params.solution_limit = max(1, first_limit - round(first_limit * fresh))
        solution = model.routing.SolveFromAssignmentWithParameters(start, params)
    if solution is None:
        params.time_limit.FromMilliseconds(int(remaining(main_part) * 1000))
        solution = model.routing.SolveWithParameters(params)
    if solution is None and initial is not None:
        # Seen under CPU starvation (a shared machine, 1 s budget): the search ran out of time before its
        # first solution. The warm start was checked feasible by ReadAssignmentFromRoutes, so keep it rather
        # than dropping every job.
        log.warning(
            "no solution within the budget; keeping the warm-start routes", extra={"jobs": len(problem.jobs)}
        )
        solution = initial
    if solution is None:
        log.warning("no solution found", extra={"jobs": len(problem.jobs)})
        return Plan(
            {t.id: () for t in problem.technicians},
            {**{j.id: REASON_CAPACITY for j in problem.jobs}, **enc.reasons},
            float("inf"),
        )
    if share <= 0 or not enc.job_nodes:
        return extract_plan(problem, enc, model, solution)
    rest = None if solution_limit is None else max(1, solution_limit - first_limit)  # type: ignore[operator]
    if unserved(enc, model, solution):
        # The main objective is not done (a job the model could serve is left out: an overloaded plan, or a
        # search cut short on a starved machine): it gets the rest of the budget, not the distance pass.
        params.time_limit.FromMilliseconds(int(remaining() * 1000))
        if rest is not None:
            params.solution_limit = rest
        more = model.routing.SolveFromAssignmentWithParameters(solution, params)
        return extract_plan(problem, enc, model, more if more is not None else solution)
    return distance_pass(problem, enc, model, solution, remaining(), rest)


def better_start(model: RoutingModel, warm: pywrapcp.Assignment, params: pywrapcp.RoutingSearchParameters,
                 share: float, seconds: float, solution_limit: int | None) -> pywrapcp.Assignment:
    """The warm start, or a fresh search's solution when that costs less: ``share`` of ``seconds`` (and of
    ``solution_limit``) builds and improves a plan from scratch. Why: local search cannot carry a job from a
    stocked van to a free technician who collects the part at a depot (a single node against a pick-up pair on
    another route), so a previous plan that put it on a busy van would keep it there for hours
    (``Params.fresh_start_share``). The warm start's cost is read with a one-solution search from it."""
    if share <= 0:
        return warm
    check = search_parameters(max(MIN_SEARCH_S, seconds * share), 1)
    kept = model.routing.SolveFromAssignmentWithParameters(warm, check)
    warm_cost = kept.ObjectiveValue() if kept is not None else None
    fresh_params = pywrapcp.DefaultRoutingSearchParameters()
    fresh_params.CopyFrom(params)
    fresh_params.time_limit.FromMilliseconds(max(1, int(seconds * share * 1000)))
    if solution_limit is not None:
        fresh_params.solution_limit = max(1, round(solution_limit * share))
    fresh = model.routing.SolveWithParameters(fresh_params)
    if fresh is not None and (warm_cost is None or fresh.ObjectiveValue() < warm_cost):
        log.debug("fresh start beats the warm start", extra={"fresh": fresh.ObjectiveValue(), "warm": warm_cost})
        return fresh
    return warm  # ReadAssignmentFromRoutes' assignment outlives later searches (the fallback below relies on it)


def unserved(enc: Encoding, model: RoutingModel, solution: pywrapcp.Assignment) -> bool:
    """Whether the solution leaves out a job the model holds (one the encoding did not already rule out)."""
    served = {n for r in node_routes(model, solution) for n in r}
    return any(not served.intersection(nodes) for nodes in enc.job_nodes.values())


def distance_pass(problem: Problem, enc: Encoding, model: RoutingModel, solution: pywrapcp.Assignment,
                  seconds: float, solution_limit: int | None) -> Plan:
    """The main plan improved by the distance pass (dispatch.second_pass), or the main plan when the pass finds
    nothing. ``Plan.objective`` stays the main objective (of the routes returned); ``kpis`` tell what the pass
    saved (``distance_pass_saved_s``: driving seconds)."""
    main = extract_plan(problem, enc, model, solution)
    p = problem.params
    allowance = None if p.second_pass_allowance_s is None else int(p.second_pass_allowance_s)
    found = improve(enc, model, solution, search_parameters(seconds, solution_limit), allowance,
                    int(p.second_pass_extra_margin_s))
    if found is None:
        return main
    data, second, better = found
    plan = extract_plan(problem, replace(enc, data=data), second, better)
    saved = main.kpis["travel_s"] - plan.kpis["travel_s"]
    if saved <= 0:
        return main
    objective = main_objective(model, node_routes(second, better), search_parameters(max(MIN_SEARCH_S, seconds)))
    k = max(1, p.cost_units_per_s)
    return Plan(plan.routes, plan.dropped, main.objective if objective is None else objective / k,
                MappingProxyType({**plan.kpis, "distance_pass_saved_s": saved}))


def _cumul_times(model: RoutingModel, solution: pywrapcp.Assignment, v: int,
                 route: list[int]) -> tuple[list[tuple[int, int, int]], int]:
    """(arrival, start, end) per node from the search's cumuls (the earliest times when the route has no break),
    and the arrival back at the end node."""
    d = model.data
    here, free = d.starts[v], solution.Min(model.time.CumulVar(model.routing.Start(v)))
    out: list[tuple[int, int, int]] = []
    for node in route:
        start = solution.Min(model.time.CumulVar(model.manager.NodeToIndex(node)))
        out.append((free + d.travel[here][node], start, start + d.service[node]))
        here, free = node, start + d.service[node]
    return out, free + d.travel[here][d.ends[v]]


def extract_plan(problem: Problem, enc: Encoding, model: RoutingModel, solution: pywrapcp.Assignment) -> Plan:
    """Routes with ETA (earliest arrival), start (earliest feasible service start) and end per stop."""
    d = enc.data
    routes: dict[str, tuple[Stop, ...]] = {}
    served: set[str] = set()
    travel_s = 0
    overtime_s = 0.0
    late = 0
    all_routes = node_routes(model, solution)
    for v, tech in enumerate(problem.technicians):
        stops: list[Stop] = []
        route = all_routes[v]
        # With breaks the search's cumuls need not be the earliest (a break may pause work: routing_model).
        times, back = forward_times(d, v, route) if d.breaks.get(v) else _cumul_times(model, solution, v, route)
        here = d.starts[v]
        for node, (arrival, start, end) in zip(route, times, strict=True):
            travel_s += d.travel[here][node]
            meta = enc.meta[node]
            if meta.kind == "job" and node in d.soft_deadlines and start > d.soft_deadlines[node][0]:
                late += 1
            stops.append(Stop(meta.kind, meta.job_id, meta.depot_id, meta.skus,  # type: ignore[arg-type]
                              problem.now + min(start, arrival), problem.now + start, problem.now + end))
            if meta.kind == "job" and meta.job_id is not None:
                served.add(meta.job_id)
            here = node
        travel_s += d.travel[here][d.ends[v]]
        overtime_s += max(0.0, problem.now + back - tech.shift_end) if stops else 0.0
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
        float(solution.ObjectiveValue()) / max(1, problem.params.cost_units_per_s),
        MappingProxyType(kpis),
    )


# --- Fleet-sizing problems (Solomon VRPTW benchmark): fewest vehicles first, then distance -----------------
#
# The product never minimises technicians (they are on shift anyway), but the VRPTW benchmark's best-known
# solutions are hierarchical: vehicles first, then distance. A fixed cost per vehicle alone leaves guided local
# search with no reason to empty a route one customer at a time (each single move costs distance). So the
# benchmark solves in three phases on the same RoutingData/build_model code:
#   0. the product's search with a fixed cost per used vehicle (a good first solution and fleet);
#   1. route elimination: drop the route with the fewest customers, make every customer optional with a
#      penalty larger than any detour, and search with one vehicle fewer from the remaining routes; when every
#      customer is served again, keep the smaller fleet and repeat; stop when an attempt fails;
#   2. distance: the final fleet size as a hard limit, no fixed cost, warm-started from phase 1's routes.

FLEET_PHASE0_SHARE = 0.15  # share of the budget for the first solution with a fixed vehicle cost
FLEET_ELIMINATION_END = 0.5  # route elimination must end by this share of the budget; the rest is distance
FLEET_ATTEMPT_SHARE = 0.2  # one elimination attempt gets at most this share (a failed attempt ends phase 1)


def restrict_vehicles(data: RoutingData, keep: list[int], fixed_cost: int | None = None) -> RoutingData:
    """The same problem with only the vehicles ``keep`` (in that order); per-vehicle fields are re-indexed and
    allowed-vehicle lists mapped to the new indices (a node whose allowed vehicles all left keeps no vehicle)."""
    new = {old: i for i, old in enumerate(keep)}

    def pick(xs: list | None) -> list | None:
        return None if xs is None else [xs[v] for v in keep]

    return replace(
        data,
        starts=[data.starts[v] for v in keep],
        ends=[data.ends[v] for v in keep],
        capacity=pick(data.capacity),
        vehicle_start_window=pick(data.vehicle_start_window),
        vehicle_end_max=pick(data.vehicle_end_max),
        vehicle_soft_end=pick(data.vehicle_soft_end),
        vehicle_fixed_cost=data.vehicle_fixed_cost if fixed_cost is None else fixed_cost,
        breaks={new[v]: b for v, b in data.breaks.items() if v in new},
        allowed={n: [new[v] for v in vs if v in new] for n, vs in data.allowed.items()},
        first_stop={new[v]: n for v, n in data.first_stop.items() if v in new},
        reassign={new[v]: r for v, r in data.reassign.items() if v in new},
    )


def _routes(model: RoutingModel, solution: pywrapcp.Assignment) -> list[list[int]]:
    """Node routes (without start/end) per vehicle."""
    return node_routes(model, solution)


def search_routes(
    data: RoutingData,
    time_limit_s: float,
    initial: list[list[int]] | None = None,
    stop_below: int | None = None,
) -> tuple[list[list[int]], int] | None:
    """Build the model, optionally warm-start from node routes, search; (routes per vehicle, objective).

    ``stop_below``: end the search at the first solution whose objective is below it (route elimination stops
    as soon as every customer is served again)."""
    model = build_model(data)
    params = search_parameters(time_limit_s)
    solver = model.routing.solver()
    if stop_below is not None:
        cost = model.routing.CostVar()

        def at_solution() -> None:
            if cost.Value() < stop_below:
                solver.FinishCurrentSearch()

        model.routing.AddAtSolutionCallback(at_solution)
    model.routing.CloseModelWithParameters(params)
    solution = None
    if initial is not None:
        start = model.routing.ReadAssignmentFromRoutes(
            [[model.manager.NodeToIndex(n) for n in r] for r in initial], True
        )
        if start is not None:
            solution = model.routing.SolveFromAssignmentWithParameters(start, params)
    if solution is None:
        solution = model.routing.SolveWithParameters(params)
    if solution is None:
        return None
    return _routes(model, solution), solution.ObjectiveValue()


def solve_fewest_vehicles(data: RoutingData, time_limit_s: float) -> list[list[int]]:
    """Hierarchical solve (vehicles, then distance) of a problem whose every non-depot node must be served and
    whose vehicles are interchangeable apart from their per-vehicle fields; returns the used routes (node
    lists) or [] when no solution was found. See the phase description above."""
    clock = time.perf_counter
    t0 = clock()

    def left(share: float = 1.0) -> float:
        return max(MIN_SEARCH_S, share * time_limit_s - (clock() - t0))

    first = search_routes(data, left(FLEET_PHASE0_SHARE))
    if first is None:
        return []
    used = [(v, r) for v, r in enumerate(first[0]) if r]
    customers = [n for n in range(data.num_nodes) if n not in set(data.starts) | set(data.ends)]
    detour = 2 * max(max(row) for row in data.cost) + 1  # an insertion never costs more than this
    penalty = detour * (len(customers) + 1)  # one unserved customer outweighs any total distance
    while len(used) > 1 and clock() - t0 < FLEET_ELIMINATION_END * time_limit_s:
        drop = min(range(len(used)), key=lambda i: (len(used[i][1]), i))
        keep = [v for i, (v, _) in enumerate(used) if i != drop]
        trial = restrict_vehicles(data, keep, fixed_cost=0)
        trial.disjunctions = [([n], penalty) for n in customers]
        budget = min(left(FLEET_ELIMINATION_END), FLEET_ATTEMPT_SHARE * time_limit_s)
        found = search_routes(trial, budget, [r for i, (_, r) in enumerate(used) if i != drop], penalty)
        if found is None or found[1] >= penalty:
            break  # could not serve everyone with one vehicle fewer in the slice
        used = [(keep[i], r) for i, r in enumerate(found[0]) if r]
    final = restrict_vehicles(data, [v for v, _ in used], fixed_cost=0)
    best = search_routes(final, left(), [r for _, r in used])
    return [r for r in best[0] if r] if best is not None else [r for _, r in used]
