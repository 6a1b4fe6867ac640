"""The comparison baseline: "send the nearest qualified free technician" (what simple dispatchers do).

Jobs are taken first-come-first-served; each goes to the closest qualified technician who is free now (no
current job, on shift). A technician lacking the parts drives to the nearest depot that has them first. Jobs for
which nobody is free wait (they are reported as dropped *for this round* with the reason).

A job rescheduled to the customer's window (dispatch/appointments.py) is the customer's word: nobody is sent
who would arrive more than ``APPOINTMENT_LEAD_S`` before it opens (they would stand at the door while other jobs
wait; the job is taken up on a later round, when the window comes near), and the visit starts inside it, not
before. The same rule serves the loop's ``planner="nearest"`` policy (dispatch/service.py) through
``appointment_start``.
"""

from __future__ import annotations

from types import MappingProxyType

from dispatch.encoding import REASON_NO_SKILL, committed_tech, has_parts, qualified
from dispatch.models import Plan, Problem, Stop
from dispatch.routing_model import around_breaks
from dispatch.travel import StraightLineProvider, TravelTimeProvider

REASON_NONE_FREE = "no qualified technician free"
REASON_WINDOW_LATER = "the customer's window is not open yet"
# How early a technician may be sent ahead of the customer's window: a quarter of an hour at the door is the
# usual courtesy margin; later than that and one technician idles while the queue waits. The loops re-plan far
# more often than this (poll every few seconds), so a job is never missed for waiting.
APPOINTMENT_LEAD_S = 15 * 60.0


def appointment_start(window: tuple[float, float] | None, arrive: float, now: float) -> float | None:
    """When a technician arriving at ``arrive`` starts a job with the customer's window ``(earliest, latest
    start)``: at arrival, or when the window opens if they come early. None: too early to send anyone yet (they
    would arrive more than APPOINTMENT_LEAD_S before it opens). No window, or a window that has already passed
    (the job is late; the dispatcher reschedules): start on arrival. A window that this arrival misses is still
    started on arrival (late but as soon as possible); callers that can choose another technician check it."""
    if window is None or window[1] < now:
        return arrive
    if arrive < window[0] - APPOINTMENT_LEAD_S:
        return None
    return max(arrive, window[0])


def nearest_free(problem: Problem, travel: TravelTimeProvider | None = None) -> Plan:
    travel = travel or StraightLineProvider()
    now, p = problem.now, problem.params
    routes: dict[str, list[Stop]] = {t.id: [] for t in problem.technicians}
    dropped: dict[str, str] = {}
    busy: set[str] = set()
    by_id = {t.id: t for t in problem.technicians}
    for job in sorted(problem.jobs, key=lambda j: (j.in_progress_by is None, j.created_at, j.id)):
        if job.in_progress_by in by_id:  # committed: keep it where it is
            tech = by_id[job.in_progress_by]
            eta = now + travel.matrix([tech.position, job.location], now)[0][1]
            end = (
                max(eta + job.duration_s, tech.busy_until or 0.0)
                if tech.state == "on_site"
                else eta + job.duration_s
            )
            routes[tech.id].append(
                Stop(
                    "job",
                    job.id,
                    None,
                    (),
                    eta if tech.state != "on_site" else now,
                    eta if tech.state != "on_site" else now,
                    end,
                )
            )
            busy.add(tech.id)
            continue
        bound = committed_tech(job, problem)
        cands = [
            t
            for t in problem.technicians
            if qualified(job, t)
            and t.id not in busy
            and t.state == "free"
            and t.shift_start <= now < t.shift_end
            and (bound is None or t.id == bound)
        ]
        if not cands:
            dropped[job.id] = (
                REASON_NO_SKILL
                if not any(qualified(job, t) for t in problem.technicians)
                else REASON_NONE_FREE
            )
            continue
        best, best_t, stops = None, float("inf"), []
        too_early = False
        for tech in cands:
            stops_t, here, clock = [], tech.position, now
            if job.required_parts and not has_parts(tech.van_stock, job.required_parts):
                depots = [d for d in problem.depots if has_parts(d.stock, job.required_parts)]
                if not depots:
                    continue
                d = min(depots, key=lambda d: travel.matrix([here, d.location], now)[0][1])
                arrive = clock + travel.matrix([here, d.location], now)[0][1]
                stops_t.append(
                    Stop(
                        "pickup",
                        job.id,
                        d.id,
                        job.required_parts,
                        arrive,
                        arrive,
                        arrive + p.pickup_duration_s,
                    )
                )
                here, clock = d.location, arrive + p.pickup_duration_s
            eta = clock + travel.matrix([here, job.location], now)[0][1]
            if job.window and not job.preventive:  # the customer's window: not sent long before it opens
                begin = appointment_start(job.window, eta, now)
                if begin is None:
                    too_early = True
                    continue
                start = begin
            else:
                start = max(eta, job.window[0]) if job.window else eta
            # The optimiser's break rule: nobody starts on a break or a minute before one; one inside the work
            # pauses it.
            start, end = around_breaks(start, job.duration_s, [(a, b - a) for a, b in sorted(tech.breaks)])
            latest = job.window[1] if job.window is not None else None
            if latest is not None and (job.preventive or latest >= now) and start > latest:
                continue  # checked after the break: a break may push the start out of the window
            if end > tech.shift_end + p.max_overtime_s:
                continue
            stops_t.append(Stop("job", job.id, None, (), eta, start, end))
            if eta < best_t:
                best, best_t, stops = tech, eta, stops_t
        if best is None:
            dropped[job.id] = REASON_WINDOW_LATER if too_early else REASON_NONE_FREE
            continue
        routes[best.id].extend(stops)
        busy.add(best.id)
    served = sum(1 for r in routes.values() for s in r if s.kind == "job")
    return Plan(
        MappingProxyType({k: tuple(v) for k, v in routes.items()}),
        MappingProxyType(dropped),
        0.0,
        MappingProxyType({"assigned": float(served), "dropped": float(len(dropped))}),
    )
