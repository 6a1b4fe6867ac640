"""Preventive visits must not cost the 2-hour promise: the gate in front of the optimiser (preventive.admit_preventive,
its queueing model and arrival-rate estimate) and the visits' own drop penalty in the model (encoding)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from dispatch import Job, Location, Plan, Problem, Stop, Technician, check_plan, solve
from dispatch.encoding import COMMITTED_PENALTY, REASON_CAPACITY, drop_penalty
from dispatch.models import Params
from dispatch.preventive import (
    PREVENTIVE_LOOKAHEAD_S,
    PREVENTIVE_START_S,
    REASON_PREVENTIVE_LATER,
    REASON_PREVENTIVE_LOAD,
    REASON_PREVENTIVE_SKILL,
    WAIT_RISK,
    admit_preventive,
    emergency_rate,
    erlang_c,
    preemptions,
    preventive_fields,
    wait_risk,
)
from dispatch.travel import StraightLineProvider

NOW = datetime(2026, 1, 1, 10, 0, tzinfo=UTC).timestamp()  # no rush hour
H = 3600.0
HERE = Location(51.9, 4.40)


def tech(i: int, state: str = "free", skills: tuple[str, ...] = ("mechanical",), end_h: float = 7.0) -> Technician:
    return Technician(f"T{i}", frozenset(skills), HERE, HERE, NOW - 2 * H, NOW + end_h * H,
                      state=state, busy_until=NOW + H if state == "on_site" else None)  # type: ignore[arg-type]


def emergency(i: int, skill: str = "mechanical", by: str | None = None) -> Job:
    return Job(f"E{i}", Location(51.9 + i * 0.01, 4.45), frozenset({skill}), 3600.0, created_at=NOW - 600,
               onsite_deadline=NOW + 6600, in_progress_by=by)


def visit(i: int, lo: float = NOW, hi: float = NOW + 2 * 86400, skill: str = "mechanical", by: str | None = None,
          minutes: float = 60) -> Job:
    fields = preventive_fields(lo, hi, NOW, committed=by is not None)
    return Job(f"V{i}", Location(51.95, 4.42 + i * 0.01), frozenset({skill}), minutes * 60, created_at=NOW - 86400,
               in_progress_by=by, **fields)


def ids(problem: Problem) -> list[str]:
    return [j.id for j in problem.jobs]


# --- queueing model ------------------------------------------------------------------------------------------------

def test_erlang_c_matches_the_closed_form_and_its_edges() -> None:
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # B(2,1) = 0.2; C = 0.2 / (1 - 0.5 * 0.8)
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = utilisation
    assert erlang_c(5, 5.0) == 1.0 and erlang_c(4, 6.0) == 1.0  # unstable: everyone waits
    assert erlang_c(3, 0.0) == 0.0
    assert erlang_c(20, 14.0) < erlang_c(19, 14.0) < erlang_c(18, 14.0)


def test_wait_risk_grows_with_every_technician_taken_and_vanishes_without_arrivals() -> None:
    risks = [wait_risk(c, 10.0, 1.4) for c in range(20, 14, -1)]
    assert risks == sorted(risks) and risks[0] < WAIT_RISK < risks[-1]
    assert wait_risk(20, 0.0, 1.4) == 0.0 and wait_risk(0, 0.0, 1.4) == 0.0
    assert wait_risk(14, 10.0, 1.4) == 1.0  # load 14 Erlangs on 14 technicians: the queue never empties
    # M/M/1 tail: P(W > t) = rho * exp(-(mu - lambda) t)
    assert wait_risk(1, 0.5, 1.0, wait_h=2.0) == pytest.approx(0.5 * math.exp(-1.0))


def test_emergency_rate_observed_without_forecast_and_scaled_forecast_with_one() -> None:
    arrivals = [NOW - 3 * H, NOW - 1.5 * H, NOW - H, NOW - 0.5 * H, NOW - 60]
    assert emergency_rate(NOW, H, arrivals) == pytest.approx(2.0)  # 4 in the last 2 h; the older one is out
    assert emergency_rate(NOW, H, arrivals + [NOW + 60]) == pytest.approx(2.0)  # the future is not observed

    def flat(per_h: float, until: float = math.inf):
        return lambda a, b: per_h * max(0.0, min(b, until) - a) / H

    busy = [NOW - k * 240 for k in range(28)]  # 28 in 2 h against 20 forecast: a day 40 % busier
    assert emergency_rate(NOW, 2 * H, busy, flat(10)) == pytest.approx(14.0)
    assert emergency_rate(NOW, 2 * H, arrivals, flat(10)) == pytest.approx(10.0)  # quieter: not scaled down
    assert emergency_rate(NOW, 2 * H, busy, flat(10, until=NOW)) == 0.0  # forecast: arrivals have stopped
    assert emergency_rate(NOW, H, busy, lambda a, b: 0.0) == 0.0  # no past forecast to compare with: forecast


# --- the gate ------------------------------------------------------------------------------------------------------

def test_quiet_hour_admits_visits_in_window_order_and_holds_those_not_open_yet() -> None:
    p = Problem(NOW, (visit(2, hi=NOW + 2 * 86400), visit(1, hi=NOW + 86400), visit(3, lo=NOW + 86400)),
                tuple(tech(i) for i in range(5)))
    kept, deferred = admit_preventive(p)
    assert ids(kept) == ["V2", "V1"] and deferred == {"V3": REASON_PREVENTIVE_LATER}
    assert kept.technicians == p.technicians and kept.now == p.now
    for j in kept.jobs:  # offered for today: window capped at the look-ahead, a soft start 30 min out
        assert j.window == (NOW, NOW + PREVENTIVE_LOOKAHEAD_S) and j.onsite_deadline == NOW + PREVENTIVE_START_S


def test_waiting_emergencies_and_expected_arrivals_keep_technicians_free() -> None:
    techs = tuple(tech(i) for i in range(5))
    visits = (visit(1, hi=NOW + 86400), visit(2, hi=NOW + 2 * 86400))
    kept, deferred = admit_preventive(Problem(NOW, (emergency(1), emergency(2), emergency(3), *visits), techs))
    assert ids(kept) == ["E1", "E2", "E3", "V1", "V2"] and not deferred  # 5 free: 3 emergencies + 2 visits
    kept, deferred = admit_preventive(Problem(NOW, (emergency(1), emergency(2), emergency(3), emergency(4),
                                                    *visits), techs))
    assert ids(kept) == ["E1", "E2", "E3", "E4", "V1"]  # the visit due first takes the last spare technician
    assert deferred == {"V2": REASON_PREVENTIVE_LOAD}
    # One emergency an hour seen (1.4 Erlangs): 4 technicians left after one visit wait > 1 h with 0.9 %
    # probability, 3 after two with 6.5 % (above WAIT_RISK): one visit.
    kept, deferred = admit_preventive(Problem(NOW, (emergency(1), emergency(2), emergency(3), *visits), techs),
                                      [NOW - 1800, NOW - 5400])
    assert ids(kept) == ["E1", "E2", "E3", "V1"] and deferred == {"V2": REASON_PREVENTIVE_LOAD}


def test_expected_load_defers_visits_even_with_free_technicians() -> None:
    techs = tuple(tech(i) for i in range(20))
    visits = tuple(visit(i) for i in range(4))

    def per_hour(rate: float):
        return lambda a, b: rate * (b - a) / H

    # 20 free now, but 13 emergencies an hour of ~1.5 h each is ~20 Erlangs: no technician to spare.
    kept, deferred = admit_preventive(Problem(NOW, visits, techs), [], per_hour(13))
    assert ids(kept) == [] and set(deferred.values()) == {REASON_PREVENTIVE_LOAD}
    # 5 an hour (7.5 Erlangs): the queue model allows the 4 visits (16 technicians for 7.5 Erlangs).
    kept, deferred = admit_preventive(Problem(NOW, visits, techs), [], per_hour(5))
    assert len(kept.jobs) == 4 and not deferred
    # Without a forecast the live loop's observed rate does the same: 26 emergencies in the last 2 h.
    kept, _ = admit_preventive(Problem(NOW, visits, techs), [NOW - k * 270 for k in range(26)])
    assert ids(kept) == []


def test_visits_in_progress_count_as_technicians_away_and_always_stay() -> None:
    techs = tuple(tech(i) for i in range(12))
    busy = (visit(9, by="T0"), visit(8, by="T1"))
    arrivals = [NOW - k * 720 for k in range(10)]  # 5 an hour: 7.5 Erlangs with the default handling time
    kept, _ = admit_preventive(Problem(NOW, (visit(1),), techs), arrivals)
    assert ids(kept) == ["V1"]  # 11 technicians left for 7.5 Erlangs: P(wait > 45 min) 3 %
    kept, deferred = admit_preventive(Problem(NOW, (*busy, visit(1)), techs), arrivals)
    assert ids(kept) == ["V9", "V8"] and deferred == {"V1": REASON_PREVENTIVE_LOAD}  # 9 left: 24 %


def test_visit_needs_a_free_qualified_technician_with_shift_left_beyond_waiting_emergencies() -> None:
    techs = (tech(0, skills=("mechanical", "electrical")), tech(1), tech(2), tech(3, end_h=1.0))
    kept, deferred = admit_preventive(Problem(NOW, (visit(1, skill="hvac"),), techs))
    assert deferred == {"V1": REASON_PREVENTIVE_SKILL}  # nobody has the skill
    kept, deferred = admit_preventive(Problem(NOW, (emergency(1, "electrical"), visit(2, skill="electrical")),
                                              techs))
    assert deferred == {"V2": REASON_PREVENTIVE_SKILL}  # the one electrician is needed by the emergency
    only_late = (tech(0, end_h=1.0), tech(1, state="on_site"))
    kept, deferred = admit_preventive(Problem(NOW, (visit(3, minutes=45),), only_late))
    assert deferred == {"V3": REASON_PREVENTIVE_SKILL}  # 1 h of shift left < 45 min on site + 30 min driving
    kept, deferred = admit_preventive(Problem(NOW, (visit(3, minutes=20),), only_late))
    assert ids(kept) == ["V3"] and not deferred


# --- the visits' place in the optimiser's objective --------------------------------------------------------------

def test_drop_penalty_puts_every_emergency_above_every_visit() -> None:
    p = Params()
    visits = [visit(1), Job("V", HERE, tier="key", priority=2, preventive=True)]  # tier does not lift a visit
    emergencies = [Job(f"E{t}", HERE, tier=t, priority=1) for t in ("key", "gold", "standard", "bronze")]
    worst_visit = max(drop_penalty(v, None, p.drop_penalty_s, p.preventive_drop_penalty_s) for v in visits)
    cheapest = min(drop_penalty(e, None, p.drop_penalty_s, p.preventive_drop_penalty_s) for e in emergencies)
    assert worst_visit == p.preventive_drop_penalty_s < cheapest == p.drop_penalty_s
    assert drop_penalty(visits[0], "T1", p.drop_penalty_s, p.preventive_drop_penalty_s) == COMMITTED_PENALTY
    # A visit is worth less than a quarter hour of a bronze emergency's lateness (10/s): dropped first.
    assert p.preventive_drop_penalty_s < p.lateness_per_s * 15 * 60


def _squeeze(preventive: bool) -> tuple[Problem, Job, Job]:
    """One technician; a visit at their door whose window closes in 30 min, an emergency ~78 min's drive away
    due in 2 h: doing the visit first (60 min) would put the emergency on site ~18 min late."""
    far = Location(51.9, 4.40 + 40 / 68.7)  # 40 km east: 52 road km at 40 km/h
    e = Job("E", far, duration_s=3600.0, tier="bronze", created_at=NOW, onsite_deadline=NOW + 2 * H)
    v = Job("V", HERE, duration_s=3600.0, tier="bronze", created_at=NOW - 86400, window=(NOW, NOW + 1800),
            onsite_deadline=NOW + 1800, preventive=preventive)
    return Problem(NOW, (e, v), (tech(0),)), e, v


def test_optimiser_drops_a_visit_rather_than_let_an_emergency_run_late() -> None:
    problem, e, _ = _squeeze(preventive=True)
    plan = solve(problem, 0.5, solution_limit=200)
    assert check_plan(problem, plan) == []
    (stop,) = plan.routes["T0"]
    assert stop.job_id == "E" and stop.start <= e.onsite_deadline  # type: ignore[operator]
    assert plan.dropped == {"V": REASON_CAPACITY}
    # The same visit weighted like a bronze emergency (the previous encoding) is served and the emergency is late.
    problem, e, _ = _squeeze(preventive=False)
    plan = solve(problem, 0.5, solution_limit=200)
    served = {s.job_id: s for s in plan.routes["T0"]}
    assert set(served) == {"E", "V"} and served["E"].start > e.onsite_deadline  # type: ignore[operator]


# --- preemption: a visit in progress gives way to an emergency nobody else reaches in time ----------------------

def _stop(job: str, eta: float) -> Stop:
    return Stop("job", job, None, (), eta, eta, eta + 3600)


def _on_visit(i: int, at: Location, skills: tuple[str, ...] = ("mechanical",)) -> Technician:
    return Technician(f"T{i}", frozenset(skills), at, at, NOW - 2 * H, NOW + 7 * H, state="on_site",
                      busy_until=NOW + 3 * H)


def test_emergency_late_in_the_plan_takes_the_nearest_qualified_technician_off_a_visit() -> None:
    near, far = Location(51.9, 4.46), Location(52.6, 5.4)  # ~5 km and ~100 km from the emergency at (51.9, 4.45)
    techs = (_on_visit(1, far), _on_visit(2, near), _on_visit(3, near, ("hvac",)), tech(4, state="on_site"))
    jobs = (emergency(1), visit(1, by="T1"), visit(2, by="T2"), visit(3, by="T3"), emergency(9, by="T4"))
    problem = Problem(NOW, jobs, techs)
    late = Plan({"T4": (_stop("E9", NOW), _stop("E1", NOW + 3 * H))}, {})
    (pre,) = preemptions(problem, late, StraightLineProvider())
    assert (pre.visit_id, pre.technician_id, pre.emergency_id) == ("V2", "T2", "E1")  # T3 lacks the skill
    assert pre.position == near
    dropped = Plan({"T4": (_stop("E9", NOW),)}, {"E1": REASON_CAPACITY})
    assert [p.visit_id for p in preemptions(problem, dropped, StraightLineProvider())] == ["V2"]
    on_time = Plan({"T4": (_stop("E9", NOW), _stop("E1", NOW + H))}, {})
    assert preemptions(problem, on_time, StraightLineProvider()) == []  # someone else makes it: the visit stays
    only_far = Problem(NOW, (emergency(1), visit(1, by="T1")), (techs[0],))
    assert preemptions(only_far, dropped, StraightLineProvider()) == []  # too far to help: no point pulling them


def test_each_visit_technician_is_pulled_for_one_emergency_earliest_deadline_first() -> None:
    here = Location(51.9, 4.46)
    first = Job("E1", Location(51.91, 4.45), frozenset({"mechanical"}), created_at=NOW - 3000,
                onsite_deadline=NOW + 4200)
    second = Job("E2", Location(51.92, 4.45), frozenset({"mechanical"}), created_at=NOW - 600,
                 onsite_deadline=NOW + 6600)
    problem = Problem(NOW, (second, first, visit(1, by="T1")), (_on_visit(1, here),))
    pulled = preemptions(problem, Plan({}, {"E1": REASON_CAPACITY, "E2": REASON_CAPACITY}), StraightLineProvider())
    assert [(p.visit_id, p.emergency_id) for p in pulled] == [("V1", "E1")]
    no_visit = Problem(NOW, (first,), (tech(1, state="on_site"),))
    assert preemptions(no_visit, Plan({}, {"E1": REASON_CAPACITY}), StraightLineProvider()) == []


def test_encoding_gives_an_admitted_visit_a_gentle_start_target_and_an_emergency_its_promise() -> None:
    from dispatch.encoding import encode

    p = Params()
    kept, _ = admit_preventive(Problem(NOW, (emergency(1, "mechanical"), visit(1)), (tech(0), tech(1))))
    enc = encode(kept, StraightLineProvider())
    (e_node,), (v_node,) = enc.job_nodes["E1"], enc.job_nodes["V1"]
    k = p.cost_units_per_s  # coefficients in cost units
    assert enc.data.soft_deadlines[v_node] == (int(PREVENTIVE_START_S), k * p.preventive_lateness_per_s)
    # standard tier (weight 2): its deadline is its target here, so both lateness terms sit on one bound
    assert enc.data.soft_deadlines[e_node][1] == k * (p.lateness_per_s + p.deadline_lateness_per_s) * 2
    assert v_node not in enc.data.site_costs  # a visit has no time-to-site pull, only its gentle start target
    penalties = {tuple(nodes): pen for nodes, pen in enc.data.disjunctions}
    assert penalties[(v_node,)] == k * p.preventive_drop_penalty_s and penalties[(e_node,)] == k * p.drop_penalty_s * 2
