"""One definition per KPI, as pure functions of timestamps (docs/kpis.md says the same in words).

Each incident-level definition answers ``True`` (met), ``False`` (missed) or ``None`` (not judged: the KPI does
not apply to this incident, or its clock has not run out yet and the event has not happened). A rate is met over
judged, so an open incident counts as soon as its outcome is certain and never before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kpis.models import IncidentFacts, NpsAnswer, Promise, TechnicianFacts, Visit

# Notification kinds that tell the customer a plan with a time (a technician and an ETA, or a new ETA). A
# "we detected a problem" message is not a response: it promises nothing the customer can plan around.
# A visit rescheduled to the window the customer chose tells them that window: also a plan they can work with.
# A visit planned further down a route tells them its planned arrival (dispatch/notices.py), before it is next.
RESPONSE_KINDS = ("visit_planned", "technician_assigned", "eta_changed", "visit_rescheduled")
# Incidents a person took on the phone were acknowledged by that person when they were opened.
PERSON_ACK_SOURCES = ("phone",)

Interval = tuple[float, float]


def _judge(event: datetime | None, start: datetime, limit: timedelta, now: datetime) -> bool | None:
    """Met if the event happened within ``limit`` of ``start``; missed once it happened later or the limit
    passed without it; not judged while the clock still runs."""
    if event is not None and event <= now:
        return event - start <= limit
    return False if now - start > limit else None


def _clock_s(inc: IncidentFacts, until: datetime) -> float:
    """Seconds the incident's SLA clock ran from its opening to ``until``: clock time less the pauses the contract
    allowed (a hold the customer asked for, a part on a contract that excludes it, a customer's later window)."""
    start, end = inc.opened_at.timestamp(), until.timestamp()
    return end - start - measure(intersect(union(inc.pauses), [(start, end)]))


def _judge_clock(inc: IncidentFacts, event: datetime | None, limit: timedelta, now: datetime) -> bool | None:
    """``_judge`` on the incident's paused clock; without pauses exactly ``_judge`` from the opening."""
    if not inc.pauses:
        return _judge(event, inc.opened_at, limit, now)
    if event is not None and event <= now:
        return _clock_s(inc, event) <= limit.total_seconds()
    return False if _clock_s(inc, now) > limit.total_seconds() else None


def _in_window(inc: IncidentFacts, arrived: datetime | None) -> bool:
    """Arrived inside a window the customer chose: on time, whatever the clock says."""
    return arrived is not None and any(a <= arrived.timestamp() <= b for a, b in inc.windows)


def needs_response(inc: IncidentFacts) -> bool:
    """A customer expects a response to what they felt: a visit, or a problem they reported themselves. A
    telemetry fault fixed remotely before anyone noticed (the "unfelt" service) needs none."""
    return inc.needs_visit or inc.source != "telemetry"


def response_15min(inc: IncidentFacts, promise: Promise, now: datetime) -> bool | None:
    """Response ≤ promise (15 min) from incident open: a delivered plan/ETA notification or a person's ack.
    A queued, unsent notification is not a response."""
    if not needs_response(inc):
        return None
    return _judge(inc.responded_at, inc.opened_at, timedelta(minutes=promise.response_min), now)


def first_arrival(inc: IncidentFacts) -> datetime | None:
    first = inc.first_visit
    return first.arrived_at if first else None


def onsite_2h(inc: IncidentFacts, promise: Promise, now: datetime) -> bool | None:
    """On site ≤ promise (2 h) counted from incident open (detection or report), over incidents needing a visit;
    paused time the contract allows is not counted, and arriving inside a window the customer chose is on time."""
    if not inc.needs_visit:
        return None
    if _in_window(inc, first_arrival(inc)) and first_arrival(inc) <= now:  # type: ignore[operator]
        return True
    return _judge_clock(inc, first_arrival(inc), timedelta(minutes=promise.onsite_min), now)


def onsite_contract(inc: IncidentFacts, now: datetime) -> bool | None:
    """On site by the contract's own deadline (incidents.onsite_due), which may be longer than the promise."""
    if not inc.needs_visit:
        return None
    if _in_window(inc, first_arrival(inc)) and first_arrival(inc) <= now:  # type: ignore[operator]
        return True
    return _judge_clock(inc, first_arrival(inc), inc.onsite_due - inc.opened_at, now)


def time_to_site_min(inc: IncidentFacts) -> float | None:
    arrived = first_arrival(inc)
    return None if arrived is None else (arrived - inc.opened_at).total_seconds() / 60.0


def repaired_24h(inc: IncidentFacts, promise: Promise, now: datetime) -> bool | None:
    """Repaired ≤ promise (24 h): incident open → verified fixed (resolved remotely or on site, still resolved),
    less the paused time the contract allows."""
    return _judge_clock(inc, inc.resolved_at, timedelta(hours=promise.repair_h), now)


def first_visit_fixed(inc: IncidentFacts) -> bool | None:
    """First-time fix: judged once the first visit (earliest arrival) has ended; met if that visit fixed it."""
    first = inc.first_visit
    if first is None or first.completed_at is None:
        return None
    return first.fixed


def parts_at_first_visit(inc: IncidentFacts) -> bool | None:
    """Parts available at the first visit: judged once it ended; missed only when it ended for a missing part."""
    first = inc.first_visit
    if first is None or first.completed_at is None:
        return None
    return first.outcome != "wrong_part"


def fixed_remotely(inc: IncidentFacts) -> bool | None:
    """Share fixed remotely, over resolved incidents: met when a remote fix was verified and no one went."""
    if inc.resolved_at is None:
        return None
    return inc.remote_fix_verified and first_arrival(inc) is None


def nps(answers: Iterable[NpsAnswer]) -> float | None:
    """Net promoter score: % promoters (9-10) − % detractors (0-6); None without answers."""
    scores = [a.score for a in answers]
    if not scores:
        return None
    return 100.0 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores)


