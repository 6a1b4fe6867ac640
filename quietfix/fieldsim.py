"""Simulated technicians for the demo: they arrive at the ETA and finish after the estimated repair time.

In production these transitions come from the technician's phone; here they come from the clock, through the
same dispatch functions, so the demo exercises the real lifecycle.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from core.clock import Clock, to_datetime
from core.loops import run_polling
from dispatch import complete, due_arrivals, due_completions, mark_arrived

log = logging.getLogger(__name__)


class FieldSimulator:
    def __init__(self, connect: Callable[[], psycopg.Connection], clock: Clock,
                 on_repaired: Callable[[str], None] | None = None, poll_s: float = 0.5) -> None:
        self._connect = connect
        self._clock = clock
        self._on_repaired = on_repaired
        self._poll_s = poll_s

    def tick(self, conn: psycopg.Connection) -> tuple[int, int]:
        now = to_datetime(self._clock.now())
        repaired: list[str] = []
        with conn.transaction():
            arrived = sum(mark_arrived(conn, wo, now) for wo in due_arrivals(conn, now))
            for wo in due_completions(conn, now):
                device_id = complete(conn, wo, now, cause="as diagnosed", fix="component replaced",
                                     notes="simulated visit")
                if device_id:
                    repaired.append(device_id)
        for device_id in repaired:
            if self._on_repaired:
                self._on_repaired(device_id)
        return arrived, len(repaired)

    def run(self, stop: threading.Event) -> None:
        run_polling("field simulation", self._connect, self.tick, stop, self._poll_s)
