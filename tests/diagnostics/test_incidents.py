"""Incident state machine: open, dedup, escalate, auto-resolve, flapping, lifecycle, SLA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from diagnostics import (
    FaultHypothesis,
    Finding,
    IncidentPolicy,
    IncidentState,
    InvalidTransition,
    ServiceTargets,
    SlaDeadlines,
    contract_targets,
    service_clocks,
    sla_class,
)
from diagnostics.incidents import step, transition

POLICY = IncidentPolicy(min_confidence=0.4, resolve_after_s=900, flap_window_s=3600)


def hyp(mode="seal_leak", conf=0.8, sev=2, at=0.0):
    f = Finding("p1", "model", ("flow_lpm",), "model_deviation", sev, at, at, 2.0, {})
    return FaultHypothesis(mode, conf, {"signals": ["flow_lpm"]}, (f,))


def run(seq, state=None):
    """seq: list of (now, [hypotheses]); returns final state and all event kinds."""
    state = state or IncidentState()
    kinds = []
    for now, hs in seq:
        state, ev = step(state, "p1", hs, now, POLICY)
        kinds += [e.kind for e in ev]
    return state, kinds


def test_open_once_and_dedup():
    state, kinds = run([(0, [hyp()]), (60, [hyp()]), (120, [hyp()])])
    assert kinds == ["opened"]
    assert len(state.incidents) == 1 and state.incidents[0].state == "detected"


def test_low_confidence_ignored_and_modes_separate():
    state, kinds = run([(0, [hyp(conf=0.3)]), (10, [hyp("bearing_wear"), hyp("seal_leak")])])
    assert kinds == ["opened", "opened"]
    assert {i.mode for i in state.incidents} == {"bearing_wear", "seal_leak"}


def test_escalation_on_severity_rise_only():
    state, kinds = run([(0, [hyp(sev=1)]), (60, [hyp(sev=2)]), (120, [hyp(sev=1)]), (180, [hyp(sev=3)])])
    assert kinds == ["opened", "escalated", "escalated"]
    assert state.incidents[0].severity == 3


def test_update_on_confidence_change():
    _, kinds = run([(0, [hyp(conf=0.5)]), (60, [hyp(conf=0.55)]), (120, [hyp(conf=0.9)])])
    assert kinds == ["opened", "updated"]


def test_auto_resolve_after_quiet_period():
    state, kinds = run([(0, [hyp()]), (500, []), (899, [])])
    assert kinds == ["opened"]
    state, kinds = run([(900, [])], state)
    assert kinds == ["auto_resolved"] and state.incidents[0].state == "closed"


def test_flapping_reopens_same_incident():
    state, kinds = run([(0, [hyp()]), (900, []), (1500, [hyp()]), (2400, []), (3000, [hyp()])])
    assert kinds == ["opened", "auto_resolved", "reopened", "auto_resolved", "reopened"]
    assert len(state.incidents) == 1
    inc = state.incidents[0]
    assert inc.flapping and inc.reopen_count == 2 and inc.state == "detected"


def test_recurrence_after_flap_window_is_new_incident():
    state, kinds = run([(0, [hyp()]), (900, []), (900 + 3601, [hyp()])])
    assert kinds == ["opened", "auto_resolved", "opened"] and len(state.incidents) == 2


def test_lifecycle_remote_fix_success_and_failure():
    state, _ = run([(0, [hyp()])])
    iid = state.incidents[0].id
    s1, ev = transition(state, iid, "remote_fix_attempted", 10, {"command": "reset"})
    assert ev.detail == {"from": "detected", "to": "remote_fix_attempted", "command": "reset"}
    ok, _ = transition(s1, iid, "resolved_remote", 20)
    assert ok.get(iid).state == "resolved_remote" and ok.get(iid).resolved_at == 20
    s2, _ = transition(s1, iid, "work_order", 30)
    s3, _ = transition(s2, iid, "resolved_onsite", 4000)
    s4, _ = transition(s3, iid, "closed", 4100)
    assert s4.get(iid).state == "closed"
    with pytest.raises(InvalidTransition):
        transition(s2, iid, "closed", 50)


def test_remote_fix_pending_auto_resolves_to_resolved_remote():
    state, _ = run([(0, [hyp()])])
    state, _ = transition(state, state.incidents[0].id, "remote_fix_attempted", 10)
    state, kinds = run([(1000, [])], state)
    assert kinds == ["auto_resolved"] and state.incidents[0].state == "resolved_remote"


def test_remote_fix_verified_beside_its_visit_resolves_remotely_but_an_onsite_one_cannot_go_back():
    state, _ = run([(0, [hyp()])])
    iid = state.incidents[0].id
    state, _ = transition(state, iid, "remote_fix_attempted", 10)
    state, _ = transition(state, iid, "work_order", 610)  # the decision window passed with the fault present
    ok, ev = transition(state, iid, "resolved_remote", 2000, {"visit_cancelled": 5})
    assert ok.get(iid).state == "resolved_remote" and ok.get(iid).resolved_at == 2000
    assert ev.detail == {"from": "work_order", "to": "resolved_remote", "visit_cancelled": 5}
    onsite, _ = transition(state, iid, "resolved_onsite", 3000)
    with pytest.raises(InvalidTransition):
        transition(onsite, iid, "resolved_remote", 3100)


def test_work_order_is_not_auto_resolved():
    state, _ = run([(0, [hyp()])])
    state, _ = transition(state, state.incidents[0].id, "work_order", 10)
    state, kinds = run([(5000, [])], state)
    assert kinds == [] and state.incidents[0].state == "work_order"


def test_contract_deadlines_come_from_the_given_row_and_low_severity_stretches_them():
    base = SlaDeadlines(10, 90, 720)  # a key contract's row (sla_tier_defaults or the contract's own columns)
    assert sla_class(3, base) == sla_class(2, base) == base
    assert sla_class(1, base) == SlaDeadlines(20, 180, 1440)


def test_service_targets_run_from_the_opening_and_deadlines_from_the_clock_start():
    opened = datetime(2026, 1, 3, 2, 0, tzinfo=UTC)  # Saturday night, outside office-hours coverage
    start = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)  # coverage opens Monday 07:00
    c = service_clocks(opened, start, 2, SlaDeadlines(15, 120, 1440), ServiceTargets())
    assert (c.response_target, c.onsite_target, c.repair_target) == (
        opened + timedelta(minutes=15), opened + timedelta(hours=2), opened + timedelta(hours=24))
    assert c.onsite_due == start + timedelta(hours=2) and c.onsite_due - c.onsite_target > timedelta(days=2)
    # severity 1 stretches the contract's deadline, never the organisation's promise
    low = service_clocks(opened, opened, 1, SlaDeadlines(15, 120, 1440), ServiceTargets())
    assert low.onsite_due == opened + timedelta(hours=4) and low.onsite_target == opened + timedelta(hours=2)


def test_a_contract_may_override_the_service_targets():
    org = ServiceTargets(15, 120, 1440)
    assert contract_targets(org) == org
    assert contract_targets(org, onsite_min=60, repair_h=8) == ServiceTargets(15, 60, 480)


def test_coverage_clock_start_waits_for_the_contracts_coverage_hours() -> None:
    from datetime import UTC, datetime, time

    from diagnostics.incidents import coverage_clock_start

    office = ([1, 2, 3, 4, 5], time(7), time(19))
    thu_night = datetime(2026, 1, 1, 1, 30, tzinfo=UTC)  # Thursday
    assert coverage_clock_start(thu_night, *office) == datetime(2026, 1, 1, 7, 0, tzinfo=UTC)
    inside = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    assert coverage_clock_start(inside, *office) == inside
    fri_evening = datetime(2026, 1, 2, 19, 0, tzinfo=UTC)  # end is exclusive: Monday 07:00
    assert coverage_clock_start(fri_evening, *office) == datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    sat = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
    assert coverage_clock_start(sat, [1, 2, 3, 4, 5, 6], time(6), time(22)) == sat  # gold: Saturdays covered
    always = ([1, 2, 3, 4, 5, 6, 7], time(0), time(23, 59, 59, 999999))
    assert coverage_clock_start(thu_night, *always) == thu_night
    assert coverage_clock_start(thu_night, None, None, None) == thu_night  # no contract
    assert coverage_clock_start(thu_night, [], time(7), time(19)) == thu_night  # no coverage days: no delay


def test_onset_is_the_earliest_finding_start_so_latency_counts_confirmation_time():
    early = Finding("p1", "threshold", ("temp_c",), "threshold", 2, 100.0, 160.0, 1.5, {})
    late = Finding("p1", "model", ("flow_lpm",), "model_deviation", 2, 130.0, 170.0, 2.0, {})
    h = FaultHypothesis("seal_leak", 0.8, {}, (late, early))
    state, events = step(IncidentState(), "p1", [h], 180.0, POLICY)
    assert events[0].kind == "opened" and events[0].incident.onset_at == 100.0
    state, _ = step(state, "p1", [], 1080.0, POLICY)  # closed after the quiet period
    reopen = Finding("p1", "threshold", ("temp_c",), "threshold", 2, 1500.0, 1560.0, 1.5, {})
    _, events = step(state, "p1", [FaultHypothesis("seal_leak", 0.8, {}, (reopen,))], 1570.0, POLICY)
    assert events[0].kind == "reopened" and events[0].incident.onset_at == 1500.0
