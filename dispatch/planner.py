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

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from dispatch.appointments import appointment_fields
from dispatch.models import Depot, Job, Location, Params, Plan, Problem, Stop, Technician
from dispatch.travel import TravelTimeProvider, haversine_km
from spares.allocation import PlannedParts
from spares.models import GeoPoint

# A job on site past its estimate is assumed to need this much longer: we cannot know, and a short horizon
# keeps the technician's next job planned soon while the next re-plan (over-runs are watched) corrects it.
OVERRUN_GRACE_S = 15 * 60.0
# A shift this close to 24 h (00:00-23:59:59, the foundation's default) means "always on duty".
ALWAYS_ON_GAP_S = 60.0
# Horizon of an always-on shift on either side of now: long enough that no job's plan meets its edge.
ALWAYS_ON_SPAN_S = 24 * 3600.0
# Severity 3 (critical) doubles a job's lateness and drop weight; 1 and 2 count once.
CRITICAL_SEVERITY = 3
# A preventive visit enters the optimiser only when its window opens within this look-ahead: a visit due next
# week only makes the routing horizon longer today.
PREVENTIVE_LOOKAHEAD_S = 12 * 3600.0
# An admitted visit should start within this long of its window opening (a soft target, see admit_preventive).
PREVENTIVE_START_S = 30 * 60.0
# An overdue visit (latest start passed) still gets this much room rather than an empty window.
PREVENTIVE_OVERDUE_S = 3600.0
# --- the preventive gate (admit_preventive): emergency load expected while a visit holds a technician --------
# Recent emergencies (corrective work orders created in this window) give the observed arrival rate; with a
# forecast it scales the forecast for the coming hours (a day busier than forecast), without one it is the rate.
ARRIVAL_WINDOW_S = 2 * 3600.0
# Driving added to an emergency's time on site to get how long it holds a technician (the day simulation's
# optimiser drives ~15-18 road km per job at 40 km/h: ~25 min).
TRAVEL_ALLOWANCE_H = 0.4
# Mean time on site assumed before the open emergencies say otherwise: their mean is blended with this as if
# HANDLING_PRIOR_JOBS more jobs had it (one 90-minute job alone must not close the gate for the morning).
DEFAULT_ON_SITE_H = 1.0
HANDLING_PRIOR_JOBS = 10
# An emergency may wait this long for a technician and still be on site within 2 h: 2 h less the plan's 15 min
# margin, ~25 min of driving and some slack for the route around it.
ALLOWED_WAIT_H = 1.0
# Highest probability (M/M/c, Erlang C) that an emergency waits longer than ALLOWED_WAIT_H with one technician
# fewer per admitted visit: at 10 emergencies an hour on 20 technicians that allows 2 visits at a time, at 13
# none.
WAIT_RISK = 0.03
# Free technicians kept, beyond those for the waiting emergencies, for the emergencies expected within this time.
# 0: the queueing check above already prices the coming hours, and preemption covers a burst. Measured on the day
# simulation, seed 1, rate 10 (emergencies 100 % on site within 2 h in every case): 0.5 h -> 4 of 12 visits done,
# 0.25 h -> 5, 0 -> 8 (busy seed 2: none either way). Kept as a knob.
REACT_H = 0.0
REASON_PREVENTIVE_LOAD = "preventive: deferred, technicians kept for emergencies"
REASON_PREVENTIVE_LATER = "preventive: window not open yet"
REASON_PREVENTIVE_PREEMPTED = "preventive: suspended, technician sent to an emergency"
REASON_PREVENTIVE_SKILL = "preventive: deferred, no free qualified technician with enough shift left"


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


# expected emergency arrivals in [t0, t1) (a forecast: planning's in production, the scenario's in the simulation)
Forecast = Callable[[float, float], float]


