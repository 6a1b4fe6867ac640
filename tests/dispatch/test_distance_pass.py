"""The distance pass (dispatch.second_pass): after the main solve, km with every served job's arrival bounded.

One pair per rule, binding and not binding: the pass takes back a trip the time-to-site term bought when the job
is delayed by no more than the allowance; it does not when the delay would be longer (a free technician does not
watch a long wait); without an allowance it may delay up to the lateness bound; pins hold through it. And the
bounds themselves, on the model data.
"""

from __future__ import annotations

import dataclasses

from dispatch import Params, Problem
from dispatch.encoding import encode
from dispatch.second_pass import distance_data, lateness_bound
from dispatch.travel import StraightLineProvider
from tests.dispatch.conftest import NOW, job, order, solved, tech

MAIN_ONLY = Params(balance_per_s=0, second_pass_share=0)
# The pass is off by default (Params.second_pass_share 0, docs/dispatch.md "Distance pass"): on at the measured share.
ALLOW = Params(balance_per_s=0, second_pass_share=0.3, second_pass_allowance_s=15 * 60.0)  # delays <= 15 min
UNTIL_BOUND = Params(balance_per_s=0, second_pass_share=0.3)  # delays up to the lateness bound


def _queue_or_send(a_minutes: float, params: Params, pin_b: str | None = None) -> Problem:
    # A and B lie next to t1 (1 and 1.5 km); t2 is free 4 km away. B queued behind A waits A's duration: the
    # time-to-site term sends t2 (B on site in ~5 min) unless the wait is short; km alone says t1 does both.
    jobs = (job("A", 1.0, duration_s=a_minutes * 60), job("B", 1.5, pinned_to=pin_b))
    return Problem(NOW, jobs, (tech("t1", 0.0), tech("t2", 4.0)), params=params)


def _start(plan, job_id: str) -> float:  # type: ignore[no-untyped-def]
    return next(s.start for stops in plan.routes.values() for s in stops if s.job_id == job_id)


def test_distance_pass_binding_takes_back_a_trip_whose_saving_delays_the_job_within_the_allowance() -> None:
    main = solved(_queue_or_send(15, MAIN_ONLY), solution_limit=60)
    both = solved(_queue_or_send(15, ALLOW), solution_limit=60)
    assert order(main, "t2") == ["B"]  # the main objective alone sends the free technician
    assert sorted(order(both, "t1")) == ["A", "B"] and order(both, "t2") == []
    assert both.kpis["distance_pass_saved_s"] > 0 and both.kpis["travel_s"] < main.kpis["travel_s"]
    assert _start(both, "B") <= _start(main, "B") + ALLOW.second_pass_allowance_s  # type: ignore[operator]


def test_distance_pass_not_binding_when_the_saving_would_make_the_job_wait_longer_than_the_allowance() -> None:
    plan = solved(_queue_or_send(30, ALLOW), solution_limit=60)  # B would wait ~28 min more behind A
    assert order(plan, "t1") == ["A"] and order(plan, "t2") == ["B"]
    assert "distance_pass_saved_s" not in plan.kpis


def test_distance_pass_without_allowance_delays_up_to_the_lateness_bound() -> None:
    plan = solved(_queue_or_send(30, UNTIL_BOUND), solution_limit=60)  # B at ~33 min, target - margin = 105 min
    assert sorted(order(plan, "t1")) == ["A", "B"] and order(plan, "t2") == []
    assert _start(plan, "B") <= NOW + 2 * 3600 - UNTIL_BOUND.deadline_margin_s


def test_distance_pass_not_binding_past_the_lateness_bound() -> None:
    # Both jobs take 110 min: whichever goes second on one route would start after its target less the margin
    # (105 min), so each gets its own technician.
    base = _queue_or_send(110, UNTIL_BOUND)
    jobs = tuple(dataclasses.replace(j, duration_s=110 * 60.0) for j in base.jobs)
    plan = solved(dataclasses.replace(base, jobs=jobs), solution_limit=60)
    assert len(order(plan, "t1")) == 1 and len(order(plan, "t2")) == 1


def test_distance_pass_keeps_pins() -> None:
    plan = solved(_queue_or_send(30, UNTIL_BOUND, pin_b="t2"), solution_limit=60)
    assert "B" in order(plan, "t2") and "B" not in order(plan, "t1")  # km alone would have t1 do both


def test_distance_data_bounds_each_served_arrival_and_drops_only_the_pull() -> None:
    p = UNTIL_BOUND
    jobs = (job("X", 1.0, onsite_target=NOW + 7200, onsite_deadline=NOW + 3 * 3600),
            job("L", 2.0, onsite_target=NOW + 600, onsite_deadline=NOW + 600))  # already inside the margin
    enc = encode(Problem(NOW, jobs, (tech("t", 0.0),), params=p), StraightLineProvider())
    x, late = enc.job_nodes["X"][0], enc.job_nodes["L"][0]
    assert x in enc.pull_nodes and enc.data.site_costs[x][0][0] == 0  # the pull counts from now
    assert lateness_bound(enc.data, x, True) == 7200 - 900  # the target's bound, below the deadline's
    data = distance_data(enc, {x: 1000, late: 300}, allowance=900)
    assert data.windows[x] == (0, 1000 + 900)  # main arrival + allowance (below the target's bound)
    assert data.windows[late] == (0, 300)  # lateness bound passed already: no later than the main plan
    assert data.site_costs[x] == [(3 * 3600 - 900, p.cost_units_per_s * p.deadline_lateness_per_s * 2)]  # kept
    assert distance_data(enc, {x: 1000}, allowance=None).windows[x] == (0, 7200 - 900)
    assert distance_data(enc, {x: 1000}, allowance=None, extra_margin=600).windows[x] == (0, 7200 - 900 - 600)
    assert distance_data(enc, {x: 6000}, allowance=None, extra_margin=600).windows[x] == (0, 6000)  # never below
    assert enc.data.site_costs[x][0][0] == 0  # the main model's data is not changed
