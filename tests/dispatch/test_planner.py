"""Rows -> Problem rules of the live loop (dispatch.planner), without a database."""

from __future__ import annotations

from datetime import UTC as TZ_UTC
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from dispatch import Location, Plan, Stop, check_plan, solve
from dispatch.planner import (
    DepotRow,
    OrderRow,
    TechRow,
    break_windows,
    build_problem,
    committed_jobs,
    expected_remaining_s,
    first_jobs,
    interpolate,
    parts_plan,
    shift_window,
)
from dispatch.service import BUDGET_BASE_S, solve_budget

UTC = ZoneInfo("UTC")
NOW = datetime(2026, 1, 1, 10, 0, tzinfo=TZ_UTC).timestamp()


def order(i: int, status: str = "open", tech: int | None = None, **kw: object) -> OrderRow:
    base: dict = {"lat": 51.9 + i * 0.01, "lon": 4.48, "required_skills": ("mechanical",), "estimated_minutes": 45,
                  "tier": "standard", "severity": 2, "created_at": NOW - 600, "onsite_due": NOW + 6600}
    base.update(kw)
    return OrderRow(id=i, status=status, technician_id=tech, **base)


def techrow(i: int, state: str = "free", **kw: object) -> TechRow:
    base: dict = {"lat": 51.9, "lon": 4.40 + i * 0.01, "home_lat": 51.9, "home_lon": 4.40 + i * 0.01,
                  "skills": ("mechanical",), "shift_start": time(8), "shift_end": time(17)}
    base.update(kw)
    return TechRow(id=i, state=state, **base)


def test_shift_window_day_overnight_and_always_on() -> None:
    day = shift_window(NOW, time(8), time(17), UTC)
    assert day == (NOW - 2 * 3600, NOW + 7 * 3600)
    night = shift_window(NOW, time(22), time(6), UTC)  # 10:00 is off: the next night shift
    assert night == (NOW + 12 * 3600, NOW + 20 * 3600)
    late = NOW + 15 * 3600  # 01:00 the next day, inside the shift that began at 22:00
    assert shift_window(late, time(22), time(6), UTC) == (NOW + 12 * 3600, NOW + 20 * 3600)
    lo, hi = shift_window(NOW, time(0), time(23, 59, 59), UTC)
    assert lo < NOW - 3600 and hi > NOW + 12 * 3600
    amsterdam = shift_window(NOW, time(8), time(17), ZoneInfo("Europe/Amsterdam"))  # UTC+1 in January
    assert amsterdam == (NOW - 3 * 3600, NOW + 6 * 3600)


def test_breaks_fall_inside_the_shift() -> None:
    shift = (NOW - 2 * 3600, NOW + 7 * 3600)
    assert break_windows(shift, [(time(12), 30), (time(20), 30)], UTC) == ((NOW + 7200, NOW + 9000),)


def test_committed_job_is_on_site_then_en_route_then_earliest_assigned() -> None:
    rows = [order(1, "assigned", 7, eta=NOW + 900), order(2, "en_route", 7, eta=NOW + 1800),
            order(3, "assigned", 8, eta=NOW + 2000), order(4, "assigned", 8, eta=NOW + 1000),
            order(5, "assigned", 9, pinned_technician_id=10)]
    assert {t: o.id for t, o in committed_jobs(rows).items()} == {7: 2, 8: 4}


def test_build_problem_commits_pins_and_places_a_driving_technician_on_the_way() -> None:
    driving = order(1, "assigned", 1, assigned_at=NOW - 600, eta=NOW + 600, lat=52.0, lon=4.40)
    on_site = order(2, "on_site", 2, arrived_at=NOW - 3600, estimated_minutes=45)  # over-running
    manual = order(3, "assigned", 1, eta=NOW + 5000)
    pinned = order(4, pinned_technician_id=2)
    p = build_problem(NOW, [driving, on_site, manual, pinned],
                      [techrow(1, "travelling", lat=51.9, lon=4.40), techrow(2, "on_site"), techrow(3, "off")],
                      [], None, UTC)
    jobs = {j.id: j for j in p.jobs}
    techs = {t.id: t for t in p.technicians}
    assert set(techs) == {"1", "2"}  # off duty is not planned
    assert jobs["1"].in_progress_by == "1" and jobs["2"].in_progress_by == "2"
    assert jobs["3"].pinned_to == "1" and jobs["4"].pinned_to == "2"
    assert techs["1"].position == interpolate(Location(51.9, 4.40), Location(52.0, 4.40), 0.5)
    assert techs["2"].state == "on_site"
    assert techs["2"].busy_until == pytest.approx(NOW + expected_remaining_s(45 * 60, 3600, 0.35))
    plan = solve(p, 0.2)
    assert check_plan(p, plan) == []
    assert next(s.job_id for s in plan.routes["1"] if s.kind == "job") == "1"