def emergency_rate(now: float, horizon_s: float, created_at: Iterable[float],
                   forecast: Forecast | None = None, window_s: float = ARRIVAL_WINDOW_S) -> float:
    """Emergencies per hour expected over ``[now, now + horizon_s)``.

    Without a forecast: the rate observed over the last ``window_s`` (what the live loop has: dispatch sits below
    planning). With one: the forecast for the coming period, scaled up by how much busier than forecast the last
    ``window_s`` were (never down: a quiet hour is no promise about the next, and the gate should err towards
    emergencies)."""
    observed = sum(1 for c in created_at if now - window_s < c <= now)
    if forecast is None:
        return observed / (window_s / 3600.0)
    ahead = forecast(now, now + horizon_s) / (horizon_s / 3600.0)
    past = forecast(now - window_s, now)
    return ahead * max(1.0, observed / past) if past > 0 else ahead


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arrival waits (M/M/c, offered load ``load`` Erlangs); 1 when ``servers <= load``."""
    if load <= 0:
        return 0.0
    if servers <= load:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):  # Erlang B, the numerically stable recursion
        b = load * b / (k + load * b)
    return b / (1.0 - (load / servers) * (1.0 - b))


def wait_risk(servers: int, arrivals_per_h: float, handling_h: float, wait_h: float = ALLOWED_WAIT_H) -> float:
    """P(an emergency waits longer than ``wait_h`` for a technician) with ``servers`` technicians (Erlang C)."""
    load = arrivals_per_h * handling_h
    if load <= 0:
        return 0.0
    if servers <= load:
        return 1.0
    return erlang_c(servers, load) * math.exp(-(servers - load) / handling_h * wait_h)


def admit_preventive(problem: Problem, created_at: Iterable[float] = (),
                     forecast: Forecast | None = None) -> tuple[Problem, dict[str, str]]:
    """The problem with only the preventive visits the optimiser may plan now, and why the others wait (they
    are listed like drops). The live loop and the day simulation both call this on the problem they solve.

    Why a gate in front of the optimiser: the optimiser only knows today's open jobs; a visit it starts holds a
    technician for an hour or two during which new emergencies arrive. A visit not yet started (committed ones
    always stay) is offered, earliest latest-start first, only while

    * a free technician remains beyond the emergencies waiting, those expected within ``REACT_H`` (0 by
      default) and the visits admitted before it,
    * with one technician fewer per admitted visit (and per visit in progress), an emergency arriving at the
      expected rate (``emergency_rate`` over the visit's duration plus travel: the observed rate of the
      last 2 h, or the forecast scaled by it) still waits longer than ``ALLOWED_WAIT_H`` with probability at
      most ``WAIT_RISK`` (Erlang C with the mean time an open emergency holds a technician) — else
      ``REASON_PREVENTIVE_LOAD`` — and
    * a free qualified technician with time left in their shift for the visit and the drive there remains
      beyond the waiting emergencies that need the same skills (else ``REASON_PREVENTIVE_SKILL``).

    Arrival times are the ``created_at`` of emergencies (corrective work orders) seen so far."""
    now = problem.now
    arrived = list(created_at)
    on_shift = [t for t in problem.technicians if t.shift_start <= now < t.shift_end]
    on_visit = {j.in_progress_by for j in problem.jobs if j.preventive and j.in_progress_by}
    emergencies = [j for j in problem.jobs if not j.preventive]
    waiting = [j for j in emergencies if not j.in_progress_by]
    on_site_h = ((sum(j.duration_s for j in emergencies) / 3600.0 + DEFAULT_ON_SITE_H * HANDLING_PRIOR_JOBS)
                 / (len(emergencies) + HANDLING_PRIOR_JOBS))
    handling = on_site_h + TRAVEL_ALLOWANCE_H
    servers = sum(1 for t in on_shift if t.id not in on_visit)
    free = [t for t in on_shift if t.state == "free" and t.id not in on_visit]
    kept: list[Job] = []
    deferred: dict[str, str] = {}
    candidates: list[Job] = []
    for j in problem.jobs:
        if not j.preventive or j.in_progress_by:
            kept.append(j)
        elif j.window is not None and j.window[0] > now + PREVENTIVE_LOOKAHEAD_S:
            deferred[j.id] = REASON_PREVENTIVE_LATER
        else:
            candidates.append(j)
    admitted = 0
    for j in sorted(candidates, key=lambda j: (j.window[1] if j.window else math.inf, j.id)):
        rate = emergency_rate(now, j.duration_s + TRAVEL_ALLOWANCE_H * 3600.0, arrived, forecast)
        spare = len(free) - len(waiting) - admitted - math.ceil(rate * REACT_H)
        need = j.duration_s + TRAVEL_ALLOWANCE_H * 3600.0  # drive there and do it before the shift ends
        qualified = [t for t in free if j.required_skills <= t.skills and t.shift_end - now >= need]
        rivals = sum(1 for e in waiting if e.required_skills & j.required_skills or not e.required_skills)
        if spare < 1 or wait_risk(servers - admitted - 1, rate, handling) > WAIT_RISK:
            deferred[j.id] = REASON_PREVENTIVE_LOAD
        elif len(qualified) - rivals < 1:
            deferred[j.id] = REASON_PREVENTIVE_SKILL
        else:
            # Offered for today: a window of days would stretch the model's horizon to days (slower search).
            # Admitted = starting now is safe: the suggested start (soft, Params.preventive_lateness_per_s) is
            # soon after the window opens, so the optimiser does not leave it to the end of a route.
            lo, hi = j.window if j.window is not None else (now, now + PREVENTIVE_LOOKAHEAD_S)
            hi = max(lo, min(hi, now + PREVENTIVE_LOOKAHEAD_S))
            kept.append(dataclasses.replace(j, window=(lo, hi), onsite_deadline=min(hi, lo + PREVENTIVE_START_S)))
            admitted += 1
    order = {j.id: k for k, j in enumerate(problem.jobs)}
    jobs = tuple(sorted(kept, key=lambda j: order[j.id]))
    return dataclasses.replace(problem, jobs=jobs), deferred


@dataclass(frozen=True)
class Preemption:
    """A technician on a preventive visit (on site or driving there) pulled off it for an emergency."""

    visit_id: str
    technician_id: str
    emergency_id: str
    position: Location  # where the technician is now: they leave for the emergency from here


def preemptions(problem: Problem, plan: Plan, travel: TravelTimeProvider) -> list[Preemption]:
    """Visits in progress to suspend because an emergency nobody else reaches within its on-site deadline needs
    their technician.

    Why after the solve: the plan is the optimiser's best use of everyone else (free technicians and those
    finishing emergencies), so an emergency it drops or brings on site after its deadline has nobody else in
    time. Then the nearest qualified technician busy on a preventive visit who can be there by the deadline from
    where they are now is freed (one emergency each, earliest deadline first); the caller suspends the visit
    (re-queued with a reason) and re-plans. A visit is never worth a broken 2-hour promise: it has days."""
    techs = {t.id: t for t in problem.technicians}
    on_visit = {j.in_progress_by: j for j in problem.jobs if j.preventive and j.in_progress_by in techs}
    if not on_visit:
        return []
    arrive = {s.job_id: s.eta for stops in plan.routes.values() for s in stops if s.kind == "job"}
    default = problem.params.default_onsite_s

    def due(j: Job) -> float:  # the earlier of the service target and the contract deadline
        deadline = j.onsite_deadline if j.onsite_deadline is not None else j.created_at + default
        return min(deadline, j.onsite_target) if j.onsite_target is not None else deadline

    at_risk = sorted((j for j in problem.jobs if not j.preventive and not j.in_progress_by
                      and due(j) > problem.now and (j.id not in arrive or arrive[j.id] > due(j))),
                     key=lambda j: (due(j), j.id))
    out: list[Preemption] = []
    for e in at_risk:
        best: tuple[float, str] | None = None
        for tid in sorted(on_visit):
            t = techs[tid]
            if not e.required_skills <= t.skills:
                continue
            eta = problem.now + travel.matrix([t.position, e.location], problem.now)[0][1]
            if eta <= due(e) and (best is None or eta < best[0]):
                best = (eta, tid)
        if best is not None:
            tid = best[1]
            out.append(Preemption(on_visit.pop(tid).id, tid, e.id, techs[tid].position))
    return out


def with_deferred(plan: Plan, deferred: Mapping[str, str]) -> Plan:
    """The plan with the preventive visits held back by ``admit_preventive`` listed as dropped (with reason)."""
    if not deferred:
        return plan
    return Plan(plan.routes, {**plan.dropped, **deferred}, plan.objective, plan.kpis)


def preventive_fields(earliest: float | None, latest: float | None, now: float, committed: bool,
                      windows: Sequence[tuple[float, float]] | None = None) -> dict:
    """``Job`` fields of a preventive visit (the live loop and the day simulation both build visits with this):
    flagged ``preventive`` (its own low drop penalty, below every emergency, see ``Params``), lowest tier and
    priority, its window of days as a hard service-start window, and that window's end as the deadline (no
    2-hour promise). A committed visit (technician sent) keeps no window: it was honoured when they set off.
    With ``windows`` (the site's access and the contract's coverage hours), the window is the first of them still
    open: the optimiser never starts the visit at 02:00 at a site open 08:00-18:00; once it closes, the next
    re-plan offers the next day's."""
    if committed or earliest is None or latest is None:
        return {"priority": 1, "tier": "bronze", "preventive": True, "onsite_target": None}
    current = next(((max(a, now), b) for a, b in windows or () if b >= now), None)
    if current is not None:
        return {"priority": 1, "tier": "bronze", "window": current, "onsite_deadline": current[1],
                "preventive": True, "onsite_target": None}
    lo = max(earliest, now)
    hi = max(latest, lo + PREVENTIVE_OVERDUE_S)
    return {"priority": 1, "tier": "bronze", "window": (lo, hi), "onsite_deadline": hi, "preventive": True,
            "onsite_target": None}


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
            expected = (job.arrived_at or now) + job.estimated_minutes * 60.0
            busy = expected if expected > now else now + OVERRUN_GRACE_S
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
