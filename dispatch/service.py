"""The dispatch loop: plan the whole field force with the optimiser and apply each technician's first job.

``planner="optimiser"`` (default): when something the plan depends on changed (the trigger-maintained change
cursor, or a visit over-running its estimate), at most every ``min_replan_interval_s`` and at least every
``max_replan_interval_s`` of clock time, the loop loads the world (``dispatch.repository``), builds a
``Problem`` (``dispatch.planner``), solves it warm-started from the current plan, stores the plan, and writes
what changed: each technician's first job becomes assigned (timeline event + "technician_assigned"
notification, as before), a moved ETA is told only past ``eta_notice_threshold_s``, later stops stay in
``plan_stops`` as planned (shown on the board and the phone, not yet told to the customer), dropped jobs stay
open with their reason on the timeline. In the same transaction the parts every route uses are held
(``spares.service.apply_plan``: van, depot pick-up, or a courier to the site) and dispatchers are alerted once
about parts nobody within reach has (docs/dispatch.md, "Whole routes and parts in the live flow").

``planner="nearest"``: the foundation's policy, kept as a fallback: every open work order gets the nearest
qualified free technician; a job rescheduled to the customer's window waits until the window is near and starts
inside it (``dispatch.baseline.appointment_start``, the rule the regional fallback uses too). Rows are locked
with SKIP LOCKED, so two dispatch processes never assign the same technician or work order twice.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from core import audit, metrics
from core.clock import Clock, to_datetime
from core.events import queue_notification, record_timeline
from core.loops import run_polling
from core.settings import DispatchSettings, SparesSettings
from core.sql import Queries
from dispatch import notices
from dispatch import planner as pl
from dispatch import preventive as pv
from dispatch import repository as repo
from dispatch.appointments import defer_appointments
from dispatch.baseline import appointment_start
from dispatch.models import Location, Params, Plan, Problem
from dispatch.reasons import reason_term
from dispatch.regional import plan_fleet
from dispatch.travel import StraightLineProvider, TravelTimeProvider, haversine_km, select_provider
from i18n import Message
from spares import service as spares_flow

log = logging.getLogger(__name__)
# Assignments are decisions a dispatcher would otherwise make: audited, in the transaction that makes them.
DISPATCH_ACTOR = audit.Actor("process:dispatch")
Q = Queries(__file__)


@dataclass(frozen=True)
class FreeTechnician:
    id: int
    code: str
    name: str
    skills: frozenset[str]
    lat: float
    lon: float


def nearest_qualified(required: Sequence[str], lat: float, lon: float, technicians: Sequence[FreeTechnician],
                      *, road_factor: float, speed_kmh: float) -> tuple[FreeTechnician, float] | None:
    """The free technician with every required skill who arrives first, and the travel time in seconds."""
    best: tuple[FreeTechnician, float] | None = None
    need = set(required)
    for tech in technicians:
        if not need <= tech.skills:
            continue
        t = haversine_km(Location(tech.lat, tech.lon), Location(lat, lon)) * road_factor / speed_kmh * 3600.0
        if best is None or t < best[1] or (t == best[1] and tech.id < best[0].id):
            best = (tech, t)
    return best


# Search budget for small problems: GLS converges on a handful of jobs well inside a second, so spending the
# whole replan_budget_s there only delays the assignment; the budget grows with the number of active jobs and
# reaches the 5 s default at ~150 jobs (the scale check used 5 s for 300).
BUDGET_BASE_S = 0.5
BUDGET_PER_JOB_S = 0.03
# With a clock faster than real time (the demo runs 120-300x) clock-time intervals shrink to fractions of a
# wall second and the solver would never rest: then a re-plan also waits as long as the last solve took
# (the solver process uses at most half of one core). Real-time and manual clocks are not affected.
FAST_CLOCK_RATE = 1.5
_executor: ProcessPoolExecutor | None = None
_executor_lock = threading.Lock()


def _solve_job(problem: Problem, time_limit_s: float, travel: TravelTimeProvider,
               regional_min_technicians: int = 0) -> Plan:
    """Runs in the solver process; returns a picklable plan (by region for a large fleet: dispatch.regional)."""
    return pl.plain_plan(plan_fleet(problem, time_limit_s, travel, regional_min_technicians))


def _warm_up() -> None:
    """Nothing: submitting it makes the pool start its worker process, which imports the solver."""


def _solver_pool() -> ProcessPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            # spawn, not fork: the parent runs MQTT and database threads that a fork would copy mid-flight.
            _executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return _executor


def shutdown_solver_pool() -> None:
    global _executor
    with _executor_lock:
        if _executor is not None:
            _executor.shutdown(wait=True, cancel_futures=True)
            _executor = None


def solve_budget(jobs: int, cap_s: float) -> float:
    return min(cap_s, BUDGET_BASE_S + BUDGET_PER_JOB_S * jobs)


# Cost units per driving second when the organisation sets its own time-to-site rate: the rate then counts in
# steps of a quarter of a driving second per unit of weight (at 1 unit, 0.5 x a bronze weight of 1 would round
# up to a whole second).
RATE_COST_UNITS = 4


def objective_params(settings: DispatchSettings) -> Params:
    """The planner's objective with the organisation's settings applied (today: the waiting/driving rate).
    Why a setting: what a minute of a customer's wait is worth in driving is the organisation's call, and the
    measured trade (docs/dispatch.md, "What the kilometres buy") has no setting that wins on both."""
    if settings.time_to_site_per_s is None:
        return Params()
    return Params(time_to_site_per_s=settings.time_to_site_per_s, cost_units_per_s=RATE_COST_UNITS)


class DispatchLoop:
    def __init__(self, connect: Callable[[], psycopg.Connection], settings: DispatchSettings, clock: Clock,
                 spares: SparesSettings | None = None) -> None:
        self._connect = connect
        self._settings = settings
        self._spares = spares or SparesSettings()
        self._clock = clock
        self._tz = ZoneInfo(settings.timezone)
        self._cursor: tuple[int, int] | None = None
        self._last_replan = -math.inf
        self._clock_rate = 1.0  # clock seconds per wall second, measured around each solve
        self._wall_ready = 0.0  # monotonic time before which a fast clock does not re-plan (FAST_CLOCK_RATE)
        self.assigned = 0
        self.replans = 0
        # The last problem and plan, for tests and diagnostics (the database holds the plan of record).
        self.last_problem: Problem | None = None
        self.last_plan: Plan | None = None

    def run(self, stop: threading.Event) -> None:
        if self._settings.planner == "optimiser" and self._settings.solve_in_subprocess:
            _solver_pool().submit(_warm_up)  # start the worker (imports OR-Tools, ~1-4 s) before the first plan
        run_polling("dispatch", self._connect, self.tick, stop, self._settings.poll_interval_s)

    def tick(self, conn: psycopg.Connection) -> int:
        """One pass; returns how many work orders were given a (new) technician."""
        if self._settings.planner == "nearest":
            return self._tick_nearest(conn)
        return self._tick_optimiser(conn)

    # --- optimiser --------------------------------------------------------------------------------------

    def _travel(self, now: float) -> TravelTimeProvider:
        """The configured provider (dispatch.travel_provider): straight line, or OSRM falling back to it."""
        offset = self._tz.utcoffset(to_datetime(now).replace(tzinfo=None))
        straight = StraightLineProvider(self._settings.road_factor, self._settings.speed_kmh,
                                        utc_offset_h=offset.total_seconds() / 3600.0 if offset else 0.0)
        s = self._settings
        return select_provider(s.travel_provider, straight, s.osrm_url, s.osrm_timeout_s)

    def _tick_optimiser(self, conn: psycopg.Connection, preempted: bool = False) -> int:
        s = self._settings
        now = self._clock.now()
        at = to_datetime(now)
        with conn.transaction():
            cursor = repo.change_cursor(conn, at)
        changed = cursor != self._cursor
        periodic = now - self._last_replan >= s.max_replan_interval_s
        if not preempted and (not (changed or periodic) or now - self._last_replan < s.min_replan_interval_s):
            return 0
        if not preempted and self._clock_rate > FAST_CLOCK_RATE and time.monotonic() < self._wall_ready:
            return 0
        with conn.transaction():
            cursor = repo.change_cursor(conn, at)  # read first: the rows below are at least this fresh
            orders = repo.load_orders(conn)
            skus = sorted({k for o in orders for k in (o.required_parts or {})})
            techs = repo.load_technicians(conn, skus, at)
            depots = repo.load_depots(conn, skus)
            stored = repo.current_plan(conn)
            arrivals = repo.emergency_arrivals(conn, to_datetime(now - pv.ARRIVAL_WINDOW_S))
        previous = stored.plan if stored is not None else None
        if not orders and (previous is None or not any(previous.routes.values())):
            self._cursor = cursor
            return 0
        budget = solve_budget(len(orders), s.replan_budget_s)
        # Plan for the moment the plan will be applied: the search takes `budget` of wall time, which is
        # `budget x clock rate` of clock time (300x in the demo: 25 simulated minutes for 5 s).
        plan_at = now + self._clock_rate * budget
        # Preventive visits (window of days) only while the expected emergency load leaves technicians spare
        # (preventive.admit_preventive, the same gate the day simulation measures); the rest listed as dropped.
        problem, deferred = pv.admit_preventive(
            pl.build_problem(plan_at, orders, techs, depots, previous, self._tz, objective_params(s)), arrivals)
        problem, later = defer_appointments(problem)  # customer windows beyond the look-ahead wait
        deferred = {**deferred, **later}
        started, clock_started = time.perf_counter(), self._clock.now()
        plan = pv.with_deferred(self._solve(problem, budget, self._travel(plan_at)), deferred)
        seconds = time.perf_counter() - started
        self._clock_rate = max(0.0, (self._clock.now() - clock_started) / seconds) if seconds > 0 else 0.0
        self._wall_ready = time.monotonic() + seconds
        pulled = [] if preempted else pv.preemptions(problem, plan, self._travel(plan_at))
        if pulled:  # an emergency nobody else reaches in time: suspend those visits and plan again at once
            with conn.transaction():
                self._suspend(conn, pulled, self._clock.now())
            return self._tick_optimiser(conn, preempted=True)
        trigger = "start" if self._cursor is None else ("change" if changed else "periodic")
        trigger = "preemption" if preempted else trigger
        with conn.transaction():
            if not repo.try_lock_planner(conn):
                log.info("another dispatch process is applying a plan; skipping this pass")
                return 0
            repo.as_dispatch_writer(conn)
            inputs = {"orders": len(orders), "technicians": len(problem.technicians), "depots": len(depots),
                      "committed": sum(1 for j in problem.jobs if j.in_progress_by), "budget_s": budget,
                      "warm_start": previous is not None, "cursor": list(cursor)}
            repo.save_plan(conn, plan, at=at, trigger=trigger, planner="optimiser", inputs=inputs,
                           solve_seconds=seconds, keep_s=s.plan_retention_s)
            count = self._apply(conn, plan, previous, orders, {t.id: t for t in techs}, self._clock.now(),
                                {int(t.id): t.shift_start for t in problem.technicians})
        self._cursor, self._last_replan = cursor, now
        self.last_problem, self.last_plan = problem, plan
        _export_metrics(problem, plan)
        self.replans += 1
        self.assigned += count
        log.info("re-planned", extra={"trigger": trigger, "orders": len(orders), "assigned": count,
                                      "dropped": len(plan.dropped), "solve_s": round(seconds, 3)})
        return count

    def _suspend(self, conn: psycopg.Connection, pulled: list[pv.Preemption], now: float) -> None:
        """Pull technicians off preventive visits for emergencies (preventive.preemptions): each visit goes back to
        the queue with a timeline event saying why; the technician is free where they are."""
        at = to_datetime(now)
        for pre in pulled:
            row = repo.suspend_visit(conn, int(pre.visit_id), int(pre.technician_id), pre.position.lat,
                                     pre.position.lon)
            if row is None:
                continue
            record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=at,
                            kind="preventive_suspended",
                            message=Message("summary.preventiveSuspended"),
                            incident_id=row["incident_id"], work_order_id=row["id"],
                            data={"technician_id": int(pre.technician_id),
                                  "emergency_work_order_id": int(pre.emergency_id),
                                  "reason": pv.REASON_PREVENTIVE_PREEMPTED})
            log.info("preventive visit suspended", extra={"work_order_id": row["id"],
                                                          "technician_id": pre.technician_id,
                                                          "emergency": pre.emergency_id})

    def _solve(self, problem: Problem, budget: float, travel: TravelTimeProvider) -> Plan:
        if self._settings.solve_in_subprocess:
            try:
                return _solver_pool().submit(_solve_job, problem, budget, travel,
                                             self._settings.regional_min_technicians).result()
            except Exception as exc:  # noqa: BLE001 - a broken worker must not stop dispatch; solve here
                log.warning("solver process failed; solving in-process", extra={"error": repr(exc)[:200]})
                shutdown_solver_pool()
        return _solve_job(problem, budget, travel, self._settings.regional_min_technicians)

    def _apply(self, conn: psycopg.Connection, plan: Plan, previous: Plan | None, orders: list[pl.OrderRow],
               techs: dict[int, pl.TechRow], now: float, shift_starts: dict[int, float]) -> int:
        """Write the plan's decisions; only what changed produces events and notifications. ``shift_starts``:
        each planned technician's shift start as the problem computed it (planner.may_send)."""
        at = to_datetime(now)
        wanted = pl.first_jobs(plan)
        count = 0
        for a in wanted.values():
            row = repo.order_for_notice(conn, a.work_order_id)
            if row is None or row["status"] not in ("open", "assigned", "en_route"):
                continue
            tech = techs[a.technician_id]
            eta = to_datetime(a.eta)
            if row["status"] != "en_route" and not pl.may_send(shift_starts[a.technician_id], now,
                                                               self._settings.max_replan_interval_s):
                continue  # their shift starts later: planned, not committed (pl.may_send)
            if row["status"] == "open" or row["technician_id"] != a.technician_id:
                if row["status"] == "en_route" or not repo.assign(conn, a.work_order_id, a.technician_id, eta, at):
                    continue
                self._tell_assigned(conn, row, tech, eta, now, previous_tech=row["technician_id"])
                count += 1
            elif row["eta"] is None or abs(row["eta"].timestamp() - a.eta) > self._settings.eta_notice_threshold_s:
                repo.retime(conn, a.work_order_id, eta)
                self._tell_eta(conn, row, tech, eta)
        for o in orders:  # assigned jobs the plan no longer gives their technician
            if o.status != "assigned" or o.id in wanted:
                continue
            placed = pl.stop_of(plan, str(o.id))
            if placed is not None and placed[0] == str(o.technician_id):
                continue  # a further job of the same technician (assigned by hand): stays assigned
            row = repo.order_for_notice(conn, o.id)
            if row is not None and repo.unassign(conn, o.id):
                audit.record(conn, DISPATCH_ACTOR, "dispatch.unassign", "work_order", str(o.id),
                             {"technician_id": o.technician_id,
                              "reason": plan.dropped.get(str(o.id), "re-planned")}, at=at)
                record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=at,
                                kind="technician_unassigned", message=Message("summary.unassigned"),
                                incident_id=row["incident_id"], work_order_id=o.id,
                                data={"technician_id": o.technician_id,
                                      "reason": plan.dropped.get(str(o.id), "re-planned")})
        # Customers of jobs further down a route hear their planned arrival now, not when the job is next.
        notices.tell_planned(conn, plan, now, 2 * self._settings.eta_notice_threshold_s)  # an 'about' time
        before = previous.dropped if previous is not None else {}
        open_ids = {o.id for o in orders if o.status == "open"}
        for job_id, reason in plan.dropped.items():
            if int(job_id) in open_ids and before.get(job_id) != reason:
                row = repo.order_for_notice(conn, int(job_id))
                if row is not None:
                    record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=at,
                                    kind="dispatch_dropped",
                                    message=Message("summary.notPlanned", {"reason": reason_term(reason)}),
                                    incident_id=row["incident_id"], work_order_id=int(job_id),
                                    data={"reason": reason})
        # Parts: hold what every route uses (van, depot pick-up, or a courier to the site), release what a
        # re-plan moved, and tell dispatchers once about parts nobody within reach has (spares.service).
        held = spares_flow.apply_plan(conn, pl.parts_plan(plan, orders), now, self._spares)
        alerts = spares_flow.scan_alerts(conn, now, self._spares)
        if held.reserved or held.released or alerts:
            log.info("parts held for the plan", extra={"reserved": held.reserved, "released": held.released,
                                                       "couriers": held.couriers, "alerts": len(alerts)})
        repo.sync_technician_states(conn)
        return count

    def _tell_assigned(self, conn: psycopg.Connection, row: dict, tech: pl.TechRow, eta, now: float,
                       previous_tech: int | None) -> None:
        at = to_datetime(now)
        late = eta > row["onsite_due"]
        record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=at,
                        kind="technician_reassigned" if previous_tech else "technician_assigned",
                        message=assigned_message(tech.name, eta, late),
                        incident_id=row["incident_id"], work_order_id=row["id"],
                        data={"technician": tech.code, "eta": eta.isoformat(), "travel_s": round(eta.timestamp() - now),
                              "previous_technician_id": previous_tech, "planner": "optimiser"})
        audit.record(conn, DISPATCH_ACTOR, "dispatch.assign", "work_order", str(row["id"]),
                     {"technician": tech.code, "previous_technician_id": previous_tech, "eta": eta.isoformat(),
                      "planner": "optimiser"}, at=at)
        queue_notification(conn, customer_id=row["customer_id"], device_id=row["device_id"],
                           incident_id=row["incident_id"], at=at, kind="technician_assigned",
                           message=Message("notify.assigned", {"technician": tech.name, "eta": eta,
                                                               "device": row["device_name"]}))
        log.info("work order assigned", extra={"work_order_id": row["id"], "technician": tech.code,
                                               "eta": eta.isoformat(), "late": late})

    def _tell_eta(self, conn: psycopg.Connection, row: dict, tech: pl.TechRow, eta) -> None:
        at = to_datetime(self._clock.now())
        record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=at, kind="eta_changed",
                        message=Message("summary.etaChanged", {"eta": eta}), incident_id=row["incident_id"],
                        work_order_id=row["id"],
                        data={"technician": tech.code, "eta": eta.isoformat(),
                              "previous_eta": row["eta"].isoformat() if row["eta"] else None})
        queue_notification(conn, customer_id=row["customer_id"], device_id=row["device_id"],
                           incident_id=row["incident_id"], at=at, kind="eta_changed",
                           message=Message("notify.etaChanged", {"technician": tech.name, "eta": eta,
                                                                 "device": row["device_name"]}))

    # --- nearest (fallback) -----------------------------------------------------------------------------

    def _tick_nearest(self, conn: psycopg.Connection) -> int:
        now = self._clock.now()
        at = to_datetime(now)
        count = 0
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            orders = cur.execute(Q.unassigned_work_orders).fetchall()
            if not orders:
                return 0
            techs = [FreeTechnician(r["id"], r["code"], r["name"], frozenset(r["skills"]), r["lat"], r["lon"])
                     for r in cur.execute(Q.free_technicians).fetchall()]
            for order in orders:
                choice = nearest_qualified(order["required_skills"], order["lat"], order["lon"], techs,
                                           road_factor=self._settings.road_factor,
                                           speed_kmh=self._settings.speed_kmh)
                if choice is None:
                    continue
                tech, seconds = choice
                start = appointment_start(_window(order), now + seconds, now)
                if start is None:  # the customer's window is not near yet: nobody is sent to wait at the door
                    continue
                techs.remove(tech)
                eta = to_datetime(start)
                cur.execute(Q.assign, {"technician_id": tech.id, "at": at, "eta": eta,
                                       "work_order_id": order["id"]})
                cur.execute(Q.set_technician_state, {"state": "travelling", "technician_id": tech.id})
                audit.record(conn, DISPATCH_ACTOR, "dispatch.assign", "work_order", str(order["id"]),
                             {"technician": tech.code, "eta": eta.isoformat(), "planner": "nearest"}, at=at)
                late = eta > order["onsite_due"]
                record_timeline(conn, customer_id=order["customer_id"], device_id=order["device_id"], at=at,
                                kind="technician_assigned", message=assigned_message(tech.name, eta, late),
                                incident_id=order["incident_id"],
                                work_order_id=order["id"],
                                data={"technician": tech.code, "eta": eta.isoformat(), "travel_s": round(seconds),
                                      "planner": "nearest"})
                queue_notification(conn, customer_id=order["customer_id"], device_id=order["device_id"],
                                   incident_id=order["incident_id"], at=at, kind="technician_assigned",
                                   message=Message("notify.assigned", {"technician": tech.name, "eta": eta,
                                                                       "device": order["device_name"]}))
                log.info("work order assigned", extra={"work_order_id": order["id"], "technician": tech.code,
                                                       "eta": eta.isoformat(), "late": late})
                count += 1
        self.assigned += count
        return count