def test_first_jobs_skip_a_pickup_stop() -> None:
    pick = Stop("pickup", "5", "9", (("X", 1),), NOW + 100, NOW + 100, NOW + 700)
    job = Stop("job", "5", None, (), NOW + 1500, NOW + 1500, NOW + 4200)
    later = Stop("job", "6", None, (), NOW + 5000, NOW + 5000, NOW + 7000)
    firsts = first_jobs(Plan({"3": (pick, job, later), "4": ()}, {}))
    assert list(firsts) == [5] and firsts[5].technician_id == 3 and firsts[5].eta == NOW + 1500


@pytest.mark.parametrize(("jobs", "cap", "expected"), [(0, 5.0, BUDGET_BASE_S), (1000, 5.0, 5.0), (1000, 0.5, 0.5)])
def test_solve_budget_grows_with_jobs_up_to_the_cap(jobs: int, cap: float, expected: float) -> None:
    assert solve_budget(jobs, cap) == expected


def test_warm_start_appends_jobs_the_previous_plan_did_not_hold() -> None:
    from dispatch.encoding import encode
    from dispatch.travel import StraightLineProvider

    p = build_problem(NOW, [order(1), order(2)], [techrow(1), techrow(2)], [], None, UTC)
    first = solve(p, 0.2)
    again = build_problem(NOW + 60, [order(1), order(2), order(3)], [techrow(1), techrow(2)], [], first, UTC)
    enc = encode(again, StraightLineProvider())
    held = {enc.meta[n].job_id for r in enc.warm_routes_previous_only for n in r}
    assert held == {"1", "2"}
    assert {enc.meta[n].job_id for r in enc.warm_routes for n in r} == {"1", "2", "3"}
    plan = solve(again, 0.2)
    assert check_plan(again, plan) == [] and plan.dropped == {}


def _sent_via_depot(elapsed_s: float) -> tuple[list[OrderRow], Plan, list[DepotRow]]:
    """Technician 1 was sent at NOW - elapsed to order 5 via depot 9 (half-way): trip 1 h, 10 min collecting."""
    sent = order(5, "en_route", 1, assigned_at=NOW - elapsed_s, eta=NOW - elapsed_s + 3600, lat=52.0, lon=4.40,
                 required_parts={"PUMP": 1})
    pick = Stop("pickup", "5", "9", (("PUMP", 1),), NOW - 900, NOW - 900, NOW - 300)
    job = Stop("job", "5", None, (), NOW + 1500, NOW + 1500, NOW + 4200)
    return [sent], Plan({"1": (pick, job)}, {}), [DepotRow(9, 51.95, 4.40, {"PUMP": 3})]


def test_pickup_not_yet_collected_is_kept_first_and_holds_stay_at_the_depot() -> None:
    orders, previous, depots = _sent_via_depot(600)  # 10 of the 25 min to the depot driven
    p = build_problem(NOW, orders, [techrow(1, "travelling", lat=51.9, lon=4.40)], depots, previous, UTC)
    assert p.jobs[0].pickup_depot == "9"
    assert p.technicians[0].position.lat == pytest.approx(51.92)  # 0.4 of the way to the depot
    plan = solve(p, 0.2)
    assert check_plan(p, plan) == []
    assert [(s.kind, s.depot_id) for s in plan.routes["1"]] == [("pickup", "9"), ("job", None)]
    (parts,) = parts_plan(plan, orders)  # spares reads the pick-up stop: the depot hold stays where it is
    assert (parts.source, parts.depot_location_id, parts.committed) == ("depot", 9, True)


def test_pickup_already_collected_is_not_planned_again() -> None:
    orders, previous, depots = _sent_via_depot(2400)  # 25 min driven, 10 min collected, 5 of 25 min on
    p = build_problem(NOW, orders, [techrow(1, "travelling", lat=51.9, lon=4.40)], depots, previous, UTC)
    assert p.jobs[0].pickup_depot is None
    assert p.technicians[0].position.lat == pytest.approx(51.96)  # 0.2 of the way from the depot to the job
    plan = solve(p, 0.2)
    assert check_plan(p, plan) == [] and [s.kind for s in plan.routes["1"]] == ["job"]
    (parts,) = parts_plan(plan, orders)  # committed to the same technician: spares keeps the depot hold
    assert (parts.source, parts.committed) == ("van", True)


# --- preventive visits (window of days, held back for emergencies) -----------------------------------------------

def _prev(i: int, lo: float, hi: float, status: str = "open", tech: int | None = None) -> OrderRow:
    return order(i, status, tech, kind="preventive", earliest_start=lo, latest_start=hi, onsite_due=hi)


def test_preventive_visit_gets_its_window_lowest_tier_and_no_two_hour_deadline() -> None:
    from dispatch.preventive import PREVENTIVE_OVERDUE_S

    now = NOW
    p = build_problem(now, [_prev(1, now - 3600, now + 3 * 86400), _prev(2, now - 9000, now - 7200)],
                      [techrow(1)], [], None, UTC)
    a, overdue = p.jobs
    assert (a.tier, a.priority, a.window, a.onsite_deadline) == ("bronze", 1, (now, now + 3 * 86400), now + 3 * 86400)
    assert a.preventive and overdue.preventive  # their own (low) drop penalty in the optimiser
    assert overdue.window == (now, now + PREVENTIVE_OVERDUE_S)  # overdue: room from now, not an empty window


