"""The dispatch loop: give every open work order the nearest qualified free technician, with an ETA.

This is the foundation's assignment policy (what a human dispatcher does first); the optimiser replaces the
choice, not the loop. Rows are locked with SKIP LOCKED, so two dispatch processes never assign the same
technician or work order twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import psycopg
from psycopg.rows import dict_row

from core.clock import Clock, to_datetime
from core.events import queue_notification, record_timeline
from core.settings import DispatchSettings
from core.sql import Queries
from dispatch.models import Location
from dispatch.travel import haversine_km

log = logging.getLogger(__name__)
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


class DispatchLoop:
    def __init__(self, connect: Callable[[], psycopg.Connection], settings: DispatchSettings, clock: Clock) -> None:
        self._connect = connect
        self._settings = settings
        self._clock = clock
        self.assigned = 0

    def run(self, stop: threading.Event) -> None:
        conn: psycopg.Connection | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = self._connect()
                self.tick(conn)
            except psycopg.Error as exc:
                log.warning("dispatch pass failed; retrying", extra={"error": str(exc).strip()[:200]})
                if conn is not None:
                    conn.close()
                conn = None
            stop.wait(self._settings.poll_interval_s)
        if conn is not None:
            conn.close()

    def tick(self, conn: psycopg.Connection) -> int:
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
                techs.remove(tech)
                eta = at + timedelta(seconds=seconds)
                cur.execute(Q.assign, {"technician_id": tech.id, "at": at, "eta": eta,
                                       "work_order_id": order["id"]})
                cur.execute(Q.set_technician_state, {"state": "travelling", "technician_id": tech.id})
                late = eta > order["onsite_due"]
                summary = f"{tech.name} assigned, arriving {eta:%H:%M} UTC" + (" (after the 2 h target)" if late else "")
                record_timeline(conn, customer_id=order["customer_id"], device_id=order["device_id"], at=at,
                                kind="technician_assigned", summary=summary, incident_id=order["incident_id"],
                                work_order_id=order["id"],
                                data={"technician": tech.code, "eta": eta.isoformat(), "travel_s": round(seconds)})
                queue_notification(conn, customer_id=order["customer_id"], device_id=order["device_id"],
                                   incident_id=order["incident_id"], at=at, kind="technician_assigned",
                                   subject=f"Technician on the way to {order['device_name']}",
                                   body=f"{tech.name} will arrive at {eta:%H:%M} UTC to fix {order['device_name']}.")
                log.info("work order assigned", extra={"work_order_id": order["id"], "technician": tech.code,
                                                       "eta": eta.isoformat(), "late": late})
                count += 1
        self.assigned += count
        return count
