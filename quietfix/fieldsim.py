"""Simulated technicians for the demo and bench.live_day: a field that can fail.

In production these transitions come from the technician's phone; here they come from the clock, through the
same dispatch functions (depart, mark_arrived, complete, complete_unfixed), so the demo exercises the real
lifecycle, return visits included. What varies (``FieldModel``):

* travel: the planner's estimate times a log-normal factor (traffic is never what the model says);
* repair: the work order's estimate times a log-normal factor;
* first visits fail now and then: the wrong part on the van, or the fault was not the one diagnosed; the visit
  ends unfixed and a return visit (a new work order on the same incident) goes back into dispatch;
* technicians work shifts with breaks (``apply_roster``: day shifts, or four crews round the clock): nobody
  sets off while off shift or on a break;
* a visit reports a structured outcome as a technician would (issue #16 item 6): the fault mode *found* is the
  device's true fault (the simulated fleet's ground truth, ``true_fault``), not the diagnosis, and the fix code is
  one the fix_codes list gives for that mode. Without a ground truth (no fleet) the found mode is left unknown,
  so the knowledge base learns nothing rather than "as diagnosed".

Every random draw is seeded by (seed, work order), so a restart replays the same field.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from core.clock import Clock, to_datetime
from core.loops import run_polling
from core.sql import Queries
from dispatch import Location, StraightLineProvider, complete, complete_unfixed, depart, mark_arrived
from kpis.definitions import on_duty
from kpis.models import TechnicianFacts

log = logging.getLogger(__name__)
Q = Queries(__file__)


@dataclass(frozen=True)
class FieldModel:
    """How the simulated field deviates from the plan. The defaults are the demo's; ``exact()`` is the old
    behaviour (arrive at the ETA, finish on the estimate, always fix)."""

    # Log-normal sigma of actual/planned: 0.25 puts ~90 % of drives within -34 %..+51 % of the estimate.
    travel_sigma: float = 0.25
    # Repairs vary more than drives: 0.35 gives the long tail a field-service manager recognises.
    repair_sigma: float = 0.35
    # First visits that fail: industry first-time-fix rates are 75-90 %, so ~12 % fail between the two causes.
    wrong_part_rate: float = 0.07
    wrong_diagnosis_rate: float = 0.05
    road_factor: float = 1.3
    speed_kmh: float = 40.0
    seed: int = 7

    @classmethod
    def exact(cls) -> FieldModel:
        return cls(travel_sigma=0.0, repair_sigma=0.0, wrong_part_rate=0.0, wrong_diagnosis_rate=0.0)


def _draws(model: FieldModel, work_order_id: int) -> tuple[float, float, float]:
    rng = random.Random(f"{model.seed}-{work_order_id}")
    return (rng.lognormvariate(0.0, model.travel_sigma), rng.lognormvariate(0.0, model.repair_sigma), rng.random())


def outcome_of(model: FieldModel, work_order_id: int, visit_no: int) -> str:
    """First visits fail at the model's rates; a return visit brings what was missing and fixes it."""
    u = _draws(model, work_order_id)[2]
    if visit_no > 1:
        return "fixed"
    if u < model.wrong_part_rate:
        return "wrong_part"
    if u < model.wrong_part_rate + model.wrong_diagnosis_rate:
        return "wrong_diagnosis"
    return "fixed"


def _tech(row: dict[str, Any]) -> TechnicianFacts:
    breaks = tuple((time.fromisoformat(str(b["start"])), int(b["minutes"])) for b in row["breaks"])
    return TechnicianFacts(int(row["technician_id"]), row["code"], "", frozenset(), row["shift_start"],
                           row["shift_end"], breaks)


