"""A rescheduled job's customer window in the optimiser's problem (dispatch.appointments), without a database."""

from __future__ import annotations

from dispatch import check_plan, solve
from dispatch.appointments import (
    LOOKAHEAD_S,
    REASON_APPOINTMENT_LATER,
    appointment_fields,
    defer_appointments,
)
from dispatch.planner import build_problem
from tests.dispatch.test_planner import NOW, UTC, order, techrow


def test_window_fields() -> None:
    assert appointment_fields(None, None, NOW, False) == {}
    assert appointment_fields(NOW + 3600, NOW + 7200, NOW, False) == {"window": (NOW + 3600, NOW + 7200)}
    assert appointment_fields(NOW - 600, NOW + 600, NOW, False) == {"window": (NOW, NOW + 600)}  # already open
    assert appointment_fields(NOW - 7200, NOW - 3600, NOW, False) == {}  # passed: the job is simply late
    assert appointment_fields(NOW + 3600, NOW + 7200, NOW, True) == {}  # the technician set off: honoured


def test_the_optimiser_starts_a_rescheduled_job_inside_its_window_and_defers_a_far_one() -> None:
    soon = order(1, earliest_start=NOW + 3 * 3600, latest_start=NOW + 4 * 3600, onsite_due=NOW + 4 * 3600)
    far = order(2, earliest_start=NOW + LOOKAHEAD_S + 3600, latest_start=NOW + LOOKAHEAD_S + 7200)
    plain = order(3)
    problem = build_problem(NOW, [soon, far, plain], [techrow(1)], [], None, UTC)
    assert {j.id: j.window for j in problem.jobs}["1"] == (NOW + 3 * 3600, NOW + 4 * 3600)
    kept, later = defer_appointments(problem)
    assert later == {"2": REASON_APPOINTMENT_LATER} and {j.id for j in kept.jobs} == {"1", "3"}
    plan = solve(kept, 0.5)
    assert check_plan(kept, plan) == []
    start = {s.job_id: s.start for stops in plan.routes.values() for s in stops}
    assert NOW + 3 * 3600 <= start["1"] <= NOW + 4 * 3600 and start["3"] < start["1"]
