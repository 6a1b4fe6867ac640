"""Contracts -> entitlements: which contract covers an asset at a time, its SLA clocks and what is billable.

Why here and not in diagnostics: the diagnose loop only needs the SLA tier when it opens an incident (it reads
it through the ``device_contracts`` view); coverage hours, warranty and billing are commercial rules that the
planning and back-office views apply to incidents and work orders after the fact, from the same contract rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta

from diagnostics import ServiceTargets, SlaDeadlines, contract_targets, service_clocks
from planning.models import Contract, Entitlement

# Search horizon for the next coverage window: a contract covering at least one day a week opens within 8 days.
_MAX_DAYS_AHEAD = 8


def active(contract: Contract, day: date) -> bool:
    return contract.starts_on <= day and (contract.ends_on is None or day <= contract.ends_on)


def covering(contracts: Iterable[Contract], device_id: str, customer_id: int, at: datetime) -> Contract | None:
    """The contract that covers the asset at ``at``: asset-level before customer-wide, then the latest start
    (same order as the ``device_contracts`` view, which answers the question for today)."""
    day = at.date()
    cands = [k for k in contracts if k.customer_id == customer_id and (k.device_id in (None, device_id))
             and active(k, day)]
    if not cands:
        return None
    return min(cands, key=lambda k: (k.device_id is None, -k.starts_on.toordinal(), -k.id))


def in_coverage(contract: Contract, at: datetime) -> bool:
    if contract.is_24x7:
        return True
    return at.isoweekday() in contract.coverage_days and contract.coverage_start <= at.timetz().replace(
        tzinfo=None) < contract.coverage_end


def clock_start(contract: Contract, at: datetime) -> datetime:
    """When the SLA clocks start for an incident opened at ``at``: now inside coverage hours, else when the
    coverage window next opens (an office-hours contract does not promise a 2 a.m. visit)."""
    if in_coverage(contract, at):
        return at
    for ahead in range(_MAX_DAYS_AHEAD):
        day = at.date() + timedelta(days=ahead)
        if day.isoweekday() not in contract.coverage_days:
            continue
        opens = datetime.combine(day, contract.coverage_start, tzinfo=at.tzinfo)
        if opens >= at:
            return opens
    return at  # a contract with no coverage days: do not invent a delay


def contract_deadlines(contract: Contract | None, tier: str,
                       tier_defaults: Mapping[str, SlaDeadlines]) -> SlaDeadlines:
    """The contract's own deadlines, else its tier's row of ``sla_tier_defaults``; a tier without a row (not
    possible with the shipped table) falls back to the service targets' defaults."""
    if contract is not None and contract.response_min and contract.onsite_min and contract.repair_h:
        return SlaDeadlines(contract.response_min, contract.onsite_min, contract.repair_h * 60)
    if tier in tier_defaults:
        return tier_defaults[tier]
    t = ServiceTargets()
    return SlaDeadlines(t.response_min, t.on_site_min, t.repair_min)


def entitlement(contract: Contract | None, customer_tier: str, severity: int, opened_at: datetime,
                parts: Sequence[str] = (), *, tier_defaults: Mapping[str, SlaDeadlines] | None = None,
                targets: ServiceTargets | None = None) -> Entitlement:
    """The SLA clocks, service targets and billing for an incident. Without a contract the customer's tier
    applies from the moment of opening and everything is billable (time and materials). Targets run from the
    opening (the organisation's, ``targets``, with the contract's overrides); deadlines from the clock start."""
    org = targets or ServiceTargets()
    if contract is None:
        c = service_clocks(opened_at, opened_at, severity,
                           contract_deadlines(None, customer_tier, tier_defaults or {}), org)
        return Entitlement(None, customer_tier, True, opened_at, c.response_due, c.onsite_due, c.repair_due,
                           True, tuple(parts), (), False, "no contract: time and materials",
                           c.response_target, c.onsite_target, c.repair_target)
    start = clock_start(contract, opened_at)
    deadlines = contract_deadlines(contract, contract.sla_tier, tier_defaults or {})
    own = contract_targets(org, contract.target_response_min, contract.target_onsite_min, contract.target_repair_h)
    c = service_clocks(opened_at, start, severity, deadlines, own)
    covered_hours = in_coverage(contract, opened_at)
    warranty = contract.warranty_until is not None and opened_at.date() <= contract.warranty_until
    covered = tuple(p for p in parts if warranty or contract.parts_included or p in contract.included_parts)
    billable = tuple(p for p in parts if p not in covered)
    labour_billable = not (warranty or (contract.labour_included and covered_hours))
    if warranty:
        reason = f"under warranty until {contract.warranty_until.isoformat()}"  # type: ignore[union-attr]
    elif not covered_hours:
        reason = "outside coverage hours: clocks start when coverage opens, labour billable"
    else:
        reason = "within contract coverage"
    return Entitlement(contract.code, contract.sla_tier, covered_hours, start, c.response_due, c.onsite_due,
                       c.repair_due, labour_billable, billable, covered, warranty, reason,
                       c.response_target, c.onsite_target, c.repair_target)


def next_inspection(contract: Contract) -> date | None:
    """Next preventive inspection under the contract's schedule (from the last one, else from its start)."""
    if contract.inspection_interval_days is None:
        return None
    last = contract.last_inspection_on or contract.starts_on
    return last + timedelta(days=contract.inspection_interval_days)


def coverage_label(contract: Contract) -> str:
    if contract.is_24x7:
        return "24x7"
    days = sorted(set(contract.coverage_days))
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    span = (f"{names[days[0] - 1]}-{names[days[-1] - 1]}" if days == list(range(days[0], days[-1] + 1))
            else ",".join(names[d - 1] for d in days))
    end = "24:00" if contract.coverage_end >= time(23, 59) else contract.coverage_end.strftime("%H:%M")
    return f"{span} {contract.coverage_start.strftime('%H:%M')}-{end}"
