"""Per day and per slice (all, region, tier, customer): the counts behind every KPI, and the rates from them.

Pure: the board, the API, the CSV export and bench.live_day all come through here, so they cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from kpis import definitions as d
from kpis.models import Group, IncidentFacts, NpsAnswer, Promise, Tally, TechnicianFacts, Visit

By = Literal["all", "region", "tier", "customer", "region_tier"]


def _group(day: date, by: By, region: str, tier: str, customer_id: int | None) -> Group:
    if by == "region":
        return Group(day, region=region)
    if by == "tier":
        return Group(day, tier=tier)
    if by == "customer":
        return Group(day, customer_id=customer_id)
    if by == "region_tier":
        return Group(day, region=region, tier=tier)
    return Group(day)


def _count(t: Tally, outcome: bool | None, met: str, judged: str) -> None:
    if outcome is not None:
        setattr(t, judged, getattr(t, judged) + 1)
        setattr(t, met, getattr(t, met) + int(outcome))


def incident_tally(inc: IncidentFacts, promise: Promise, now: datetime) -> Tally:
    """One incident's contribution to every incident KPI."""
    t = Tally(incidents=1)
    _count(t, d.response_15min(inc, promise, now), "response_met", "response_judged")
    _count(t, d.onsite_2h(inc, promise, now), "onsite_2h_met", "onsite_2h_judged")
    _count(t, d.onsite_contract(inc, now), "onsite_contract_met", "onsite_contract_judged")
    _count(t, d.repaired_24h(inc, promise, now), "repair_24h_met", "repair_24h_judged")
    _count(t, d.first_visit_fixed(inc), "first_visit_fixed", "first_visit_judged")
    parts = d.parts_at_first_visit(inc)
    t.parts_at_first_visit += int(bool(parts))
    _count(t, d.fixed_remotely(inc), "remote_fixed", "resolved")
    minutes = d.time_to_site_min(inc)
    if minutes is not None:
        t.times_to_site_min.append(minutes)
    return t


def tally(incidents: Sequence[IncidentFacts], answers: Sequence[NpsAnswer], technicians: Sequence[TechnicianFacts],
          visits: Sequence[Visit], *, promise: Promise, days: Sequence[date], now: datetime, tz: ZoneInfo,
          by: By = "all") -> dict[Group, Tally]:
    """Tallies per (day, slice) for the given days. Incidents count on the UTC day they opened, NPS answers on
    the day they were given, idle-while-waiting in the day it happened (only for 'all' and 'region': it belongs
    to technicians, not to a tier or a customer)."""
    wanted = set(days)
    out: dict[Group, Tally] = defaultdict(Tally)
    for g in (_group(day, by, "*", "*", None) for day in days) if by == "all" else ():
        out[g] = Tally()
    for inc in incidents:
        day = inc.opened_at.astimezone(now.tzinfo).date()
        if day in wanted:
            out[_group(day, by, inc.region, inc.tier, inc.customer_id)].add(incident_tally(inc, promise, now))
    for a in answers:
        day = a.answered_at.astimezone(now.tzinfo).date()
        if day in wanted:
            t = out[_group(day, by, a.region, a.tier, a.customer_id)]
            t.nps_answers += 1
            t.nps_promoters += int(a.score >= 9)
            t.nps_detractors += int(a.score <= 6)
    if by in ("all", "region"):
        for day in days:
            start, end = d.day_bounds(day, now)
            if end <= start:
                continue
            per_group: dict[Group, int] = defaultdict(int)
            for tech in technicians:
                g = _group(day, by, tech.region, "*", None)
                per_group[g] += 1
                zone = ZoneInfo(tech.timezone) if tech.timezone else tz  # their shift is their local time
                out[g].idle_while_waiting_min += d.idle_while_waiting_s(tech, visits, start, end, zone) / 60.0
            for g, n in per_group.items():
                out[g].technicians = n
    return dict(out)


def _rate(met: int, judged: int) -> float | None:
    return met / judged if judged else None


def rates(t: Tally) -> dict[str, Any]:
    """The KPI values of a tally (None where nothing was judged), with the counts they come from."""
    return {
        "incidents": t.incidents,
        "response_15min_rate": _rate(t.response_met, t.response_judged),
        "onsite_2h_rate": _rate(t.onsite_2h_met, t.onsite_2h_judged),
        "onsite_contract_rate": _rate(t.onsite_contract_met, t.onsite_contract_judged),
        "repair_24h_rate": _rate(t.repair_24h_met, t.repair_24h_judged),
        "first_visit_fix_rate": _rate(t.first_visit_fixed, t.first_visit_judged),
        "parts_at_first_visit_rate": _rate(t.parts_at_first_visit, t.first_visit_judged),
        "remote_fix_rate": _rate(t.remote_fixed, t.resolved),
        "nps": (100.0 * (t.nps_promoters - t.nps_detractors) / t.nps_answers) if t.nps_answers else None,
        "p90_time_to_site_min": d.percentile(t.times_to_site_min, 90),
        "idle_while_waiting_min_per_technician":
            (t.idle_while_waiting_min / t.technicians) if t.technicians else None,
        "counts": {k: v for k, v in vars(t).items() if k not in ("times_to_site_min", "incidents")},
    }


def last_days(now: datetime, n: int) -> list[date]:
    today = now.date()
    return [today - timedelta(days=i) for i in range(n - 1, -1, -1)]
