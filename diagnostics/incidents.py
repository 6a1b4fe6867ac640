"""Incident logic as a pure state machine: hypotheses over time in, incident events out.

Why pure: the same decisions must hold whether called from the live loop, a replay or a test, and the
service layer only has to persist ``IncidentState`` and act on the returned events. One open incident per
(asset, fault mode) deduplicates repeated detections; a quiet period before auto-resolve and reopening a
recently resolved incident (instead of opening a new one) suppress flapping.

Lifecycle: detected -> remote_fix_attempted -> resolved_remote | work_order -> resolved_onsite -> closed
(detected may also go straight to work_order, and an auto-resolved incident goes to closed). A remote fix is
given a short decision window before the visit is created (diagnostics/actions.py), and its verification goes
on beside the visit: work_order -> resolved_remote when the fix is verified before anyone set off (the visit
is cancelled: the "unfelt" service).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any

from diagnostics.models import FaultHypothesis

OPEN_STATES = frozenset({"detected", "remote_fix_attempted", "work_order"})
TRANSITIONS: dict[str, frozenset[str]] = {
    "detected": frozenset({"remote_fix_attempted", "work_order", "closed"}),
    "remote_fix_attempted": frozenset({"resolved_remote", "work_order"}),
    "resolved_remote": frozenset({"closed", "detected"}),
    "work_order": frozenset({"resolved_onsite", "resolved_remote"}),
    "resolved_onsite": frozenset({"closed"}),
    "closed": frozenset({"detected"}),
}


class InvalidTransition(ValueError):
    """A lifecycle step that the incident's current state does not allow."""


@dataclass(frozen=True)
class IncidentPolicy:
    min_confidence: float = 0.4  # weaker hypotheses are not worth an incident (classifier floor is 0.2)
    resolve_after_s: float = 900.0  # 15 min of normal before auto-resolve: longer than a load transient
    flap_window_s: float = 3600.0  # a recurrence within an hour of resolving is the same problem
    update_delta: float = 0.1  # confidence change that is worth an "updated" event


@dataclass(frozen=True)
class Incident:
    id: str
    asset_id: str
    mode: str
    state: str
    severity: int
    confidence: float
    opened_at: float
    updated_at: float
    last_abnormal_at: float
    resolved_at: float | None = None
    reopen_count: int = 0
    flapping: bool = False
    evidence: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # When the first finding behind the (re)opening began: "detection latency" is measured from here, because
    # the customer's problem started then, not when a detector's min-duration confirmation ran out.
    onset_at: float | None = None


def _onset(h: FaultHypothesis, now: float) -> float:
    return min((f.started_at for f in h.findings), default=now)


@dataclass(frozen=True)
class IncidentEvent:
    kind: str  # opened | updated | escalated | auto_resolved | reopened | transition
    incident: Incident
    at: float
    detail: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class IncidentState:
    incidents: tuple[Incident, ...] = ()

    def open_for(self, asset_id: str, mode: str) -> Incident | None:
        return next((i for i in self.incidents if i.asset_id == asset_id and i.mode == mode
                     and i.state in OPEN_STATES), None)

    def latest_for(self, asset_id: str, mode: str) -> Incident | None:
        same = [i for i in self.incidents if i.asset_id == asset_id and i.mode == mode]
        return max(same, key=lambda i: i.opened_at) if same else None

    def get(self, incident_id: str) -> Incident:
        for i in self.incidents:
            if i.id == incident_id:
                return i
        raise KeyError(incident_id)

    def with_incident(self, inc: Incident) -> IncidentState:
        return IncidentState(tuple(i for i in self.incidents if i.id != inc.id) + (inc,))


def _severity(h: FaultHypothesis) -> int:
    return max((f.severity for f in h.findings), default=1)


def step(state: IncidentState, asset_id: str, hypotheses: Sequence[FaultHypothesis], now: float,
         policy: IncidentPolicy = IncidentPolicy()) -> tuple[IncidentState, list[IncidentEvent]]:
    """Advance one asset's incidents given its current hypotheses (empty = looks normal)."""
    events: list[IncidentEvent] = []
    best: dict[str, FaultHypothesis] = {}
    for h in hypotheses:
        if h.confidence >= policy.min_confidence and (h.mode not in best or h.confidence > best[h.mode].confidence):
            best[h.mode] = h
    for mode, h in best.items():
        sev = _severity(h)
        cur = state.open_for(asset_id, mode)
        if cur is not None:
            upd = replace(cur, last_abnormal_at=now, updated_at=now, confidence=h.confidence,
                          severity=max(cur.severity, sev), evidence=h.evidence)
            if sev > cur.severity:
                events.append(IncidentEvent("escalated", upd, now, {"from": cur.severity, "to": sev}))
            elif abs(h.confidence - cur.confidence) >= policy.update_delta:
                events.append(IncidentEvent("updated", upd, now, {"confidence": h.confidence}))
            state = state.with_incident(upd)
            continue
        last = state.latest_for(asset_id, mode)
        if (last is not None and last.resolved_at is not None and last.state in ("closed", "resolved_remote")
                and now - last.resolved_at <= policy.flap_window_s):
            upd = replace(last, state="detected", updated_at=now, last_abnormal_at=now, resolved_at=None,
                          reopen_count=last.reopen_count + 1, flapping=True, severity=max(last.severity, sev),
                          confidence=h.confidence, evidence=h.evidence, onset_at=_onset(h, now))
            events.append(IncidentEvent("reopened", upd, now, {"reopen_count": upd.reopen_count}))
            state = state.with_incident(upd)
            continue
        inc = Incident(f"{asset_id}:{mode}:{int(now)}", asset_id, mode, "detected", sev, h.confidence, now, now, now,
                       evidence=h.evidence, onset_at=_onset(h, now))
        events.append(IncidentEvent("opened", inc, now))
        state = state.with_incident(inc)
    for inc in [i for i in state.incidents if i.asset_id == asset_id and i.state in ("detected", "remote_fix_attempted")
                and i.mode not in best]:
        if now - inc.last_abnormal_at >= policy.resolve_after_s:
            target = "resolved_remote" if inc.state == "remote_fix_attempted" else "closed"
            upd = replace(inc, state=target, resolved_at=now, updated_at=now)
            events.append(IncidentEvent("auto_resolved", upd, now, {"normal_for_s": now - inc.last_abnormal_at}))
            state = state.with_incident(upd)
    return state, events