def test_two_jobs_of_one_route_do_not_both_plan_on_the_vans_last_unit() -> None:
    """One technician, one BRG in the van, two jobs needing one each: the van's unit backs one job at most and the
    route collects the rest at the depot (before, both planned on the van and spares sent a courier for the
    second). Collecting both at the depot is as short as van + depot here, so either is a right answer."""
    orders = [order(1, required_parts={"BRG": 1}, onsite_due=NOW + 6 * 3600),
              order(2, required_parts={"BRG": 1}, onsite_due=NOW + 6 * 3600)]
    techs = [techrow(1, van_stock={"BRG": 1})]
    depots = [DepotRow(7, 51.95, 4.45, {"BRG": 5})]
    p = build_problem(NOW, orders, techs, depots, None, UTC)
    plan = solve(p, 1.0, solution_limit=500)
    assert check_plan(p, plan) == [] and not plan.dropped
    sources = [(pp.source, pp.depot_location_id) for pp in parts_plan(plan, orders)]
    assert sources.count(("van", None)) <= 1  # the van's one unit backs one job at most
    assert sources.count(("depot", 7)) >= 1 and set(sources) <= {("van", None), ("depot", 7)}
    route = plan.routes["1"]
    for k, stop in enumerate(route):  # each depot-sourced job's pick-up comes earlier on the route
        if stop.kind == "job" and ("depot", 7) == sources[int(stop.job_id) - 1]:  # type: ignore[arg-type]
            assert any(s.kind == "pickup" and s.job_id == stop.job_id for s in route[:k])
    # Two units in the van: no detour.
    p2 = build_problem(NOW, orders, [techrow(1, van_stock={"BRG": 2})], depots, None, UTC)
    plan2 = solve(p2, 1.0, solution_limit=500)
    assert [s.kind for s in plan2.routes["1"]] == ["job", "job"]
    assert {pp.source for pp in parts_plan(plan2, orders)} == {"van"}


def test_van_stock_used_up_and_no_depot_still_plans_a_visit_with_the_part_by_courier() -> None:
    orders = [order(1, required_parts={"BRG": 1}, onsite_due=NOW + 6 * 3600),
              order(2, required_parts={"BRG": 1}, onsite_due=NOW + 6 * 3600)]
    p = build_problem(NOW, orders, [techrow(1, van_stock={"BRG": 1})], [], None, UTC)
    plan = solve(p, 1.0, solution_limit=500)
    assert check_plan(p, plan) == [] and not plan.dropped  # spares sends the second part by courier


def test_a_corrective_job_carries_its_service_target_beside_its_contract_deadline() -> None:
    """Issue #14: an office-hours contract at night has its deadline the next morning; the job still aims at the
    2-hour target, and a preventive visit carries none."""
    night = order(1, onsite_due=NOW + 20 * 3600, onsite_target=NOW + 6600)
    visit = order(2, kind="preventive", earliest_start=NOW, latest_start=NOW + 86400, onsite_due=NOW + 86400,
                  onsite_target=NOW + 6600)
    job, prev = build_problem(NOW, [night, visit], [techrow(1)], [], None, UTC).jobs
    assert (job.onsite_target, job.onsite_deadline) == (NOW + 6600, NOW + 20 * 3600)
    assert prev.onsite_target is None
    plan = solve(build_problem(NOW, [night], [techrow(1)], [], None, UTC), 0.3)
    assert plan.routes["1"][0].eta <= NOW + 6600  # on site within the target, not merely the next-morning deadline


def test_what_is_left_of_a_repair_is_its_conditional_mean_not_a_sliding_quarter_hour() -> None:
    """Regression (issue #14, live day over 24 h): a 90-minute repair at 109 and at 150 minutes was planned to
    end 15 minutes later at every re-plan, for two hours; its queued job waited while free technicians stood by."""
    est = 90 * 60.0
    assert expected_remaining_s(est, 0.0, 0.35) == pytest.approx(est * 1.0632, rel=1e-3)  # the mean, not median
    assert expected_remaining_s(est, 30 * 60.0, 0.0) == 60 * 60.0  # sigma 0: the estimate is exact
    overrun = [expected_remaining_s(est, m * 60.0, 0.35) / 60.0 for m in (109, 150, 200, 400)]
    assert all(25 < left < 40 for left in overrun), overrun  # a third of the estimate, not 15 min
    assert expected_remaining_s(est, 10 * est, 0.35) > 5 * 60.0  # deep tail: finite, never below the floor
    assert expected_remaining_s(0.0, 100.0, 0.35) == 5 * 60.0
