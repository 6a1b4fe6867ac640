"""One test pair per objective term (issue #14): the term binding (it changes the plan) and not binding.

The terms: priority-weighted time to site, its weights by tier and severity, lateness past the service target,
steeper lateness past the contract deadline, and balance across technicians. Where a pair isolates one term
the others are switched off in ``Params`` (each alone would also move the jobs, in the same direction).
"""

from __future__ import annotations

import dataclasses

from dispatch import Params, Problem
from dispatch.encoding import arrival_costs
from tests.dispatch.conftest import NOW, at, job, order, solved, tech

ISOLATED = Params(time_to_site_per_s=0, balance_per_s=0)
WINDOW_S = 45 * 60.0  # a time-to-site window (the knob is off by default: docs/dispatch.md, "Day simulation")


# --- priority-weighted time to site: a free qualified technician does not watch a job wait ----------------------

FROM_NOW = Params(balance_per_s=0, time_to_site_window_s=None)  # the term alone, every second of wait counts


def _queue_or_send(second_tech_km: float, params: Params = FROM_NOW) -> Problem:
    # Both jobs lie next to t1 and both fit the 2-hour target on t1's route one after the other (km alone says:
    # t1 does both). t2 is free and qualified, ``second_tech_km`` away.
    jobs = (job("A", 1.0), job("B", 1.5))
    return Problem(NOW, jobs, (tech("t1", 0.0), tech("t2", second_tech_km)), params=params)


def test_time_to_site_binding_sends_the_free_technician_instead_of_queueing() -> None:
    plan = solved(_queue_or_send(6.0))
    assert len(order(plan, "t1")) == 1 and len(order(plan, "t2")) == 1


def test_time_to_site_not_binding_when_the_free_technician_is_far_beyond_the_wait() -> None:
    plan = solved(_queue_or_send(60.0))  # 2 x 2 h of driving for a 30-minute wait: queueing is right
    assert sorted(order(plan, "t1")) == ["A", "B"] and order(plan, "t2") == []


def test_without_the_term_the_optimiser_queues_on_one_route() -> None:
    """What issue #14 saw in the demo: minimising km alone parks work on one route while t2 is free."""
    p = _queue_or_send(6.0)
    plan = solved(Problem(p.now, p.jobs, p.technicians, params=ISOLATED))
    assert sorted(order(plan, "t1")) == ["A", "B"] and order(plan, "t2") == []


# --- weights by tier and severity --------------------------------------------------------------------------

def _two_sides(tier_far: str, priority_far: int = 1) -> Problem:
    # Same km either way round (home in the middle); the nearer job first waits least in total, unless the
    # farther one weighs more.
    # The term counted from now (FROM_NOW, the default; with a window both 2-hour targets are far from threatened
    # and km alone decide; the weights act on the same pull once a wait reaches the window).
    jobs = (job("near", 2.0, tier="standard"), job("far", -3.0, tier=tier_far, priority=priority_far))
    return Problem(NOW, jobs, (tech("t", 0.0),), params=FROM_NOW)


def test_tier_weight_binding_serves_the_key_account_first() -> None:
    assert order(solved(_two_sides("key")), "t") == ["far", "near"]


def test_severity_weight_binding_serves_the_critical_job_first() -> None:
    assert order(solved(_two_sides("standard", priority_far=2)), "t") == ["far", "near"]


def test_weights_not_binding_between_equals_serves_the_nearer_first() -> None:
    assert order(solved(_two_sides("standard")), "t") == ["near", "far"]


# --- lateness past the service target (deadline far away) ----------------------------------------------------

def _target_problem(target_b: float) -> Problem:
    # A lies on the way to B and the technician's home beyond B: distance says A first; B's service target
    # soon says B first. B's contract deadline is a day away (an office-hours contract at night): only the
    # target can bind.
    jobs = (job("A", 2, duration_s=3600.0),
            job("B", 4, onsite_target=target_b, onsite_deadline=NOW + 24 * 3600))
    return Problem(NOW, jobs, (tech("t", 0, home=at(5)),), params=ISOLATED)


def test_target_binding_reorders_although_the_deadline_is_far() -> None:
    assert order(solved(_target_problem(NOW + 1800)), "t") == ["B", "A"]


def test_target_not_binding_keeps_shortest_order() -> None:
    assert order(solved(_target_problem(NOW + 4 * 3600)), "t") == ["A", "B"]


# --- steeper past the contract deadline ----------------------------------------------------------------------

def _deadline_problem(deadline_y: float) -> Problem:
    # Both targets are missed whichever goes first and X (nearer) first misses them least; Y's contract
    # deadline, if close, must win over that.
    target = NOW + 20 * 60
    jobs = (job("X", 2.0, onsite_target=target, onsite_deadline=NOW + 4 * 3600),
            job("Y", -2.5, onsite_target=target, onsite_deadline=deadline_y))
    return Problem(NOW, jobs, (tech("t", 0),), params=ISOLATED)


def test_deadline_binding_serves_the_job_whose_contract_would_break() -> None:
    assert order(solved(_deadline_problem(NOW + 25 * 60)), "t") == ["Y", "X"]


def test_deadline_not_binding_leaves_the_order_to_the_targets() -> None:
    assert order(solved(_deadline_problem(NOW + 4 * 3600)), "t") == ["X", "Y"]


