"""One test pair per constraint: the constraint binding (changes the plan) and not binding."""

from __future__ import annotations

from dataclasses import replace

from dispatch import Depot, Params, Plan, Problem
from dispatch.encoding import (
    REASON_CAPACITY,
    REASON_NO_SHIFT,
    REASON_NO_SKILL,
    REASON_SHIFT_TIME,
    REASON_WINDOW,
)
from tests.dispatch.conftest import NOW, at, job, order, solved, tech


def test_skills_binding_sends_the_far_qualified_technician() -> None:
    p = Problem(NOW, (job("j", 1, ("electrical",)),), (tech("near", 0), tech("far", 20, ("electrical",))))
    assert solved(p).technician_of("j") == "far"


def test_skills_not_binding_sends_the_nearest() -> None:
    p = Problem(NOW, (job("j", 1),), (tech("near", 0), tech("far", 20)))
    assert solved(p).technician_of("j") == "near"


def test_shift_start_binding_delays_the_visit() -> None:
    p = Problem(NOW, (job("j", 1),), (tech("t", 0, shift_start=NOW + 3600),))
    assert solved(p).routes["t"][0].start >= NOW + 3600


def test_shift_start_not_binding_leaves_now() -> None:
    p = Problem(NOW, (job("j", 1),), (tech("t", 0),))
    assert solved(p).routes["t"][0].start < NOW + 600


def test_break_binding_moves_service_after_the_break() -> None:
    # The technician would arrive during the break: nobody starts a job on a break.
    p = Problem(NOW, (job("j", 1),), (tech("t", 0, breaks=((NOW + 60, NOW + 1860),)),))
    assert solved(p).routes["t"][0].start >= NOW + 1860


def test_break_binding_inside_a_long_repair_pauses_it() -> None:
    # Issue #14: a 3-h repair may straddle a 30-min break (it ends 30 min later), so the free technician is sent
    # now instead of after the break.
    p = Problem(NOW, (job("j", 1, duration_s=3 * 3600),), (tech("t", 0, breaks=((NOW + 3600, NOW + 5400),)),))
    stop = solved(p).routes["t"][0]
    assert stop.start < NOW + 600 and abs(stop.end - (stop.start + 3 * 3600 + 1800)) <= 2  # whole seconds


def test_break_not_binding_a_long_repair_without_one_ends_on_time() -> None:
    stop = solved(Problem(NOW, (job("j", 1, duration_s=3 * 3600),), (tech("t", 0),))).routes["t"][0]
    assert stop.start < NOW + 600 and abs(stop.end - (stop.start + 3 * 3600)) <= 2


def test_break_not_binding_when_later() -> None:
    p = Problem(NOW, (job("j", 1),), (tech("t", 0, breaks=((NOW + 5 * 3600, NOW + 5.5 * 3600),)),))
    assert solved(p).routes["t"][0].start < NOW + 600


def test_window_binding_waits_for_opening() -> None:
    p = Problem(NOW, (job("j", 1, window=(NOW + 7200, NOW + 9000)),), (tech("t", 0),))
    stop = solved(p).routes["t"][0]
    assert NOW + 7200 <= stop.start <= NOW + 9000 and stop.eta < stop.start


def test_window_not_binding_when_open_now() -> None:
    p = Problem(NOW, (job("j", 1, window=(NOW - 60, NOW + 9000)),), (tech("t", 0),))
    stop = solved(p).routes["t"][0]
    assert stop.start == stop.eta


def _deadline_problem(deadline_b: float) -> Problem:
    # A lies on the way to B; distance alone says A first; a tight deadline on B says B first. The time-to-site
    # term is off here (it alone would put the key account first, test_objective.py): this pair is the deadline's.
    jobs = (job("A", 2, duration_s=3600.0), job("B", 4, tier="key", onsite_deadline=deadline_b))
    return Problem(NOW, jobs, (tech("t", 0),), params=Params(time_to_site_per_s=0))


def test_onsite_deadline_binding_reorders() -> None:
    assert order(solved(_deadline_problem(NOW + 900)), "t") == ["B", "A"]


def test_onsite_deadline_not_binding_keeps_shortest_order() -> None:
    assert order(solved(_deadline_problem(NOW + 4 * 3600)), "t") == ["A", "B"]


def test_overtime_binding_costs_but_job_is_done() -> None:
    p = Problem(NOW, (job("j", 1, duration_s=3600.0),), (tech("t", 0, shift_end=NOW + 1800),))
    plan = solved(p)
    assert plan.technician_of("j") == "t" and plan.kpis["overtime_s"] > 0


def test_overtime_not_binding_within_shift() -> None:
    plan = solved(Problem(NOW, (job("j", 1),), (tech("t", 0),)))
    assert plan.kpis["overtime_s"] == 0


