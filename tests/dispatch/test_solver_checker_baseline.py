"""Solver properties (determinism, warm start, reasons), the independent checker, and the baseline."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace
from pathlib import Path

from bench.vrptw import Instance, check, parse, solve_instance
from dispatch import Depot, Params, Plan, Problem, Stop, check_plan, nearest_free, solve
from tests.dispatch.conftest import NOW, at, job, order, solved, tech


def _random_problem(seed: int, n_jobs: int = 12, n_techs: int = 3) -> Problem:
    rng = random.Random(seed)
    skills = ("hvac", "electrical")
    techs = tuple(tech(f"t{i}", rng.uniform(0, 20), (skills[i % 2], "hvac")) for i in range(n_techs))
    jobs = tuple(
        job(
            f"j{k}",
            rng.uniform(0, 20),
            (rng.choice(skills),),
            duration_s=rng.uniform(900, 3600),
            tier=rng.choice(("key", "gold", "standard", "bronze")),
        )
        for k in range(n_jobs)
    )
    return Problem(NOW, jobs, techs)


def test_every_random_plan_passes_the_checker_and_accounts_for_all_jobs() -> None:
    for seed in range(3):
        p = _random_problem(seed)
        plan = solved(p)
        served = {s.job_id for r in plan.routes.values() for s in r if s.kind == "job"}
        assert served | set(plan.dropped) == {j.id for j in p.jobs} and all(plan.dropped.values())


def test_same_seed_and_solution_limit_give_identical_plans() -> None:
    p = _random_problem(7, n_jobs=20)
    a = solve(p, 5.0, seed=3, solution_limit=50)
    b = solve(p, 5.0, seed=3, solution_limit=50)
    assert a == b


def test_warm_start_from_previous_plan_stays_feasible_and_stable() -> None:
    p = _random_problem(11)
    first = solved(p)
    again = solved(replace(p, previous_plan=first))
    assert {j.id: again.technician_of(j.id) for j in p.jobs} == {
        j.id: first.technician_of(j.id) for j in p.jobs
    }


def test_checker_flags_skill_window_and_missing_reason() -> None:
    j = job("j", 1, ("electrical",), window=(NOW + 3600, NOW + 3700))
    p = Problem(NOW, (j, job("k", 2)), (tech("t", 0),))
    bad = Plan({"t": (Stop("job", "j", None, (), NOW + 200, NOW + 200, NOW + 2000),)}, {})
    v = check_plan(p, bad)
    assert any("skills" in x for x in v) and any("window" in x for x in v) and any("k:" in x for x in v)


def test_checker_flags_too_fast_travel_and_missing_pickup() -> None:
    j = job("j", 20, required_parts=(("pump", 1),))
    p = Problem(NOW, (j,), (tech("t", 0),), (Depot("D", tech("x", 1).home, {"pump": 1}),))
    bad = Plan({"t": (Stop("job", "j", None, (), NOW + 10, NOW + 10, NOW + 1810),)}, {})
    v = check_plan(p, bad)
    assert any("too early" in x for x in v) and any("parts" in x for x in v)


def test_baseline_sends_nearest_free_qualified_technician() -> None:
    techs = (
        tech("busy", 0, state="on_site", busy_until=NOW + 3600),
        tech("mid", 5),
        tech("far", 10),
        tech("unq", 1, ("electrical",)),
    )
    p = Problem(NOW, (job("j", 1),), techs)
    plan = nearest_free(p)
    assert plan.technician_of("j") == "mid" and check_plan(p, plan) == []


def test_baseline_waits_when_no_one_is_free_and_picks_up_parts() -> None:
    depot = Depot("D", tech("x", 2).home, {"pump": 1})
    p = Problem(NOW, (job("a", 1, required_parts=(("pump", 1),)), job("b", 2)), (tech("t", 0),), (depot,))
    plan = nearest_free(p)
    assert [s.kind for s in plan.routes["t"]] == ["pickup", "job"] and plan.dropped["b"]
    assert check_plan(p, plan) == []


def test_optimiser_chains_jobs_the_baseline_leaves_waiting() -> None:
    p = Problem(NOW, (job("a", 1), job("b", 2)), (tech("t", 0),))
    assert order(solved(p), "t") and len(solved(p).dropped) < len(nearest_free(p).dropped)


def _tiny_instance() -> Instance:
    rows = [
        (0, 0, 0, 0, 400, 0),
        (10, 0, 1, 0, 400, 5),
        (10, 10, 1, 0, 400, 5),
        (0, 10, 1, 30, 60, 5),
        (5, 5, 1, 0, 400, 5),
    ]
    return Instance("tiny", 2, 10, [(float(x), float(y), d, a, b, s) for x, y, d, a, b, s in rows])


def test_tiny_vrptw_solved_to_brute_force_optimum() -> None:
    inst = _tiny_instance()
    routes = solve_instance(inst, 0.5, fixed_cost=1000.0)
    viol, dist = check(inst, routes)
    best = math.inf
    for perm in itertools.permutations(range(1, 5)):  # one vehicle suffices here (capacity 10)
        v, d = check(inst, [list(perm)])
        if not v:
            best = min(best, d)
    assert viol == [] and len(routes) == 1 and abs(dist - best) < 1e-6


# Shipped in the repository (tests/data/vrptw/README.md: source and MIT licence) so a clone alone passes.
VRPTW_DATA = Path(__file__).resolve().parent.parent / "data" / "vrptw"


def test_vrptw_checker_accepts_cvrplib_solution_of_c101() -> None:
    inst = parse(VRPTW_DATA / "C101.txt")
    sol = (VRPTW_DATA / "C101.sol").read_text().splitlines()
    routes = [[int(x) for x in line.split(":")[1].split()] for line in sol if line.startswith("Route")]
    viol, dist = check(inst, routes)
    assert viol == [] and len(inst.rows) == 101 and len(routes) == 10 and dist > 820


def test_capacity_binding_splits_routes() -> None:
    inst = _tiny_instance()
    tight = Instance("tight", 2, 2, inst.rows)
    routes = solve_instance(tight, 0.3, fixed_cost=1000.0)
    assert check(tight, routes)[0] == [] and len(routes) == 2


def test_capacity_not_binding_uses_one_route() -> None:
    routes = solve_instance(_tiny_instance(), 0.3, fixed_cost=1000.0)
    assert len(routes) == 1


def test_search_without_time_keeps_the_feasible_warm_start(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import dispatch.solver as solver_module

    p = _random_problem(11)
    first = solved(p)
    monkeypatch.setattr(solver_module, "MIN_SEARCH_S", 0.0)
    warm = replace(p, previous_plan=first)
    plan = solve(warm, 0.0)  # no time at all: the search returns nothing, the warm start is kept
    assert check_plan(warm, plan) == [] and plan.kpis["assigned"] == len(p.jobs)
    assert {j.id: plan.technician_of(j.id) for j in p.jobs} == {
        j.id: first.technician_of(j.id) for j in p.jobs
    }


def _held_on_a_busy_van(fresh_start_share: float) -> Plan:
    """A job planned last time for a busy technician whose van holds its filters, while a free technician could
    collect them at a depot on the way and be there two hours sooner (issue #14, work order 14 of a 24-h run)."""
    busy = tech("busy", 10, state="on_site", busy_until=NOW + 2 * 3600, van_stock={"filter": 2})
    techs = (busy, tech("free", 14), tech("far", 25))
    depots = (Depot("D", at(12), {"filter": 5}),)
    started = job("ip", 10, in_progress_by="busy", created_at=NOW - 3600)
    parts = (("filter", 2),)
    before = solved(Problem(NOW, (started, job("j", 9, required_parts=parts, pinned_to="busy")), techs, depots))
    assert before.technician_of("j") == "busy"
    params = replace(Params(), fresh_start_share=fresh_start_share)
    return solved(Problem(NOW + 60, (started, job("j", 9, required_parts=parts)), techs, depots, before, params))


def test_fresh_start_binding_moves_a_job_off_a_busy_van_to_a_depot_pickup() -> None:
    stops = _held_on_a_busy_van(0.3).routes["free"]
    assert [(s.kind, s.job_id) for s in stops] == [("pickup", "j"), ("job", "j")]
    assert stops[1].start < NOW + 3600


def test_fresh_start_not_binding_the_warm_start_keeps_the_van() -> None:
    # Without it no local-search move carries the job from the van (one node) to a pick-up pair on another route.
    assert _held_on_a_busy_van(0.0).technician_of("j") == "busy"
