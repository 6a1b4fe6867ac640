"""Preventive visits beside the 2-hour promise: the gate in front of the optimiser, preemption, and the fields
a preventive visit is planned with. No I/O.

Why apart from ``planner`` (rows -> Problem): these are the rules by which inspections and RUL repairs share
technicians with emergencies, and both the live loop (``service.py``) and the day simulation
(``bench.dispatch_day``) call them on the problem they solve, so the simulation measures the product's gate.
(Split out of ``planner.py`` when it passed 500 lines; ``planner`` still re-exports these names.)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from dispatch.models import Job, Location, Plan, Problem
from dispatch.travel import TravelTimeProvider

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