def test_overtime_hard_cap_drops_with_reason() -> None:
    p = Problem(NOW, (job("j", 1, duration_s=4 * 3600.0),), (tech("t", 0, shift_end=NOW + 600),))
    assert solved(p).dropped["j"] == REASON_SHIFT_TIME


def test_drop_reasons_for_skill_shift_and_window() -> None:
    jobs = (job("skill", 1, ("roofing",)), job("shift", 1, ("gas",)), job("win", 30, window=(NOW, NOW + 300)))
    techs = (tech("t", 0), tech("g", 0, ("gas",), shift_start=NOW - 9 * 3600, shift_end=NOW - 3 * 3600))
    plan = solved(Problem(NOW, jobs, techs))
    assert plan.dropped == {"skill": REASON_NO_SKILL, "shift": REASON_NO_SHIFT, "win": REASON_WINDOW}


def test_capacity_time_drop_keeps_the_higher_tier() -> None:
    w = (NOW + 3600, NOW + 3700)
    jobs = (job("bronze", 1, tier="bronze", window=w), job("key", 1.1, tier="key", window=w))
    plan = solved(Problem(NOW, jobs, (tech("t", 0),)))
    assert plan.technician_of("key") == "t" and plan.dropped == {"bronze": REASON_CAPACITY}


def test_no_drop_when_there_is_room() -> None:
    plan = solved(Problem(NOW, (job("a", 1), job("b", 2)), (tech("t", 0),)))
    assert plan.dropped == {} and sorted(order(plan, "t")) == ["a", "b"]


def test_pin_binding_sends_the_pinned_technician() -> None:
    p = Problem(NOW, (job("j", 1, pinned_to="far"),), (tech("near", 0), tech("far", 20)))
    assert solved(p).technician_of("j") == "far"


def test_in_progress_job_stays_first_stop_of_its_technician() -> None:
    jobs = (job("ip", 15, in_progress_by="far"), job("other", 19))
    techs = (tech("near", 0), tech("far", 20, state="travelling"))
    plan = solved(Problem(NOW, jobs, techs))
    assert plan.routes["far"][0].job_id == "ip"


def test_on_site_in_progress_job_keeps_remaining_service() -> None:
    techs = (tech("t", 5, state="on_site", busy_until=NOW + 1200),)
    plan = solved(Problem(NOW, (job("ip", 5, in_progress_by="t"), job("next", 6)), techs))
    assert plan.routes["t"][0].job_id == "ip" and plan.routes["t"][0].end == NOW + 1200
    assert plan.routes["t"][1].start >= NOW + 1200


def _parts_problem(van: dict[str, int]) -> Problem:
    depots = (Depot("D", tech("x", 3).home, {"pump": 2}),)
    j = job("j", 6, required_parts=(("pump", 1),))
    return Problem(NOW, (j,), (tech("t", 0, van_stock=van),), depots)


def test_parts_binding_adds_a_pickup_before_the_job() -> None:
    stops = solved(_parts_problem({})).routes["t"]
    assert [s.kind for s in stops] == ["pickup", "job"] and stops[0].depot_id == "D"


def test_parts_not_binding_when_the_van_has_them() -> None:
    assert [s.kind for s in solved(_parts_problem({"pump": 1})).routes["t"]] == ["job"]


def test_locks_keep_previous_technician_and_order() -> None:
    techs = (tech("a", 0), tech("b", 10))
    first = solved(Problem(NOW, (job("x", 9), job("y", 11)), techs))
    prev_b = order(first, "b")
    jobs = (job("x", 9, locked=True), job("y", 11, locked=True), job("z", 0.5))
    plan = solved(Problem(NOW, jobs, techs, previous_plan=first))
    assert prev_b and [j for j in order(plan, "b") if j in prev_b] == prev_b
    assert all(plan.technician_of(j) == first.technician_of(j) for j in ("x", "y"))


def test_reassignment_penalty_keeps_previous_technician() -> None:
    techs = (tech("a", 0), tech("b", 2.4))
    prev = solved(Problem(NOW, (job("j", 1.2),), (tech("a", 0),)))
    moved = Problem(NOW, (job("j", 1.3),), techs)
    assert solved(moved).technician_of("j") == "b"
    kept = Problem(NOW, (job("j", 1.3),), techs, previous_plan=prev)
    assert solved(kept).technician_of("j") == "a"


def test_reassignment_penalty_zero_lets_the_job_move() -> None:
    techs = (tech("a", 0), tech("b", 2.4))
    prev = solved(Problem(NOW, (job("j", 1.2),), (tech("a", 0),)))
    p = Problem(NOW, (job("j", 1.3),), techs, previous_plan=prev, params=Params(reassign_penalty_s=0))
    assert solved(p).technician_of("j") == "b"


def test_lateness_alone_never_drops_a_job_that_fits_the_shift() -> None:
    jobs = tuple(job(f"j{k}", 1 + k * 0.1, duration_s=7200.0, onsite_deadline=NOW + 1800) for k in range(4))
    plan = solved(Problem(NOW, jobs, (tech("t", 0),)))
    assert plan.dropped == {} and plan.kpis["late_jobs"] >= 3


