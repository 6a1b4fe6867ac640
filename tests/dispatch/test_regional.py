"""Regional partitioning of a large re-plan (issue #17): which solver plans which job, the budget split, and the
merged plan passing the independent checker. Small sizes; the 500 x 3,000 figure is bench.dispatch_regional."""

from __future__ import annotations

from dataclasses import replace

from dispatch import Plan, Problem, check_plan
from dispatch.encoding import REASON_NO_SKILL
from dispatch.models import Stop
from dispatch.regional import partition, plan_fleet, should_partition, solve_by_region
from tests.dispatch.conftest import NOW, job, tech

# Two regions 100 km apart: north (x = 0..2 km) and south (x = 100..102 km).


def _world(**kw: object) -> Problem:
    techs = (tech("n1", 0.0, region="north"), tech("n2", 2.0, region="north"),
             tech("s1", 100.0, region="south"), tech("s2", 101.0, skills=("hvac", "gas"), region="south"))
    jobs = (job("jn", 1.0, region="north"), job("js", 101.5, region="south"),
            # nobody in the north holds "gas": planned by the south's solver (its nearest qualified technician)
            job("gas-north", 3.0, skills=("gas",), region="north"),
            job("no-region", 99.0))
    return Problem(NOW, jobs, techs, **kw)  # type: ignore[arg-type]


def _where(problem: Problem) -> dict[str, str]:
    return {j.id: p.region for p in partition(problem) for j in p.problem.jobs}


def test_jobs_go_to_their_region_and_cross_region_jobs_to_the_nearest_qualified_one() -> None:
    where = _where(_world())
    assert where == {"jn": "north", "js": "south", "gas-north": "south", "no-region": "south"}
    cross = {p.region: set(p.cross_region) for p in partition(_world())}
    assert cross == {"north": set(), "south": {"gas-north", "no-region"}}


def test_merged_plan_serves_every_job_cross_region_too_and_passes_the_checker() -> None:
    problem = _world()
    plan, report = solve_by_region(problem, 1.0)
    assert check_plan(problem, plan) == []
    assert plan.dropped == {} and plan.technician_of("gas-north") == "s2"
    assert set(plan.routes) == {"n1", "n2", "s1", "s2"}
    assert sorted((r["region"], r["jobs"], r["cross_region"]) for r in report) == [("north", 1, 0), ("south", 3, 2)]


def test_committed_job_is_planned_with_its_technician_whatever_the_job_region() -> None:
    base = _world()
    jobs = tuple(replace(j, in_progress_by="s1") if j.id == "jn" else j for j in base.jobs)
    techs = tuple(replace(t, state="travelling") if t.id == "s1" else t for t in base.technicians)
    problem = replace(base, jobs=jobs, technicians=techs)
    assert _where(problem)["jn"] == "south"
    plan, _ = solve_by_region(problem, 1.0)
    assert plan.routes["s1"][0].job_id == "jn" and check_plan(problem, plan) == []


def test_pinned_job_follows_the_pin_and_the_previous_plan_is_split_by_technician() -> None:
    base = _world()
    jobs = tuple(replace(j, pinned_to="n2") if j.id == "js" else j for j in base.jobs)
    stop = Stop("job", "jn", None, (), NOW + 600, NOW + 600, NOW + 2400)
    prev = Plan({"n1": (stop,), "s1": ()}, {})
    problem = replace(base, jobs=jobs, previous_plan=prev)
    parts = {p.region: p.problem for p in partition(problem)}
    assert "js" in {j.id for j in parts["north"].jobs}
    assert set(parts["north"].previous_plan.routes) == {"n1"}  # type: ignore[union-attr]
    assert set(parts["south"].previous_plan.routes) == {"s1"}  # type: ignore[union-attr]
    plan, _ = solve_by_region(problem, 1.0)
    assert plan.technician_of("js") == "n2" and check_plan(problem, plan) == []


def test_job_nobody_is_qualified_for_is_dropped_with_the_reason() -> None:
    base = _world()
    problem = replace(base, jobs=(*base.jobs, job("crane", 1.0, skills=("crane",), region="north")))
    plan, _ = solve_by_region(problem, 1.0)
    assert plan.dropped == {"crane": REASON_NO_SKILL}


def test_budget_is_split_by_size_and_the_sum_stays_within_the_total() -> None:
    base = _world()
    more = tuple(job(f"s{k}", 100.0 + k / 10, region="south") for k in range(6))
    problem = replace(base, jobs=base.jobs + more)
    seen: dict[str, float] = {}

    def fake(p: Problem, budget: float) -> Plan:
        seen[p.technicians[0].region or ""] = budget
        return Plan({t.id: () for t in p.technicians}, {})

    solve_by_region(problem, 10.0, solver=fake)
    # north: 1 job + 2 technicians = 3 of 14 nodes; south: 9 jobs + 2 technicians = 11: it goes first with 11/14
    # of the budget; north then gets all the time left (the fake solver returned at once, a real one uses its share)
    assert abs(seen["south"] - 10.0 * 11 / 14) < 0.05
    assert 9.9 < seen["north"] <= 10.0


def test_threshold_decides_and_one_region_is_never_split() -> None:
    problem = _world()
    assert should_partition(problem, 4) and not should_partition(problem, 5) and not should_partition(problem, 0)
    one = replace(problem, technicians=tuple(replace(t, region="north") for t in problem.technicians))
    assert not should_partition(one, 1)
    assert check_plan(problem, plan_fleet(problem, 1.0, min_technicians=4)) == []


def test_a_partition_whose_search_finds_nothing_is_dispatched_nearest_free() -> None:
    problem = _world()

    def starved(p: Problem, budget: float) -> Plan:  # what solve returns when no solution came in time
        return Plan({t.id: () for t in p.technicians}, {j.id: "capacity" for j in p.jobs}, float("inf"))

    plan, report = solve_by_region(problem, 1.0, solver=starved)
    assert all(r["fallback"] for r in report if r["jobs"])
    assert plan.technician_of("jn") in ("n1", "n2") and plan.technician_of("js") in ("s1", "s2")
    assert check_plan(problem, plan) == []


def test_a_first_solution_cut_short_counts_as_starved() -> None:
    problem = _world()

    def cut_short(p: Problem, budget: float) -> Plan:  # OR-Tools' answer when the limit cuts the heuristic
        return Plan({t.id: () for t in p.technicians}, {j.id: "capacity" for j in p.jobs}, 3e6,
                    {"assigned": 0.0})

    plan, report = solve_by_region(problem, 1.0, solver=cut_short)
    assert all(r["fallback"] for r in report if r["jobs"]) and plan.technician_of("jn") is not None