def assigned_message(technician: str, eta: datetime, late: bool) -> Message:
    """The timeline's "assigned, arriving at" in the reader's language and zone (English/UTC in ``summary``)."""
    return Message("summary.assigned", {"technician": technician, "eta": eta, "late": "yes" if late else "no"})


def _window(order: dict) -> tuple[float, float] | None:
    """The customer's window of an order row (epoch seconds), or None."""
    if order["appointment_start"] is None or order["appointment_end"] is None:
        return None
    return order["appointment_start"].timestamp(), order["appointment_end"].timestamp()


def _export_metrics(problem: Problem, plan: Plan) -> None:
    """Plan age and, per tier, the jobs this plan brings on site after their deadline (or not at all)."""
    metrics.mark_plan_computed()
    arrival = {stop.job_id: stop.start for stops in plan.routes.values() for stop in stops if stop.job_id}
    at_risk: dict[str, int] = {}
    for job in problem.jobs:
        if job.onsite_deadline is None:
            continue
        start = arrival.get(job.id)
        if start is None or start > job.onsite_deadline:
            at_risk[job.tier] = at_risk.get(job.tier, 0) + 1
    for tier in ("key", "gold", "standard", "bronze"):
        metrics.SLA_AT_RISK.labels(tier).set(at_risk.get(tier, 0))