class FieldSimulator:
    def __init__(self, connect: Callable[[], psycopg.Connection], clock: Clock,
                 on_repaired: Callable[[str], object] | None = None, poll_s: float = 0.5,
                 model: FieldModel | None = None, timezone: str = "UTC",
                 true_fault: Callable[[str], str | None] | None = None) -> None:
        self._connect = connect
        self._true_fault = true_fault
        self._clock = clock
        self._on_repaired = on_repaired
        self._poll_s = poll_s
        self.model = model or FieldModel.exact()
        self._tz = ZoneInfo(timezone)
        self._travel = StraightLineProvider(self.model.road_factor, self.model.speed_kmh)
        self.failed_visits = 0
        # When each en-route technician arrives, fixed once (at departure, or when first seen en route after a
        # restart). Why: the re-plan moves an en-route job's ETA when the technician is late, and recomputing the
        # arrival from the moved ETA times the same >1 travel factor put it past the new ETA again, every time: a
        # technician set off at 08:18 for a 40-min drive "arrived" at 14:41 (bench.live_day seed 3, issue #14).
        self._arrive_at: dict[int, datetime | None] = {}

    def _arrival(self, row: dict[str, Any]) -> datetime | None:
        """When an en-route technician reaches the site: the nominal drive from where they set off (at least
        the plan's ETA minus departure, which covers depot pick-ups) times this work order's travel factor. The
        technician's position is their last site until they arrive, so it is where they set off from."""
        if row["departed_at"] is None:
            return row["eta"]
        start = row["departed_at"].timestamp()
        drive = self._travel.matrix([Location(row["from_lat"], row["from_lon"]), Location(row["lat"], row["lon"])],
                                    start)[0][1]
        planned = max(drive, (row["eta"].timestamp() - start) if row["eta"] else 0.0)
        return to_datetime(start + planned * _draws(self.model, int(row["id"]))[0])

    def _finish(self, row: dict[str, Any]) -> datetime:
        minutes = row["estimated_minutes"] * _draws(self.model, int(row["id"]))[1]
        return row["arrived_at"] + timedelta(minutes=minutes)

    def tick(self, conn: psycopg.Connection) -> tuple[int, int]:
        now = to_datetime(self._clock.now())
        repaired: list[str] = []
        arrived = 0
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(Q.field_orders).fetchall()
            busy = {r["technician_id"] for r in rows if r["status"] in ("en_route", "on_site")}
            for r in rows:  # ordered by technician, then ETA: the first assigned job is the next stop
                if r["status"] != "assigned" or r["technician_id"] in busy:
                    continue
                zone = ZoneInfo(r["timezone"]) if r["timezone"] else self._tz  # shifts are the technician's local time
                if not on_duty(_tech(r), now.timestamp(), now.timestamp() + 1.0, zone):
                    continue  # off shift or on a break: sets off when back
                busy.add(r["technician_id"])
                depart(conn, int(r["id"]), now)
            rows = cur.execute(Q.field_orders).fetchall()
            en_route = {int(r["id"]) for r in rows if r["status"] == "en_route"}
            self._arrive_at = {k: v for k, v in self._arrive_at.items() if k in en_route}
            for r in rows:
                if r["status"] == "en_route":
                    if int(r["id"]) not in self._arrive_at:
                        self._arrive_at[int(r["id"])] = self._arrival(r)
                    at = self._arrive_at[int(r["id"])]
                    if at is not None and at <= now:
                        arrived += mark_arrived(conn, int(r["id"]), at)
                elif r["status"] == "on_site" and self._finish(r) <= now:
                    # Recorded now, not at the drawn finish (up to one tick earlier): the simulated machine is
                    # repaired below, at this instant, and a completion stamped before it would date the broken
                    # machine's last readings as after the repair (the detectors would learn them as normal).
                    done = now
                    outcome = outcome_of(self.model, int(r["id"]), int(r["visit_no"]))
                    found = self._true_fault(str(r["device_id"])) if self._true_fault else None
                    if outcome == "fixed":
                        code = self._fix_code(cur, found, int(r["id"])) if found else None
                        device_id = complete(conn, int(r["id"]), done, notes="simulated visit", fault_mode=found,
                                             fix_code=code, fix=code)
                        if device_id:
                            repaired.append(device_id)
                    else:
                        complete_unfixed(conn, int(r["id"]), done, outcome=outcome, actor=r["code"],
                                         notes="simulated visit, return visit needed", fault_mode=found)
                        self.failed_visits += 1
                        log.info("visit not fixed", extra={"work_order_id": r["id"], "outcome": outcome})
        for device_id in repaired:
            if self._on_repaired:
                self._on_repaired(device_id)
        return arrived, len(repaired)

    def _fix_code(self, cur: psycopg.Cursor[Any], mode: str, work_order_id: int) -> str:
        """One of the fix codes listed for the mode (seeded by work order: a restart picks the same); "other"
        when the list has none for it."""
        codes = [row["code"] for row in cur.execute(Q.fix_codes_for_mode, {"mode": mode}).fetchall()]
        if not codes:
            return "other"
        return random.Random(f"{self.model.seed}-fix-{work_order_id}").choice(codes)

    def run(self, stop: threading.Event) -> None:
        run_polling("field simulation", self._connect, self.tick, stop, self._poll_s)


