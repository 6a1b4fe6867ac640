"""The preventive planner as a running process: ``quietfix plan --every N`` and a thread of ``quietfix demo``.

Both run the same pass (planning.service.create_preventive_work_orders) on the clock they are given, so in the
demo the planner lives on the demo's simulated time like every other loop (it read the wall clock before, which
the demo's accelerated clock leaves behind within minutes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from core.clock import Clock, to_datetime
from core.loops import run_polling

log = logging.getLogger(__name__)

# The planner looks a week ahead; once a simulated hour is often enough for inspections (due by the day) and for
# predicted failures (hours to days of lead), and cheap: one locked pass over contracts and predictions.
DEMO_EVERY_CLOCK_S = 3600.0


class PreventivePlanner:
    """One planning pass per tick, counting what it created (the demo's summary reads ``created``)."""

    def __init__(self, clock: Clock, days: int = 7) -> None:
        self._clock = clock
        self._days = days
        self.created = 0

    def tick(self, conn: psycopg.Connection) -> dict[str, Any]:
        from planning.service import create_preventive_work_orders

        with conn.transaction():
            out = create_preventive_work_orders(conn, to_datetime(self._clock.now()), days=self._days)
        self.created += len(out["created"])
        return out

    def run(self, connect: Callable[[], psycopg.Connection], stop: threading.Event, every_s: float) -> None:
        """Plan every ``every_s`` wall seconds until ``stop``; a database outage delays a pass, never ends it."""
        run_polling("plan", connect, self.tick, stop, every_s)
