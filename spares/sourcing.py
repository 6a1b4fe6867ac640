"""Sourcing: where should the part for this job come from so it is on site when the technician is?

Pure: travel times come from an injected ``travel_time(a, b) -> seconds`` so the same code runs on straight-line
estimates in tests and the simulator and on a road-network matrix in production.

Order of preference (the field-service habit, cheapest first) among options that meet the deadline:
1. the assigned technician's van (no detour, no cost);
2. a depot pick-up on or near the route (detour time, up to ``max_detour_s``); the dispatch optimiser may take
   these as optional stops: ``option.location_id`` is the depot, ``option.detour_s`` its extra driving;
3. a courier to the site from a depot or the warehouse (lead time, same-day only before the cut-off);
4. depot pick-ups with a longer detour.
Options that miss the deadline come last, earliest first, with ``lateness_s`` showing the SLA risk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from spares.models import GeoPoint

TravelTime = Callable[[GeoPoint, GeoPoint], float]

DAY_S = 86_400.0
# Picking a part at a depot counter and signing for it: about ten minutes in practice.
DEPOT_PICK_S = 600.0
# A detour above 45 min no longer counts as "on the way": it costs a technician most of a job slot.
MAX_DETOUR_S = 2_700.0
# Technician time is what a detour costs: about 60 currency units per hour, all-in.
TECHNICIAN_COST_PER_S = 60.0 / 3600.0


class SourceKind(StrEnum):
    VAN = "van"
    DEPOT_PICKUP = "depot_pickup"
    COURIER = "courier"


_RANK = {SourceKind.VAN: 0, SourceKind.DEPOT_PICKUP: 1, SourceKind.COURIER: 2}


@dataclass(frozen=True)
class PartNeed:
    sku: str
    qty: int = 1


@dataclass(frozen=True)
class Job:
    work_order_id: int
    site: GeoPoint
    deadline: float  # epoch s by which the technician must be on site with the part
    needs: tuple[PartNeed, ...]
    # When dispatch has already planned the visit, its arrival time (epoch s); else the technician drives there
    # directly from ``TechnicianState.position`` once free.
    planned_arrival: float | None = None


@dataclass(frozen=True)
class TechnicianState:
    technician_id: int
    van_location_id: int
    position: GeoPoint
    van_stock: Mapping[str, int]  # available (unreserved) units per SKU
    free_at: float  # epoch s when the technician can set off (now, or the end of the current job)


@dataclass(frozen=True)
class StockPoint:
    """A depot or the warehouse, with what it can still give away."""

    location_id: int
    point: GeoPoint
    stock: Mapping[str, int]
    courier: CourierLane | None = None


@dataclass(frozen=True)
class CourierLane:
    """What the courier network offers from one stock point.

    ``same_day_cutoff_s`` and ``next_day_delivery_s`` are seconds after midnight (UTC day of the epoch clock).
    A same-day order takes ``handling_s`` plus the driving time at ``speed_factor`` times the van's time.
    """

    handling_s: float
    same_day_cutoff_s: float | None  # None: this lane has no same-day service
    next_day_delivery_s: float
    cost_same_day: float
    cost_next_day: float
    speed_factor: float = 1.0


@dataclass(frozen=True)
class SourcingOption:
    kind: SourceKind
    location_id: int
    eta: float  # when technician and part are both on site
    detour_s: float
    meets_deadline: bool
    lateness_s: float
    cost: float


def covers(stock: Mapping[str, int], needs: Sequence[PartNeed]) -> bool:
    """True when ``stock`` alone has every part the job needs (options are whole-job; split per part if needed)."""
    want: dict[str, int] = {}
    for n in needs:
        want[n.sku] = want.get(n.sku, 0) + n.qty
    return all(stock.get(sku, 0) >= q for sku, q in want.items())


def courier_eta(lane: CourierLane, origin: GeoPoint, site: GeoPoint, now: float,
                travel_time: TravelTime) -> tuple[float, float, bool]:
    """(eta, cost, same_day) for a courier order placed at ``now``."""
    tod = now % DAY_S
    if lane.same_day_cutoff_s is not None and tod <= lane.same_day_cutoff_s:
        return now + lane.handling_s + travel_time(origin, site) * lane.speed_factor, lane.cost_same_day, True
    next_day = now - tod + DAY_S + lane.next_day_delivery_s
    return next_day, lane.cost_next_day, False


def _option(kind: SourceKind, location_id: int, eta: float, detour_s: float, cost: float,
            deadline: float) -> SourcingOption:
    late = max(0.0, eta - deadline)
    return SourcingOption(kind, location_id, eta, detour_s, late == 0.0, late, cost)


def propose_sources(job: Job, tech: TechnicianState, stock_points: Sequence[StockPoint],
                    travel_time: TravelTime, now: float, *,
                    max_detour_s: float = MAX_DETOUR_S) -> list[SourcingOption]:
    """All ways to have the job's parts on site, best first (see the module docstring for the order)."""
    direct = travel_time(tech.position, job.site)
    arrival = job.planned_arrival if job.planned_arrival is not None else max(now, tech.free_at) + direct
    start = arrival - direct  # when the technician leaves ``position`` for the site
    options: list[SourcingOption] = []
    if covers(tech.van_stock, job.needs):
        options.append(_option(SourceKind.VAN, tech.van_location_id, arrival, 0.0, 0.0, job.deadline))
    for sp in stock_points:
        if not covers(sp.stock, job.needs):
            continue
        via = travel_time(tech.position, sp.point) + DEPOT_PICK_S + travel_time(sp.point, job.site)
        detour = max(0.0, via - direct)
        options.append(_option(SourceKind.DEPOT_PICKUP, sp.location_id, start + via, detour,
                               detour * TECHNICIAN_COST_PER_S, job.deadline))
        if sp.courier is not None:
            eta, cost, _ = courier_eta(sp.courier, sp.point, job.site, now, travel_time)
            options.append(_option(SourceKind.COURIER, sp.location_id, max(eta, arrival), 0.0, cost,
                                   job.deadline))

    def key(o: SourcingOption) -> tuple[float, ...]:
        if not o.meets_deadline:
            return (1.0, o.eta, o.cost)
        rank = _RANK[o.kind]
        if o.kind is SourceKind.DEPOT_PICKUP and o.detour_s > max_detour_s:
            rank = 3  # a long detour is a last resort among the on-time options
        return (0.0, rank, o.detour_s, o.cost, o.eta)

    return sorted(options, key=key)


def best_source(job: Job, tech: TechnicianState, stock_points: Sequence[StockPoint],
                travel_time: TravelTime, now: float) -> SourcingOption | None:
    """The first of ``propose_sources``, or None when no stock point anywhere has the parts."""
    options = propose_sources(job, tech, stock_points, travel_time, now)
    return options[0] if options else None
