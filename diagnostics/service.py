"""The diagnose loop: scan recent telemetry, open one incident per asset and fault, create the work order.

This is the foundation's detector: a threshold with a minimum duration, evaluated in SQL over the last window
of clock time. A rule fires only when *every* reading of the signal in the last ``min_duration_s`` is beyond the
limit and the readings cover that span, so a single spike never opens an incident.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import psycopg

from core.clock import Clock, to_datetime
from core.events import queue_notification, record_timeline
from core.settings import DiagnosticsSettings
from diagnostics import repository as repo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThresholdRule:
    signal: str
    op: str  # "above" or "below"
    limit: float
    min_duration_s: float
    fault_mode: str
    severity: int
    skills: tuple[str, ...]
    repair_minutes: int
    equipment_types: tuple[str, ...] = ("pump", "chiller", "compressor")

    def fires(self, lo: float, hi: float) -> bool:
        return lo > self.limit if self.op == "above" else hi < self.limit


# Limits from common practice: ISO 10816 puts > 7.1 mm/s RMS in the "unacceptable" zone for medium machines;
# class F motor insulation is rated 155 °C with the housing typically < 90 °C; a pump at under half its
# nominal 4 bar is leaking or not pumping. Two minutes of persistence rules out start-up transients.
DEFAULT_RULES: tuple[ThresholdRule, ...] = (
    ThresholdRule("vibration_mm_s", "above", 7.1, 120, "bearing_wear", 2, ("mechanical",), 120),
    ThresholdRule("motor_temp_c", "above", 95.0, 120, "overheating", 2, ("electrical",), 90,
                  ("pump", "compressor")),
    ThresholdRule("discharge_temp_c", "above", 115.0, 120, "overheating", 2, ("mechanical",), 90, ("compressor",)),
    ThresholdRule("supply_temp_c", "above", 12.0, 180, "refrigerant_leak", 2, ("refrigeration",), 150, ("chiller",)),
    ThresholdRule("pressure_bar", "below", 2.0, 120, "seal_leak", 3, ("mechanical",), 120, ("pump",)),
)

# Tier → (response, on site, repair) deadlines in seconds; key accounts get the tightest promise.
SLA_BY_TIER: dict[str, tuple[float, float, float]] = {
    "key": (10 * 60, 90 * 60, 12 * 3600),
    "gold": (15 * 60, 2 * 3600, 24 * 3600),
    "standard": (15 * 60, 2 * 3600, 24 * 3600),
    "bronze": (30 * 60, 4 * 3600, 48 * 3600),
}


class DiagnoseLoop:
    def __init__(self, connect: Callable[[], psycopg.Connection], settings: DiagnosticsSettings, clock: Clock,
                 rules: tuple[ThresholdRule, ...] = DEFAULT_RULES) -> None:
        self._connect = connect
        self._settings = settings
        self._clock = clock
        self._rules = rules
        self.incidents_opened = 0

    def run(self, stop: threading.Event) -> None:
        conn: psycopg.Connection | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = self._connect()
                self.tick(conn)
            except psycopg.Error as exc:
                log.warning("diagnose pass failed; retrying", extra={"error": str(exc).strip()[:200]})
                if conn is not None:
                    conn.close()
                conn = None
            stop.wait(self._settings.poll_interval_s)
        if conn is not None:
            conn.close()

    def tick(self, conn: psycopg.Connection) -> int:
        """One detection pass; returns the number of incidents opened. Commits its own transaction."""
        now = self._clock.now()
        opened = 0
        with conn.transaction():
            # Each rule is judged over exactly its own minimum duration, one query per distinct duration.
            for duration in sorted({r.min_duration_s for r in self._rules}):
                rules = [r for r in self._rules if r.min_duration_s == duration]
                signals = sorted({r.signal for r in rules})
                stale = timedelta(seconds=self._settings.stale_after_s)
                for stat in repo.window_stats(conn, to_datetime(now), timedelta(seconds=duration), stale, signals):
                    for rule in rules:
                        if self._rule_fires(rule, stat):
                            opened += self._open(conn, rule, stat, now)
        self.incidents_opened += opened
        return opened

    @staticmethod
    def _rule_fires(rule: ThresholdRule, stat: repo.WindowStat) -> bool:
        if rule.signal != stat.signal or stat.equipment_type not in rule.equipment_types or stat.n < 3:
            return False
        # The readings must span (almost) the whole minimum duration: 80 % tolerates a missing sample at the edge.
        covered = (stat.last_ts - stat.first_ts).total_seconds() >= 0.8 * rule.min_duration_s
        return covered and rule.fires(stat.lo, stat.hi)

    def _open(self, conn: psycopg.Connection, rule: ThresholdRule, stat: repo.WindowStat, now: float) -> int:
        ctx = repo.device_context(conn, stat.device_id)
        if ctx is None:
            return 0
        response_s, onsite_s, repair_s = SLA_BY_TIER.get(ctx.tier, SLA_BY_TIER["standard"])
        at = to_datetime(now)
        value = stat.lo if rule.op == "above" else stat.hi
        summary = (f"{rule.fault_mode.replace('_', ' ')} suspected on {ctx.name}: {rule.signal} "
                   f"{rule.op} {rule.limit:g} for {rule.min_duration_s:.0f} s")
        incident_id = repo.open_incident(
            conn, device_id=ctx.id, customer_id=ctx.customer_id, fault_mode=rule.fault_mode,
            detector="threshold", severity=rule.severity, status="work_order", summary=summary,
            evidence={"signal": rule.signal, "op": rule.op, "limit": rule.limit, "worst": value,
                      "window_start": stat.first_ts.isoformat(), "window_end": stat.last_ts.isoformat(),
                      "readings": stat.n},
            opened_at=at, response_due=at + timedelta(seconds=response_s),
            onsite_due=at + timedelta(seconds=onsite_s), repair_due=at + timedelta(seconds=repair_s))
        if incident_id is None:
            return 0
        work_order_id = repo.create_work_order(
            conn, incident_id=incident_id, device_id=ctx.id, customer_id=ctx.customer_id,
            required_skills=list(rule.skills), estimated_minutes=rule.repair_minutes, lat=ctx.lat, lon=ctx.lon,
            created_at=at, onsite_due=at + timedelta(seconds=onsite_s))
        record_timeline(conn, customer_id=ctx.customer_id, device_id=ctx.id, at=at, kind="incident_opened",
                        summary=summary, incident_id=incident_id, work_order_id=work_order_id)
        queue_notification(conn, customer_id=ctx.customer_id, device_id=ctx.id, incident_id=incident_id, at=at,
                           kind="incident_detected", subject=f"We detected a problem on {ctx.name}",
                           body=f"We detected {rule.fault_mode.replace('_', ' ')} on {ctx.name}. "
                                f"A technician is being dispatched; we will tell you the arrival time.")
        log.info("incident opened", extra={"incident_id": incident_id, "device_id": ctx.id,
                                           "work_order_id": work_order_id, "fault_mode": rule.fault_mode})
        return 1
