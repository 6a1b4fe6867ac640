"""The nearest-free fallback and the customer's window (dispatch/baseline.py), pure: nobody is sent long before
the window opens, the visit starts inside it, and a window that has passed no longer holds the job back."""

from __future__ import annotations

from dispatch import Problem, check_plan, nearest_free
from dispatch.baseline import APPOINTMENT_LEAD_S, REASON_WINDOW_LATER, appointment_start
from tests.dispatch.conftest import NOW, job, tech


def test_appointment_start_rule() -> None:
    window = (NOW + 3 * 3600, NOW + 5 * 3600)
    assert appointment_start(None, NOW + 600, NOW) == NOW + 600
    assert appointment_start(window, NOW + 600, NOW) is None  # 2 h 50 min early: not yet
    just_inside = window[0] - APPOINTMENT_LEAD_S
    assert appointment_start(window, just_inside, NOW) == window[0]  # arrives at the lead: waits at the door
    assert appointment_start(window, just_inside - 1, NOW) is None
    assert appointment_start(window, window[0] + 60, NOW) == window[0] + 60  # inside: starts on arrival
    assert appointment_start(window, window[1] + 60, NOW) == window[1] + 60  # missed: late but at once
    passed = (NOW - 5 * 3600, NOW - 3 * 3600)
    assert appointment_start(passed, NOW + 600, NOW) == NOW + 600  # passed: no longer a reason to wait


def test_nearest_free_keeps_the_technician_free_until_the_window_is_near() -> None:
    window = (NOW + 3 * 3600, NOW + 5 * 3600)
    later = job("later", 1, window=window, created_at=NOW - 600)
    urgent = job("urgent", 2)
    p = Problem(NOW, (later, urgent), (tech("t", 0),))
    plan = nearest_free(p)
    # Before: the older job took the only technician, who would have waited 3 h at the door.
    assert plan.dropped == {"later": REASON_WINDOW_LATER}
    assert plan.technician_of("urgent") == "t" and check_plan(p, plan) == []
    near = Problem(window[0] - 600, (later,), (tech("t", 0, shift_start=NOW, shift_end=NOW + 10 * 3600),))
    plan = nearest_free(near)
    [stop] = plan.routes["t"]
    assert stop.start == window[0] and stop.eta < window[0] and check_plan(near, plan) == []


def test_nearest_free_a_break_may_not_push_the_start_out_of_the_window() -> None:
    window = (NOW + 600, NOW + 1800)
    j = job("j", 1, window=window)
    on_break = tech("t", 0, breaks=((NOW + 600, NOW + 2400),))  # on a break from when the window opens
    plan = nearest_free(Problem(NOW, (j,), (on_break,)))
    assert plan.technician_of("j") is None and "j" in plan.dropped


def test_preventive_windows_keep_the_baseline_rule() -> None:
    """A preventive visit's window of days is not a customer's appointment: unchanged (bench baselines)."""
    window = (NOW + 3 * 3600, NOW + 30 * 3600)
    visit = job("pm", 1, window=window, preventive=True)
    plan = nearest_free(Problem(NOW, (visit,), (tech("t", 0),)))
    assert plan.technician_of("pm") == "t" and plan.routes["t"][0].start == window[0]


def test_nearest_free_lets_a_break_pause_a_long_repair_as_the_optimiser_does() -> None:
    long_job = job("j", 1, duration_s=3 * 3600)
    t = tech("t", 0, breaks=((NOW + 3600, NOW + 5400),))
    p = Problem(NOW, (long_job,), (t,))
    stop = nearest_free(p).routes["t"][0]
    assert stop.start < NOW + 600 and stop.end == stop.start + 3 * 3600 + 1800 and check_plan(p, nearest_free(p)) == []
