from datetime import UTC, datetime, timedelta

import pytest

from planning.escalation import InvalidEscalation, clock, next_status, respond_due, telemetry_evidence

T = datetime(2026, 1, 5, 10, tzinfo=UTC)


def test_each_tier_has_its_own_response_clock_and_key_accounts_get_faster_answers() -> None:
    assert respond_due(2, T) == T + timedelta(minutes=30)
    assert respond_due(3, T) == T + timedelta(hours=4)
    assert respond_due(2, T, "key") == T + timedelta(minutes=15)
    with pytest.raises(InvalidEscalation):
        respond_due(1, T)


def test_lifecycle_acknowledge_then_resolve_or_escalate_but_not_past_engineering() -> None:
    assert next_status("open", 2, "acknowledge") == "acknowledged"
    assert next_status("acknowledged", 2, "escalate") == "escalated"
    assert next_status("open", 3, "resolve") == "resolved"
    for status, tier, action in (("resolved", 2, "resolve"), ("acknowledged", 2, "acknowledge"),
                                 ("open", 3, "escalate"), ("open", 2, "delete")):
        with pytest.raises(InvalidEscalation):
            next_status(status, tier, action)


def test_clock_states() -> None:
    due = T + timedelta(minutes=30)
    assert clock(due, None, T)["state"] == "running"
    assert clock(due, None, T + timedelta(minutes=25))["state"] == "due_soon"
    assert clock(due, None, T + timedelta(minutes=31))["state"] == "breached"
    assert clock(due, T + timedelta(minutes=5), T + timedelta(hours=2))["state"] == "met"
    assert clock(due, T + timedelta(minutes=45), T + timedelta(hours=2))["state"] == "late"


def test_telemetry_evidence_groups_by_signal() -> None:
    ev = telemetry_evidence([(T, "vib", 1.0), (T, "temp", 40.0), (T + timedelta(seconds=10), "vib", 1.5)])
    assert ev == {"vib": [[T.isoformat(), 1.0], [(T + timedelta(seconds=10)).isoformat(), 1.5]],
                  "temp": [[T.isoformat(), 40.0]]}