def test_drop_when_the_shift_cannot_hold_all_jobs() -> None:
    jobs = tuple(job(f"j{k}", 1 + k * 0.1, duration_s=7200.0) for k in range(6))
    plan = solved(Problem(NOW, jobs, (tech("t", 0),)))
    # 10 h until the overtime cap: four 2-hour jobs plus driving fit, a fifth does not.
    assert set(plan.dropped.values()) == {REASON_CAPACITY} and len(plan.dropped) == 2


def test_job_whose_part_nobody_stocks_is_still_visited_unless_configured_otherwise() -> None:
    from dataclasses import replace

    from dispatch.encoding import REASON_PARTS

    needs_part = job("j1", 5.0, required_parts=(("RARE-1", 1),))
    problem = Problem(now=NOW, jobs=(needs_part,), technicians=(tech("t1"),), depots=())
    visited = solved(problem)
    assert "j1" in {s.job_id for stops in visited.routes.values() for s in stops}
    strict = replace(problem, params=replace(problem.params, visit_without_parts=False))
    assert solved(strict).dropped == {"j1": REASON_PARTS}


def _late_technician_problem(shift_end: float) -> Problem:
    # "late" is free, 30 km (~1 h) from home; "t" could serve the job. With a shift that ended 1.5 h ago, "late"
    # is still within the 2 h overtime cap but cannot be home by then, however the route looks: their empty
    # route used to make the whole model infeasible ("no solution found", every job dropped).
    late = tech("late", 30, home=tech("x", 0).home, shift_start=NOW - 10 * 3600, shift_end=shift_end)
    return Problem(NOW, (job("j", 1),), (tech("t", 0), late))


def test_overtime_cap_binding_on_a_late_technician_keeps_the_model_feasible() -> None:
    plan = solved(_late_technician_problem(NOW - 1.5 * 3600))
    assert plan.technician_of("j") == "t" and plan.dropped == {} and plan.routes["late"] == ()
    plan = solved(_late_technician_problem(NOW - 2.5 * 3600))  # past the cap altogether
    assert plan.technician_of("j") == "t" and plan.dropped == {} and plan.routes["late"] == ()


def test_overtime_cap_not_binding_on_a_technician_within_the_cap() -> None:
    plan = solved(_late_technician_problem(NOW + 3600))
    assert plan.technician_of("j") == "t" and plan.dropped == {}


def test_late_technician_beyond_the_cap_gets_no_new_job_even_when_alone() -> None:
    late = tech("late", 30, home=tech("x", 0).home, shift_start=NOW - 10 * 3600, shift_end=NOW - 2.5 * 3600)
    plan = solved(Problem(NOW, (job("j", 29),), (late,)))
    assert plan.routes["late"] == () and plan.dropped == {"j": REASON_NO_SHIFT}


def test_late_technician_with_a_committed_job_beyond_the_cap_still_finishes_it() -> None:
    late = tech("late", 30, home=tech("x", 0).home, shift_start=NOW - 10 * 3600, shift_end=NOW - 1.5 * 3600,
                state="travelling")
    jobs = (job("ip", 25, in_progress_by="late"), job("other", 1))
    plan = solved(Problem(NOW, jobs, (tech("t", 0), late)))
    assert order(plan, "late") == ["ip"] and plan.technician_of("other") == "t"


def _sent_via_depot(pickup_depot: str | None) -> tuple[Plan, Problem]:
    """Plan 1 sends "t" (no pump in the van) via depot D to "ip"; the re-plan has "ip" committed to "t"."""
    depots = (Depot("D", at(3, 3), {"pump": 2}),)
    techs = (tech("t", 0), tech("u", 0.5))
    first = solved(Problem(NOW, (job("ip", 6, required_parts=(("pump", 1),)),), techs[:1], depots))
    sent = job("ip", 6, required_parts=(("pump", 1),), in_progress_by="t", pickup_depot=pickup_depot)
    again = Problem(NOW, (sent, job("other", 1)), (replace(techs[0], state="travelling"), techs[1]), depots,
                    previous_plan=first)
    return first, again


def test_committed_pickup_binding_stays_the_first_stop_before_its_job() -> None:
    first, again = _sent_via_depot("D")
    stops = solved(again).routes["t"]
    assert [(s.kind, s.job_id, s.depot_id) for s in stops[:2]] == [("pickup", "ip", "D"), ("job", "ip", None)]
    assert stops[1].eta == first.routes["t"][1].eta  # the ETA still includes the detour via the depot


def test_committed_pickup_not_binding_once_collected() -> None:
    first, again = _sent_via_depot(None)
    stops = solved(again).routes["t"]
    assert (stops[0].kind, stops[0].job_id) == ("job", "ip") and stops[0].eta < first.routes["t"][1].eta