def test_deadline_costs_more_than_the_target_and_merges_when_they_coincide() -> None:
    p = Params()
    k = p.cost_units_per_s  # every coefficient is in cost units (k per driving second)
    pull = round(k * p.time_to_site_per_s * 2)
    apart = job("j", 1.0, onsite_target=NOW + 7200, onsite_deadline=NOW + 3 * 3600)
    (bound, coeff), extra = arrival_costs(apart, 2, NOW, p)
    assert (bound, coeff) == (7200 - 900, k * p.lateness_per_s * 2)
    assert extra == [(0, pull), (3 * 3600 - 900, k * p.deadline_lateness_per_s * 2)]
    same = job("j", 1.0, onsite_target=NOW + 7200, onsite_deadline=NOW + 7200)
    (bound, coeff), extra = arrival_costs(same, 2, NOW, p)
    assert coeff == k * (p.lateness_per_s + p.deadline_lateness_per_s) * 2 and extra == [(0, pull)]


# --- balance across technicians ------------------------------------------------------------------------------

def _balance_problem(second_tech_km: float, balance: int = 1) -> Problem:  # the knob is off by default
    # Two jobs 1 km north and 1 km east of t1: one route is shorter (km), two routes end the day earlier.
    jobs = (job("N", 0.0, location=at(0.0, 1.0)), job("E", 1.0))
    return Problem(NOW, jobs, (tech("t1", 0.0), tech("t2", second_tech_km)),
                   params=Params(time_to_site_per_s=0, balance_per_s=balance))


def test_balance_binding_splits_the_work() -> None:
    plan = solved(_balance_problem(0.0))
    assert len(order(plan, "t1")) == 1 and len(order(plan, "t2")) == 1


def test_balance_not_binding_when_splitting_makes_the_longest_day_longer() -> None:
    plan = solved(_balance_problem(60.0))
    assert sorted(order(plan, "t1")) == ["E", "N"] and order(plan, "t2") == []


# --- cost units per driving second: a time-to-site weight below one driving second per second ---------------

def test_cost_units_scale_every_term_alike_so_the_plan_does_not_change() -> None:
    base = _queue_or_send(6.0)
    one = solved(base, solution_limit=50)
    four = solved(Problem(base.now, base.jobs, base.technicians,
                          params=dataclasses.replace(base.params, cost_units_per_s=4)), solution_limit=50)
    assert {t: order(one, t) for t in one.routes} == {t: order(four, t) for t in four.routes}
    assert four.objective == one.objective


def test_fractional_time_to_site_binding_queues_where_a_whole_second_would_send() -> None:
    # t2 is 7.5 km away (~12 min from B, there and home again): at 1/s x weight 2 (standard) B's ~33-min wait
    # behind A costs more than t2's drive and wait; at 0.25/s (half a driving second per second of wait) it does
    # not, and t1 does both.
    base = _queue_or_send(7.5, dataclasses.replace(FROM_NOW, time_to_site_per_s=1.0))
    whole = solved(base)
    quarter = solved(Problem(base.now, base.jobs, base.technicians,
                             params=Params(balance_per_s=0, time_to_site_per_s=0.25, cost_units_per_s=4,
                                           time_to_site_window_s=None)))
    assert len(order(whole, "t1")) == 1 and len(order(whole, "t2")) == 1
    assert sorted(order(quarter, "t1")) == ["A", "B"] and order(quarter, "t2") == []


# --- the time-to-site window (knob, off by default): the pull starts WINDOW_S before the target ------------------


def _windowed(target_in_s: float) -> Problem:
    """The queue-or-send choice with the window on: B waits ~33 min behind A on t1's route."""
    base = _queue_or_send(6.0, Params(balance_per_s=0, time_to_site_window_s=WINDOW_S))
    jobs = tuple(dataclasses.replace(j, onsite_target=NOW + target_in_s, onsite_deadline=NOW + 24 * 3600)
                 for j in base.jobs)
    return Problem(NOW, jobs, base.technicians, params=base.params)


def test_time_to_site_window_binding_sends_the_free_technician_when_the_wait_threatens_the_target() -> None:
    # Target 55 min away: B queued behind A arrives after ~33 min, before the lateness bound (target - 15 min),
    # so no lateness either way; only the window's pull (from target - 45 min = 10 min from now) sends t2.
    plan = solved(_windowed(55 * 60.0))
    assert len(order(plan, "t1")) == 1 and len(order(plan, "t2")) == 1


def test_time_to_site_window_not_binding_well_inside_the_target() -> None:
    plan = solved(_windowed(2 * 3600.0))  # B's arrival ~33 min after a 2-hour target opened: km decide
    assert sorted(order(plan, "t1")) == ["A", "B"] and order(plan, "t2") == []


def test_time_to_site_window_starts_the_piece_before_the_target() -> None:
    p = Params(time_to_site_window_s=WINDOW_S)
    j = job("j", 1.0, onsite_target=NOW + 7200, onsite_deadline=NOW + 7200)
    _, extra = arrival_costs(j, 2, NOW, p)
    assert extra == [(7200 - int(WINDOW_S), round(p.cost_units_per_s * p.time_to_site_per_s * 2))]
    late = job("j", 1.0, onsite_target=NOW + 600, onsite_deadline=NOW + 600)  # already inside the window
    assert arrival_costs(late, 2, NOW, p)[1][0][0] == 0
