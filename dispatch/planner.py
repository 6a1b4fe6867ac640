"""Database rows -> a dispatch ``Problem``, and a ``Plan`` -> what the loop must write. No I/O.

Why a separate module: the live loop (``service.py``) and the repository only move rows; every rule about how
the field force is modelled at ``now`` lives here and is unit-tested without a database:

* A technician's *committed* job is the one they are on (on site), driving to (en route), or were last given
  (assigned): once a technician has been sent, the customer has an ETA and the technician has set off, so the
  optimiser keeps it as that technician's first stop (``in_progress_by``). A pin to another technician
  releases an assigned (not yet en-route) job. Further jobs a dispatcher assigned by hand to the same
  technician are treated as pinned to them.
* A technician driving to a job is placed on the straight line between where they set off and the job, by the
  share of the trip already elapsed (positions are only reported on arrival), so re-planning does not push the
  ETA back by the time already driven.
* Shifts are times of day in the region's time zone; an overnight shift ends the next day; a shift of 24 h
  less a minute or more is "always on".
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from dispatch.appointments import appointment_fields
from dispatch.models import Depot, Job, Location, Params, Plan, Problem, Stop, Technician

# Re-exported: the preventive gate moved to dispatch.preventive; callers outside dispatch/ import these from here.
from dispatch.preventive import (  # noqa: F401
    ARRIVAL_WINDOW_S,
    REASON_PREVENTIVE_LOAD,
    REASON_PREVENTIVE_PREEMPTED,
    preventive_fields,
)
from dispatch.travel import haversine_km
from spares.allocation import PlannedParts
from spares.models import GeoPoint

# At least this long is left of a job a technician is on (a repair is never planned to end at this instant).
MIN_REMAINING_S = 5 * 60.0
# A shift this close to 24 h (00:00-23:59:59, the foundation's default) means "always on duty".
ALWAYS_ON_GAP_S = 60.0
# Horizon of an always-on shift on either side of now: long enough that no job's plan meets its edge.
ALWAYS_ON_SPAN_S = 24 * 3600.0
# Severity 3 (critical) doubles a job's lateness and drop weight; 1 and 2 count once.
CRITICAL_SEVERITY = 3


@dataclass(frozen=True)
class OrderRow:
    """An active work order as the planner needs it (status open, assigned, en_route or on_site)."""

    id: int
    status: str
    lat: float
    lon: float
    required_skills: tuple[str, ...]
    estimated_minutes: int
    tier: str
    severity: int
    created_at: float
    onsite_due: float
    technician_id: int | None = None
    assigned_at: float | None = None
    eta: float | None = None
    arrived_at: float | None = None
    pinned_technician_id: int | None = None
    locked: bool = False
    required_parts: Mapping[str, int] | None = None
    kind: str = "corrective"  # or "preventive": a window of days instead of the 2-hour promise
    earliest_start: float | None = None
    latest_start: float | None = None
    onsite_target: float | None = None  # the service target (None: a row from before targets, or preventive)
    region: str | None = None  # the customer's region (dispatch.regional)
    # A preventive visit's service-start windows inside its window of days (site access x contract coverage,
    # planning/windows.py, migration 0650); None: the whole window of days.
    service_windows: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True)
class TechRow:
    id: int
    state: str
    lat: float
    lon: float
    home_lat: float
    home_lon: float
    skills: tuple[str, ...]
    shift_start: time
    shift_end: time
    breaks: tuple[tuple[time, int], ...] = ()  # (local start, minutes)
    van_stock: Mapping[str, int] = field(default_factory=dict)
    code: str = ""
    name: str = ""
    region: str | None = None
    # The technician's IANA zone: their shift and breaks are times of day there (None: the loop's zone).
    timezone: str | None = None


@dataclass(frozen=True)
class DepotRow:
    id: int
    lat: float
    lon: float
    stock: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Assignment:
    """What the plan wants written for one work order: its technician and ETA (first stop of the route)."""

    work_order_id: int
    technician_id: int
    eta: float


def shift_window(now: float, start: time, end: time, tz: ZoneInfo) -> tuple[float, float]:
    """The shift that contains ``now``, else the next one (epoch seconds)."""
    length = (datetime.combine(datetime.min, end) - datetime.combine(datetime.min, start)).total_seconds()
    if length <= 0:
        length += 24 * 3600
    if length >= 24 * 3600 - ALWAYS_ON_GAP_S:
        return now - ALWAYS_ON_SPAN_S, now + ALWAYS_ON_SPAN_S
    today = datetime.fromtimestamp(now, tz).date()
    for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
        s = datetime.combine(day, start, tz).timestamp()
        if now < s + length:
            return s, s + length
    s = datetime.combine(today + timedelta(days=2), start, tz).timestamp()  # pragma: no cover - unreachable
    return s, s + length


def break_windows(shift: tuple[float, float], breaks: Iterable[tuple[time, int]],
                  tz: ZoneInfo) -> tuple[tuple[float, float], ...]:
    """Breaks (local time of day) that fall inside the shift, as absolute intervals."""
    out = []
    first = datetime.fromtimestamp(shift[0], tz).date()
    for at, minutes in breaks:
        for day in (first, first + timedelta(days=1)):
            a = datetime.combine(day, at, tz).timestamp()
            if shift[0] <= a and a + minutes * 60 <= shift[1]:
                out.append((a, a + minutes * 60.0))
    return tuple(sorted(out))


def expected_remaining_s(estimate_s: float, elapsed_s: float, sigma: float) -> float:
    """Expected time left of a repair ``elapsed_s`` under way: E[D | D > elapsed] - elapsed for a log-normal
    duration D whose median is the estimate (spread ``sigma``, Params.repair_sigma).

    Why not "the estimate minus the elapsed time, else 15 more minutes": a repair that has overrun is the
    long tail, and the tail does not end in a quarter of an hour. The live day at 24 h (issue #14) showed
    the cost: a 90-minute repair took 202, every re-plan for two hours promised its technician free "in 15
    minutes", and the job queued behind them waited while two qualified technicians on shift stood free.
    The conditional mean stays near a third of the estimate however long the overrun, so a free technician
    wins the job once they are closer than that."""
    if estimate_s <= 0:
        return MIN_REMAINING_S
    if sigma <= 0:
        return max(MIN_REMAINING_S, estimate_s - elapsed_s)
    z = (math.log(max(elapsed_s, 1.0)) - math.log(estimate_s)) / sigma
    survive = 0.5 * math.erfc(z / math.sqrt(2.0))  # P(D > elapsed)
    if survive < 1e-9:  # far in the tail: the ratio below is 0/0; its limit is about sigma^2 x elapsed / z
        return max(MIN_REMAINING_S, elapsed_s * sigma * sigma / max(z, 1.0))
    beyond = 0.5 * math.erfc((z - sigma) / math.sqrt(2.0))  # P(Z > z - sigma), the mean's share past elapsed
    mean_given = estimate_s * math.exp(sigma * sigma / 2.0) * beyond / survive
    return max(MIN_REMAINING_S, mean_given - elapsed_s)


def interpolate(a: Location, b: Location, share: float) -> Location:
    share = min(1.0, max(0.0, share))
    return Location(a.lat + (b.lat - a.lat) * share, a.lon + (b.lon - a.lon) * share)


def committed_jobs(orders: Iterable[OrderRow]) -> dict[int, OrderRow]:
    """Per technician, the job they are on, driving to, or were last sent to (see module docstring)."""
    rank = {"on_site": 0, "en_route": 1, "assigned": 2}
    best: dict[int, OrderRow] = {}
    for o in orders:
        if o.technician_id is None or o.status not in rank:
            continue
        if o.status == "assigned" and o.pinned_technician_id not in (None, o.technician_id):
            continue  # the dispatcher pinned it elsewhere: released
        cur = best.get(o.technician_id)
        key = (rank[o.status], o.eta or math.inf, o.id)
        if cur is None or key < (rank[cur.status], cur.eta or math.inf, cur.id):
            best[o.technician_id] = o
    return best


def build_problem(now: float, orders: list[OrderRow], techs: list[TechRow], depots: list[DepotRow],
                  previous: Plan | None, tz: ZoneInfo, params: Params | None = None) -> Problem:
    """The snapshot the optimiser plans from. Technicians who are off (state 'off') are left out."""
    on_duty = {t.id: t for t in techs if t.state != "off"}
    committed = {o.id: tid for tid, o in committed_jobs(orders).items() if tid in on_duty}
    by_tech = {tid: o for o in orders for tid in [committed.get(o.id)] if tid is not None}
    p = params or Params()
    depot_at = {str(d.id): Location(d.lat, d.lon) for d in depots}
    trips = {tid: committed_trip(now, o, on_duty[tid], previous, depot_at, p.pickup_duration_s)
             for tid, o in by_tech.items() if o.status != "on_site"}
    jobs: list[Job] = []
    for o in orders:
        loc = Location(o.lat, o.lon)
        pinned = o.pinned_technician_id
        if pinned is None and o.id not in committed and o.status == "assigned" and o.technician_id in on_duty:
            pinned = o.technician_id  # a further job assigned by hand: the dispatcher's decision stands
        parts = tuple(sorted((str(k), int(v)) for k, v in (o.required_parts or {}).items() if int(v) > 0))
        fields: dict = {"priority": 2 if o.severity >= CRITICAL_SEVERITY else 1, "tier": o.tier,
                        "onsite_deadline": o.onsite_due, "onsite_target": o.onsite_target}
        if o.kind == "preventive":
            fields |= preventive_fields(o.earliest_start, o.latest_start, now,
                                        o.id in committed or o.status in ("en_route", "on_site"), o.service_windows)
        else:  # a rescheduled job: the customer's window, hard (dispatch/appointments.py)
            fields |= appointment_fields(o.earliest_start, o.latest_start, now,
                                         o.id in committed or o.status in ("en_route", "on_site"))
        jobs.append(Job(
            id=str(o.id), location=loc, required_skills=frozenset(o.required_skills),
            duration_s=max(60.0, o.estimated_minutes * 60.0),
            created_at=o.created_at, required_parts=parts, region=o.region, **fields,
            pinned_to=None if o.id in committed else (str(pinned) if pinned is not None else None),
            locked=o.locked and o.id not in committed,
            in_progress_by=str(committed[o.id]) if o.id in committed else None,
            pickup_depot=trips[committed[o.id]].pickup_depot if committed.get(o.id) in trips else None))
    technicians: list[Technician] = []
    for t in on_duty.values():
        t_tz = ZoneInfo(t.timezone) if t.timezone else tz  # a technician's day is in their own zone
        shift = shift_window(now, t.shift_start, t.shift_end, t_tz)
        position, state, busy = Location(t.lat, t.lon), "free", None
        job = by_tech.get(t.id)
        if job is not None and job.status == "on_site":
            state, position = "on_site", Location(job.lat, job.lon)
            elapsed = max(0.0, now - (job.arrived_at or now))
            busy = now + expected_remaining_s(job.estimated_minutes * 60.0, elapsed, p.repair_sigma)
        elif job is not None:
            state = "travelling"
            position = trips[t.id].position
        technicians.append(Technician(
            id=str(t.id), skills=frozenset(t.skills), home=Location(t.home_lat, t.home_lon), position=position,
            shift_start=shift[0], shift_end=shift[1], breaks=break_windows(shift, t.breaks, t_tz),
            state=state, busy_until=busy, van_stock=dict(t.van_stock), region=t.region))  # type: ignore[arg-type]
    return Problem(now, tuple(jobs), tuple(technicians),
                   tuple(Depot(str(d.id), Location(d.lat, d.lon), dict(d.stock)) for d in depots),
                   previous, p)


@dataclass(frozen=True)
class Trip:
    """Where a technician sent to a job is now, and the depot pick-up they still have to make (if any)."""

    position: Location
    pickup_depot: str | None = None


def committed_trip(now: float, job: OrderRow, tech: TechRow, previous: Plan | None,
                   depot_at: Mapping[str, Location], pickup_s: float) -> Trip:
    """A technician sent to ``job`` (assigned or en route), by the share of the trip elapsed.

    Without a pick-up: on the straight line between where they set off and the job. With the depot pick-up the
    previous plan sent them with (the stop right before the job on their route): the trip from ``assigned_at``
    to ``eta`` is set-off -> depot, ``pickup_s`` at the depot, depot -> job, the driving split by straight-line
    distance. Until the pick-up should be finished it stays pending (``pickup_depot``: the re-plan keeps it as
    the first stop, so route, ETA and the depot hold agree); afterwards the parts are in the van. The ETA and
    ``assigned_at`` are the ones the trip was started with (the re-plan only moves an ETA by more than the
    notice threshold), so this does not drift with every re-plan. No collection event exists yet: the plan's
    timing is the best estimate. A technician not yet travelling is where they are, pick-up pending."""
    here, site = Location(tech.lat, tech.lon), Location(job.lat, job.lon)
    depot = _planned_pickup(previous, tech.id, job.id)
    if depot is not None and depot not in depot_at:
        depot = None  # the depot holds none of the parts any more: a plain visit (the hold is spares' matter)
    moving = (tech.state == "travelling" and job.assigned_at is not None and job.eta is not None
              and job.eta > job.assigned_at)
    if not moving:
        return Trip(here, depot)
    assert job.assigned_at is not None and job.eta is not None
    elapsed, total = now - job.assigned_at, job.eta - job.assigned_at
    if depot is None:
        return Trip(interpolate(here, site, elapsed / total))
    at = depot_at[depot]
    d1, d2 = haversine_km(here, at), haversine_km(at, site)
    driving = max(0.0, total - pickup_s)
    to_depot = driving * d1 / (d1 + d2) if d1 + d2 > 0 else 0.0
    if elapsed < to_depot:
        return Trip(interpolate(here, at, elapsed / to_depot), depot)
    if elapsed < to_depot + pickup_s:
        return Trip(at, depot)
    rest = driving - to_depot
    return Trip(interpolate(at, site, (elapsed - to_depot - pickup_s) / rest if rest > 0 else 1.0))


def _planned_pickup(previous: Plan | None, tech_id: int, job_id: int) -> str | None:
    """Depot of the pick-up right before ``job_id`` on the technician's previous route, if any."""
    stops = previous.routes.get(str(tech_id), ()) if previous is not None else ()
    for before, stop in itertools.pairwise(stops):
        if stop.kind == "job" and stop.job_id == str(job_id):
            if before.kind == "pickup" and before.job_id == str(job_id) and before.depot_id is not None:
                return str(before.depot_id)
            return None
    return None


def may_send(shift_start: float, now: float, lead_s: float) -> bool:
    """Whether a technician's first planned job may be *assigned* now: their shift (``Technician.shift_start``
    of the problem the plan was made from: the shift containing the plan's moment, or the next) has started, or
    starts within ``lead_s`` (the loop's longest gap between re-plans, so nobody starts a shift without a job).

    Why: an assigned job is committed (the optimiser keeps it as that technician's first stop, and the customer
    is told the technician's name and ETA). A job planned for someone whose shift starts hours later was
    assigned at once and frozen there: in ``bench.live_day --hours 24`` jobs waited for the next shift while
    technicians who came free on the current one could not take them, and at night the day roster's jobs were
    committed to the morning's first technician. Such a job now stays planned (open, its customer told the
    planned time by dispatch.notices) and any re-plan may still give it to whoever can come sooner."""
    return shift_start <= now + lead_s


def first_jobs(plan: Plan) -> dict[int, Assignment]:
    """Each technician's first job stop: the one that becomes (or stays) assigned."""
    out: dict[int, Assignment] = {}
    for tech_id, stops in plan.routes.items():
        first = next((s for s in stops if s.kind == "job" and s.job_id is not None), None)
        if first is not None:
            out[int(first.job_id)] = Assignment(int(first.job_id), int(tech_id), first.eta)  # type: ignore[arg-type]
    return out


def plain_plan(plan: Plan) -> Plan:
    """The same plan with plain dicts (picklable, for the solver process and for storing)."""
    return Plan({k: tuple(v) for k, v in plan.routes.items()}, dict(plan.dropped), plan.objective,
                dict(plan.kpis))


def stop_of(plan: Plan, job_id: str) -> tuple[str, Stop] | None:
    for tech_id, stops in plan.routes.items():
        for s in stops:
            if s.kind == "job" and s.job_id == job_id:
                return tech_id, s
    return None


def parts_plan(plan: Plan, orders: Iterable[OrderRow]) -> list[PlannedParts]:
    """What the plan asks of spares for every active work order (those without parts too: holds they no longer
    need are released). A job with a pick-up stop on its route takes its parts at that depot; a job without one
    takes them from its technician's van; a job the plan does not serve keeps whatever it holds."""
    where: dict[str, tuple[int, Stop, str | None]] = {}
    for tech_id, stops in plan.routes.items():
        pickups = {s.job_id: s.depot_id for s in stops if s.kind == "pickup" and s.job_id is not None}
        for s in stops:
            if s.kind == "job" and s.job_id is not None:
                where[s.job_id] = (int(tech_id), s, pickups.get(s.job_id))
    out: list[PlannedParts] = []
    for o in orders:
        needs = {str(k): int(v) for k, v in (o.required_parts or {}).items() if int(v) > 0}
        site = GeoPoint(o.lat, o.lon)
        placed = where.get(str(o.id))
        if placed is None:
            out.append(PlannedParts(o.id, o.technician_id, None, None, needs, site))
            continue
        tid, stop, depot = placed
        committed = o.status in ("assigned", "en_route", "on_site") and o.technician_id == tid
        out.append(PlannedParts(o.id, tid, "depot" if depot is not None else "van",
                                int(depot) if depot is not None else None, needs, site, stop.eta, committed))
    return out
