"""The on-site and repair KPIs on a paused clock (docs/kpis.md, "Paused clocks"): pure, hand-fed facts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from kpis import definitions as d
from kpis.models import IncidentFacts, Promise, Visit

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
PROMISE = Promise()


def incident(arrived_h: float | None, resolved_h: float | None = None, pauses=(), windows=()) -> IncidentFacts:
    at = lambda h: None if h is None else T0 + timedelta(hours=h)
    visit = Visit(1, 1, 1, "completed" if resolved_h else "on_site", (), T0, None, at(arrived_h),
                  at(resolved_h), "fixed" if resolved_h else None)
    s = lambda h: T0.timestamp() + h * 3600
    return IncidentFacts(1, 1, "r", "standard", "telemetry", T0, T0 + timedelta(hours=2), at(resolved_h), False,
                         T0, (visit,), tuple((s(a), s(b) if b is not None else math.inf) for a, b in pauses),
                         tuple((s(a), s(b)) for a, b in windows))


NOW = T0 + timedelta(days=2)


def test_without_pauses_nothing_changes() -> None:
    assert d.onsite_2h(incident(2.5), PROMISE, NOW) is False
    assert d.onsite_2h(incident(1.5), PROMISE, NOW) is True
    assert d.repaired_24h(incident(1, 25), PROMISE, NOW) is False


def test_paused_time_is_not_counted_when_the_contract_allows_it() -> None:
    held = incident(2.5, 25, pauses=[(0.5, 1.5)])  # an hour on hold: 1.5 h of clock to site, 24 h to repair
    assert d.onsite_2h(held, PROMISE, NOW) is True
    assert d.onsite_contract(held, NOW) is True
    assert d.repaired_24h(held, PROMISE, NOW) is True
    # a pause after the arrival does not help the on-site clock
    assert d.onsite_2h(incident(2.5, pauses=[(3, 4)]), PROMISE, NOW) is False


def test_a_running_hold_stops_the_clock_so_the_miss_is_not_judged_yet() -> None:
    running = incident(None, pauses=[(1.0, None)])  # on hold since 1 h, still waiting
    assert d.onsite_2h(running, PROMISE, T0 + timedelta(hours=10)) is None
    assert d.onsite_2h(incident(None), PROMISE, T0 + timedelta(hours=10)) is False


def test_arriving_inside_the_customers_window_is_on_time() -> None:
    # rescheduled at 0.5 h to the window 5-8 h; paused until it opened; arrived at 7.5 h (clock: 3 h)
    booked = incident(7.5, pauses=[(0.5, 5)], windows=[(5, 8)])
    assert d.onsite_2h(booked, PROMISE, NOW) is True
    assert d.onsite_contract(booked, NOW) is True
    late = incident(8.5, pauses=[(0.5, 5)], windows=[(5, 8)])  # after the window: clock 4 h
    assert d.onsite_2h(late, PROMISE, NOW) is False