# --- idle while waiting -------------------------------------------------------------------------------------

def union(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def intersect(xs: Sequence[Interval], ys: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if a < b:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(xs: Sequence[Interval], ys: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in xs:
        cur = a
        for c, d in ys:
            if d <= cur or c >= b:
                continue
            if c > cur:
                out.append((cur, c))
            cur = max(cur, d)
        if cur < b:
            out.append((cur, b))
    return out


def measure(xs: Iterable[Interval]) -> float:
    return sum(b - a for a, b in xs)


def on_duty(tech: TechnicianFacts, start: float, end: float, tz: ZoneInfo) -> list[Interval]:
    """The technician's shifts (local times of day; an overnight shift ends the next day) minus breaks."""
    # 00:00-23:59:59, the foundation's default, means "always on duty".
    always = tech.shift_start == time(0) and tech.shift_end >= time(23, 59)
    shifts: list[Interval] = [(start, end)] if always else []
    breaks: list[Interval] = []
    overnight = tech.shift_end <= tech.shift_start
    first = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)
    for n in range((datetime.fromtimestamp(end, tz).date() - first).days + 1):
        day = first + timedelta(days=n)
        if not always:
            shifts.append((datetime.combine(day, tech.shift_start, tz).timestamp(),
                           datetime.combine(day + timedelta(days=int(overnight)), tech.shift_end, tz).timestamp()))
        for at, minutes in tech.breaks:
            b0 = datetime.combine(day + timedelta(days=int(overnight and at < tech.shift_start)), at, tz).timestamp()
            breaks.append((b0, b0 + minutes * 60.0))
    return intersect(subtract(union(shifts), union(breaks)), [(start, end)])


def _ts(value: datetime | None, default: float) -> float:
    return default if value is None else value.timestamp()


def waiting(visit: Visit, now: float) -> Interval | None:
    """A job waits unstarted from its work order's creation until its technician sets off (or arrives)."""
    if visit.started_at is None and visit.status == "cancelled":
        return None  # withdrawn before anyone set off: when it stopped waiting is not recorded
    return visit.created_at.timestamp(), min(_ts(visit.started_at, now), now)


def busy(tech_id: int, visits: Iterable[Visit], now: float) -> list[Interval]:
    """A technician is busy from setting off to a job until completing it (travel plus work on site)."""
    return union((v.started_at.timestamp(), min(_ts(v.completed_at, now), now))
                 for v in visits if v.technician_id == tech_id and v.started_at is not None)


def idle_while_waiting_s(tech: TechnicianFacts, visits: Sequence[Visit], start: float, end: float, tz: ZoneInfo
                         ) -> float:
    """Seconds in [start, end) in which this technician was on duty (shift, not on a break), not busy, and at
    least one job they are qualified for (its required skills ⊆ theirs) waited unstarted."""
    spans = (waiting(v, end) for v in visits if set(v.required_skills) <= tech.skills)
    waits = union(s for s in spans if s is not None)
    free = subtract(on_duty(tech, start, end, tz), busy(tech.technician_id, visits, end))
    return measure(intersect(free, intersect(waits, [(start, end)])))


def day_bounds(day: date, now: datetime) -> tuple[float, float]:
    """A day in ``now``'s zone (the organisation's), cut at ``now`` (nothing after now has happened yet); a day
    with a clock change is as long as its wall clock says."""
    start = datetime(day.year, day.month, day.day, tzinfo=now.tzinfo)
    end = datetime.combine(day + timedelta(days=1), start.timetz())
    return start.timestamp(), min(end.timestamp(), now.timestamp())


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): the smallest value with at least q % of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]
