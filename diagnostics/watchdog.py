"""The detection watchdog: data that keeps arriving while detection does not look at it must never be silent.

Why outside the diagnose loop: a loop that is stopped, crashed or stuck in a long pass cannot report on itself.
The watchdog only reads what ingest committed and where diagnose's progress cursor stands (both in the database),
so it runs beside the API (`quietfix api`, and the demo), which imports diagnostics anyway. (Not in the ingest
workers: importing diagnostics' numeric stack there slowed a worker's restart by seconds, long enough for the edge
agents' ack back-off to grow past a recovery test's drain.)

Stall of a device = wall seconds its oldest committed batch that diagnose has not evaluated yet has waited
(``ingest_batches.received_at`` after the arrival cursor; 0 when caught up). Wall seconds, not clock seconds: at a
demo's 300x a clock minute is 0.2 s of real waiting. Exported per device (``quietfix_detection_stall_seconds``,
for every device that sent data since the process started) with the count over ``stall_alarm_s``
(``quietfix_detection_stalled_devices``). Any stalled device raises the operational alarm ``detection_stalled``
(one open row in ``ops_alarms``, a WARNING log line, gauge ``quietfix_detection_stall_alarm`` = 1); it clears
(row closed, INFO line, gauge 0) once no device is stalled. Several watchdogs (one per API process) are harmless:
the open alarm is unique per kind, and only the process whose insert or update changed it logs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from core import metrics
from core.clock import Clock, to_datetime
from core.loops import run_polling
from core.settings import DiagnosticsSettings
from diagnostics import repository as repo

log = logging.getLogger(__name__)
ALARM = "detection_stalled"
DETAIL_DEVICES = 20  # devices named in the alarm's detail (the count is always complete)


@dataclass(frozen=True)
class WatchdogReport:
    stalls: dict[str, float]  # device -> wall seconds its oldest unevaluated batch has waited (pending only)
    stalled: tuple[str, ...]  # devices over the threshold, longest waiting first
    alarm: bool  # the alarm is open after this check
    changed: bool  # this check raised or cleared it


def stalled_devices(stalls: dict[str, float], threshold_s: float) -> tuple[str, ...]:
    """Devices waiting longer than the threshold, longest first (pure)."""
    return tuple(sorted((d for d, s in stalls.items() if s > threshold_s), key=lambda d: (-stalls[d], d)))


class DetectionWatchdog:
    def __init__(self, connect: Callable[[], psycopg.Connection], settings: DiagnosticsSettings,
                 clock: Clock) -> None:
        self._connect = connect
        self._settings = settings
        self._clock = clock
        self._seen: set[str] = set()  # devices with a gauge: set to 0 when they catch up, not left stale

    def check(self, conn: psycopg.Connection) -> WatchdogReport:
        """One look: gauges from the pending batches, then raise, refresh or clear the alarm (own transaction)."""
        now = self._clock.now()
        speed = float(getattr(self._clock, "speed", 1.0))
        threshold = self._settings.stall_alarm_s
        with conn.transaction():
            pending = repo.pending_by_device(conn)
            stalls = {d: max(0.0, (now - oldest.timestamp()) / speed) for d, oldest, _ in pending}
            stalled = stalled_devices(stalls, threshold)
            at = to_datetime(now)
            if stalled:
                detail = {"devices": list(stalled[:DETAIL_DEVICES]), "count": len(stalled), "threshold_s": threshold,
                          "max_stall_s": round(stalls[stalled[0]], 1),
                          "pending_batches": sum(n for _, _, n in pending)}
                changed = repo.raise_alarm(conn, ALARM, at, detail)
                if changed:
                    log.warning("detection stalled", extra={"devices": len(stalled), "max_stall_s": detail["max_stall_s"],
                                                            "threshold_s": threshold, "example": stalled[0]})
            else:
                changed = repo.clear_alarm(conn, ALARM, at)
                if changed:
                    log.info("detection caught up", extra={"alarm": ALARM})
        for device_id in self._seen - stalls.keys():
            metrics.DETECTION_STALL.labels(device_id).set(0.0)
        for device_id, waited in stalls.items():
            metrics.DETECTION_STALL.labels(device_id).set(round(waited, 3))
        self._seen |= stalls.keys()
        metrics.DETECTION_STALLED_DEVICES.set(len(stalled))
        metrics.DETECTION_STALL_ALARM.set(1.0 if stalled else 0.0)
        return WatchdogReport(stalls, stalled, bool(stalled), changed)

    def run(self, stop: threading.Event) -> None:
        run_polling("detection watchdog", self._connect, self.check, stop, self._settings.watchdog_every_s)


def start_watchdog(connect: Callable[[], psycopg.Connection], settings: DiagnosticsSettings, clock: Clock,
                   stop: threading.Event) -> threading.Thread:
    """The watchdog on its own daemon thread (until ``stop`` is set)."""
    thread = threading.Thread(target=DetectionWatchdog(connect, settings, clock).run, args=(stop,),
                              name="detection-watchdog", daemon=True)
    thread.start()
    return thread
