"""Frozen planning objects: contracts and the entitlements they grant, forecasts, rosters, escalations.

Times are timezone-aware datetimes at the edges (contracts are written in calendar terms: days, hours of a
working day) and epoch seconds inside the simulation code, like dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal

Tier = Literal["key", "gold", "standard", "bronze"]


@dataclass(frozen=True)
class Contract:
    """A service contract; ``device_id`` None covers every asset of the customer."""

    id: int
    code: str
    customer_id: int
    device_id: str | None
    name: str
    sla_tier: str
    coverage_days: tuple[int, ...]  # ISO weekdays, 1 = Monday
    coverage_start: time
    coverage_end: time  # time(0) with coverage_start time(0) would be empty; 24:00 is stored as time.max
    starts_on: date
    ends_on: date | None = None
    warranty_until: date | None = None
    labour_included: bool = True
    parts_included: bool = False
    included_parts: tuple[str, ...] = ()
    inspection_interval_days: int | None = None
    last_inspection_on: date | None = None
    # Contract deadlines (the row's, else its tier's defaults: resolved by the repository) and the contract's
    # overrides of the organisation's service targets; None = not set.
    response_min: int | None = None
    onsite_min: int | None = None
    repair_h: int | None = None
    target_response_min: int | None = None
    target_onsite_min: int | None = None
    target_repair_h: int | None = None

    @property
    def is_24x7(self) -> bool:
        return len(set(self.coverage_days)) == 7 and self.coverage_start == time(0) and self.coverage_end >= time(23, 59)


@dataclass(frozen=True)
class Entitlement:
    """What an incident on an asset is entitled to: which contract, its SLA clocks and what is billable."""

    contract_code: str | None
    sla_tier: str
    in_coverage: bool
    clock_starts_at: datetime
    response_due: datetime
    onsite_due: datetime
    repair_due: datetime
    labour_billable: bool
    billable_parts: tuple[str, ...]
    covered_parts: tuple[str, ...]
    warranty: bool
    reason: str
    # The organisation's service targets (from the opening, whatever the coverage hours): what dispatch aims at.
    response_target: datetime | None = None
    onsite_target: datetime | None = None
    repair_target: datetime | None = None


@dataclass(frozen=True)
class InspectionDue:
    contract_code: str
    customer_id: int
    device_id: str
    due_on: date
    window_days: int