ROSTERS = ("day", "round-the-clock")
# Round the clock: four crews on 12-hour shifts, each starting six hours after the previous one, so two crews
# (half the technicians) are always on and no hand-over ends every route at once. Crew = technician index mod 4:
# with the seed's six skill sets (seed.SKILL_SETS, index mod 6) every crew holds every skill.
CREWS = 4
CREW_OFFSET_H = (-1, 5, 11, 17)  # crew starts relative to the run's start: two crews are on at the start


def _shift(i: int, t0: datetime, roster: str) -> tuple[datetime, datetime, datetime]:
    """(start, end, break start) of technician ``i``'s shift, as datetimes in their zone."""
    if roster == "round-the-clock":
        begins = t0 + timedelta(hours=CREW_OFFSET_H[i % CREWS])
        return begins, begins + timedelta(hours=12), begins + timedelta(hours=4, minutes=(i // CREWS) * 70 % 180)
    late = i % 4 == 3
    begins = t0 - timedelta(hours=1) + timedelta(hours=2 * late)
    return begins, t0 + timedelta(hours=13 + 2 * late), t0 + timedelta(hours=3, minutes=(i * 25) % 300)


def apply_roster(conn: psycopg.Connection, start: float, timezone: str = "UTC", roster: str = "day") -> None:
    """Shifts with breaks for the demo's technicians, relative to the run's start (local time of day in each
    technician's zone; ``timezone`` for a technician without one).

    ``day`` (the demo's default): three in four work [start - 1 h, start + 13 h), the rest a late shift two
    hours later; one 30-minute break each between 3 and 8 hours into the run, staggered. Nobody is on for about
    eight hours a night, so a run longer than ~14 h leaves night jobs waiting for the morning (issue #14).

    ``round-the-clock``: four crews on 12-hour shifts starting 1 h before, 5 h, 11 h and 17 h after the start,
    every day (overnight shifts end the next morning), a 30-minute break 4 to 7 hours in. Half the field force
    is on at any hour, so it keeps the promise at night only with enough technicians: with the demo's 12 it
    measured 0.51 on site within 2 h over 24 h and 0.91 over 12 h (bench.live_day, seed 7; docs/kpis.md).
    """
    if roster not in ROSTERS:
        raise ValueError(f"unknown roster {roster!r}: one of {', '.join(ROSTERS)}")
    rows = [(int(r[0]), r[1]) for r in conn.execute("SELECT id, timezone FROM technicians ORDER BY id")]
    for i, (tid, zone) in enumerate(rows):
        t0 = datetime.fromtimestamp(start, ZoneInfo(zone or timezone))  # in the technician's own zone
        begins, ends, pause_at = _shift(i, t0, roster)
        shift_start = begins.time().replace(second=0, microsecond=0)
        shift_end = ends.time().replace(second=0, microsecond=0)
        pause = pause_at.time().replace(second=0, microsecond=0)
        breaks = [{"start": pause.strftime("%H:%M"), "minutes": 30}]
        span = {"start": shift_start.strftime("%H:%M"), "end": shift_end.strftime("%H:%M"), "breaks": breaks}
        conn.execute(Q.set_roster, {"id": tid, "shift_start": shift_start, "shift_end": shift_end,
                                    "breaks": Jsonb(breaks), "pattern": Jsonb({str(d): [span] for d in range(1, 8)})})


def fleet_truth(fleet: Any) -> Callable[[str], str | None]:
    """The simulated fleet's ground truth as the field simulation asks it: the device's active fault mode (the
    earliest-onset one), or None. ``fleet`` is an ``edge_agent.fleet.Fleet`` (typed loosely: the composition
    root owns both)."""
    def truth(device_id: str) -> str | None:
        try:
            agent = fleet.agent(device_id)
        except KeyError:
            return None
        with agent.lock:
            active = sorted(agent.equipment.active_faults, key=lambda f: f.onset_s)
        return active[0].mode if active else None
    return truth
