"""Hierarchical fewest-vehicles solve used by the VRPTW benchmark (same build_model as the product)."""

from __future__ import annotations

import itertools
import math

from bench.vrptw import Instance, check, to_data
from dispatch.routing_model import RoutingData
from dispatch.solver import restrict_vehicles, search_routes, solve_fewest_vehicles


def _instance() -> Instance:
    # depot, then 4 customers: (x, y, demand, ready, due, service); one vehicle can serve all of them
    rows = [
        (0, 0, 0, 0, 400, 0),
        (10, 0, 1, 0, 400, 5),
        (10, 10, 1, 0, 400, 5),
        (0, 10, 1, 30, 60, 5),
        (5, 5, 1, 0, 400, 5),
    ]
    return Instance("tiny", 3, 10, [(float(x), float(y), d, a, b, s) for x, y, d, a, b, s in rows])


def test_restrict_vehicles_reindexes_per_vehicle_fields() -> None:
    data = RoutingData(
        travel=[[0] * 5] * 5,
        cost=[[0] * 5] * 5,
        service=[0] * 5,
        starts=[0, 1, 2],
        ends=[0, 1, 2],
        horizon=100,
        capacity=[1, 2, 3],
        vehicle_end_max=[10, 20, 30],
        breaks={1: [(5, 1)], 2: [(7, 2)]},
        allowed={3: [0, 2], 4: [1]},
        first_stop={2: 3},
        reassign={0: {3: 9}},
    )
    sub = restrict_vehicles(data, [2, 0], fixed_cost=7)
    assert sub.starts == [2, 0] and sub.capacity == [3, 1] and sub.vehicle_end_max == [30, 10]
    assert sub.breaks == {0: [(7, 2)]} and sub.first_stop == {0: 3} and sub.reassign == {1: {3: 9}}
    assert sub.allowed == {3: [1, 0], 4: []} and sub.vehicle_fixed_cost == 7
    assert data.starts == [0, 1, 2]  # the original is untouched


def test_fewest_vehicles_finds_the_single_route_optimum_even_without_a_fixed_cost() -> None:
    inst = _instance()
    routes = solve_fewest_vehicles(to_data(inst, fixed_cost=0.0), 1.0)
    viol, dist = check(inst, routes)
    best = min(
        d for perm in itertools.permutations(range(1, 5)) for v, d in [check(inst, [list(perm)])] if not v
    )
    assert viol == [] and len(routes) == 1 and math.isclose(dist, best, abs_tol=1e-6)


def test_search_routes_stops_once_below_the_target_and_honours_a_warm_start() -> None:
    data = to_data(_instance(), fixed_cost=0.0)
    found = search_routes(data, 5.0, initial=[[1, 2, 3, 4], [], []], stop_below=10**12)
    assert found is not None
    routes, objective = found
    assert sorted(n for r in routes for n in r) == [1, 2, 3, 4] and objective < 10**12
