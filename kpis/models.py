"""What the KPIs are computed from (raw timestamps, as the database holds them) and what they produce.

Facts are plain frozen rows so the definitions (kpis/definitions.py) are pure functions a test can feed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import ServiceSettings


@dataclass(frozen=True)
class Promise:
    """The organisation's service promise (settings ``kpis.*``): respond 15 min, on site 2 h, repaired 24 h."""

    response_min: int = 15
    onsite_min: int = 120
    repair_h: int = 24

    @classmethod
    def of(cls, targets: ServiceSettings) -> Promise:
        """The promise the settings' service targets (``settings.service``) make."""
        return cls(targets.response_min, targets.onsite_min, targets.repair_h)


@dataclass(frozen=True)
class Visit:
    """One work order (a visit) on an incident, with the technician's timestamps."""

    work_order_id: int
    incident_id: int
    technician_id: int | None
    status: str
    required_skills: tuple[str, ...]
    created_at: datetime
    departed_at: datetime | None
    arrived_at: datetime | None
    completed_at: datetime | None
    outcome: str | None  # fixed | wrong_part | wrong_diagnosis | not_fixed | None (running, or legacy = fixed)

    @property
    def fixed(self) -> bool:
        return self.completed_at is not None and self.status == "completed" and self.outcome in (None, "fixed")

    @property
    def started_at(self) -> datetime | None:
        """When the job stopped waiting: the technician set off (or, without an "on my way", arrived)."""
        return self.departed_at or self.arrived_at


@dataclass(frozen=True)
class IncidentFacts:
    incident_id: int
    customer_id: int
    region: str
    tier: str
    source: str
    opened_at: datetime
    onsite_due: datetime  # the contract's on-site deadline (not the promise)
    resolved_at: datetime | None  # set while the incident is resolved/closed: verified fixed
    remote_fix_verified: bool  # a remote fix was confirmed from telemetry
    responded_at: datetime | None  # first delivery of a plan/ETA notification, or a person's acknowledgement
    visits: tuple[Visit, ...] = ()
    # SLA pauses the contract allowed (work_order_pauses with pauses_sla, 0350): epoch (start, end); end is inf while
    # a hold runs. The on-site and repair clocks do not run inside them (docs/kpis.md, "Paused clocks").
    pauses: tuple[tuple[float, float], ...] = ()
    # Windows the customer chose (a reschedule whose contract pauses for it): arriving inside one is on time.
    windows: tuple[tuple[float, float], ...] = ()

    @property
    def needs_visit(self) -> bool:
        return any(v.status != "cancelled" for v in self.visits)

    @property
    def first_visit(self) -> Visit | None:
        arrived = sorted((v for v in self.visits if v.arrived_at is not None), key=lambda v: v.arrived_at)  # type: ignore[arg-type, return-value]
        return arrived[0] if arrived else None


@dataclass(frozen=True)
class TechnicianFacts:
    technician_id: int
    code: str
    region: str
    skills: frozenset[str]
    shift_start: time
    shift_end: time
    breaks: tuple[tuple[time, int], ...] = ()  # (local start, minutes)
    timezone: str | None = None  # the zone of the shift's times of day (None: the report's zone)


@dataclass(frozen=True)
class NpsAnswer:
    customer_id: int
    region: str
    tier: str
    score: int
    answered_at: datetime


@dataclass(frozen=True)
class Group:
    """A slice of the KPIs: one day and optionally one region, tier or customer ('*' = all)."""

    day: date
    region: str = "*"
    tier: str = "*"
    customer_id: int | None = None


@dataclass
class Tally:
    """Counts behind each KPI of one group: a rate is met / judged, so slices and days add up exactly."""

    incidents: int = 0
    response_met: int = 0
    response_judged: int = 0
    onsite_2h_met: int = 0
    onsite_2h_judged: int = 0
    onsite_contract_met: int = 0
    onsite_contract_judged: int = 0
    repair_24h_met: int = 0
    repair_24h_judged: int = 0
    first_visit_fixed: int = 0
    first_visit_judged: int = 0
    parts_at_first_visit: int = 0
    remote_fixed: int = 0
    resolved: int = 0
    nps_promoters: int = 0
    nps_detractors: int = 0
    nps_answers: int = 0
    idle_while_waiting_min: float = 0.0
    technicians: int = 0
    times_to_site_min: list[float] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name, value in vars(other).items():
            if name == "times_to_site_min":
                self.times_to_site_min.extend(value)
            elif name != "technicians":
                setattr(self, name, getattr(self, name) + value)
        self.technicians = max(self.technicians, other.technicians)