def transition(state: IncidentState, incident_id: str, to: str, now: float,
               detail: dict[str, Any] | None = None) -> tuple[IncidentState, IncidentEvent]:
    """Explicit lifecycle step (remote fix sent, work order created, technician done, closed)."""
    inc = state.get(incident_id)
    if to not in TRANSITIONS.get(inc.state, frozenset()):
        raise InvalidTransition(f"{inc.state} -> {to} not allowed for {incident_id}")
    resolved = now if to in ("resolved_remote", "resolved_onsite", "closed") else inc.resolved_at
    upd = replace(inc, state=to, updated_at=now, resolved_at=resolved if to not in OPEN_STATES else None)
    return state.with_incident(upd), IncidentEvent("transition", upd, now, {"from": inc.state, "to": to,
                                                                            **(detail or {})})


@dataclass(frozen=True)
class SlaDeadlines:
    """Minutes from the clock start to response, on site and repaired. As contract deadlines they come from the
    contract row, else the ``sla_tier_defaults`` table (migration 0640), never from constants in code."""

    response_min: int
    on_site_min: int
    repair_min: int


@dataclass(frozen=True)
class ServiceTargets:
    """The organisation's service targets (settings ``service.*``; a contract's ``target_*`` columns override
    them). Counted from the incident's opening whatever the coverage hours: the promise holds 365 days a year,
    while a contract's deadlines may be longer and start when coverage opens."""

    response_min: int = 15
    on_site_min: int = 120
    repair_min: int = 24 * 60


@dataclass(frozen=True)
class ServiceClocks:
    """Both clocks of one corrective job, as absolute times: the targets the dispatcher aims at and the contract
    deadlines the customer may claim against."""

    response_target: datetime
    onsite_target: datetime
    repair_target: datetime
    response_due: datetime
    onsite_due: datetime
    repair_due: datetime


def contract_targets(org: ServiceTargets, response_min: int | None = None, onsite_min: int | None = None,
                     repair_h: int | None = None) -> ServiceTargets:
    """The organisation's targets with a contract's overrides (None: no override)."""
    return ServiceTargets(response_min or org.response_min, onsite_min or org.on_site_min,
                          repair_h * 60 if repair_h else org.repair_min)


def service_clocks(opened_at: datetime, clock_start: datetime, severity: int, deadlines: SlaDeadlines,
                   targets: ServiceTargets) -> ServiceClocks:
    """Targets from the opening, deadlines (by severity, ``sla_class``) from when the contract's clock starts."""
    d = sla_class(severity, deadlines)
    return ServiceClocks(opened_at + timedelta(minutes=targets.response_min),
                         opened_at + timedelta(minutes=targets.on_site_min),
                         opened_at + timedelta(minutes=targets.repair_min),
                         clock_start + timedelta(minutes=d.response_min),
                         clock_start + timedelta(minutes=d.on_site_min),
                         clock_start + timedelta(minutes=d.repair_min))


LOW_SEVERITY_FACTOR = 2  # severity-1 (no production impact) incidents get twice as long


# A contract covering at least one weekday opens within 8 days; beyond that (no coverage days) no delay is invented.
_COVERAGE_DAYS_AHEAD = 8


def coverage_clock_start(at: datetime, days: Sequence[int] | None, start: time | None,
                         end: time | None) -> datetime:
    """When the SLA clocks of an incident opened at ``at`` start under the covering contract's coverage hours
    (ISO weekdays, daily window, in ``at``'s time zone): ``at`` inside them or without a contract, else when
    coverage next opens. An office-hours contract does not promise a 2 a.m. visit. Same rule as
    ``planning.entitlements.clock_start`` (planning sits above diagnostics, so the rule is restated here).
    """
    if not days or start is None or end is None:
        return at
    if len(set(days)) == 7 and start == time(0) and end >= time(23, 59):
        return at  # 24x7
    if at.isoweekday() in days and start <= at.timetz().replace(tzinfo=None) < end:
        return at
    for ahead in range(_COVERAGE_DAYS_AHEAD):
        day = at.date() + timedelta(days=ahead)
        if day.isoweekday() not in days:
            continue
        opens = datetime.combine(day, start, tzinfo=at.tzinfo)
        if opens >= at:
            return opens
    return at


def sla_class(severity: int, base: SlaDeadlines) -> SlaDeadlines:
    """Contract deadlines in minutes from the clock start by severity (1..3): ``base`` is the contract's (or its
    tier default's) deadlines, which severity 1 (no production impact) stretches."""
    if severity <= 1:
        f = LOW_SEVERITY_FACTOR
        return SlaDeadlines(base.response_min * f, base.on_site_min * f, base.repair_min * f)
    return base
