"""The preventive planner as a process: ``quietfix plan --every N`` and, through ``PreventivePlanner.run``, any
composition that shares a clock (the demo runs its loops on one scaled clock). Given spares settings, each pass
also runs the daily replenishment review (spares/proposer.py): proposed orders for a person to approve.

Why a class with the clock injected: the planner decided "now" with the wall clock, so in the demo (300x) its
windows of days started hours in the simulated past and its "due within 7 days" was a week of real time
(issue #16 item 3). Every pass now reads the same clock as ingest, diagnose and dispatch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from core.clock import Clock, to_datetime
from core.loops import run_polling
from core.settings import SparesSettings

log = logging.getLogger(__name__)


class PreventivePlanner:
    """One planning pass per ``every_s`` (wall seconds) on ``clock``'s time; ``on_pass`` sees each result."""

    def __init__(self, connect: Callable[[], psycopg.Connection], clock: Clock, *, days: int = 7,
                 every_s: float = 60.0, on_pass: Callable[[dict[str, Any]], None] | None = None,
                 spares: SparesSettings | None = None, timezone: str = "UTC") -> None:
        """``timezone``: the organisation's, for the replenishment review's time of day (review_time)."""
        self._connect = connect
        self._timezone = timezone
        self._spares = spares
        self._clock = clock
        self.days = days
        self.every_s = every_s
        self._on_pass = on_pass
        self.created = 0

    def tick(self, conn: psycopg.Connection) -> dict[str, Any]:
        from planning.service import create_preventive_work_orders

        with conn.transaction():
            out = create_preventive_work_orders(conn, to_datetime(self._clock.now()), days=self.days)
        self.created += len(out["created"])
        if self._spares is not None:
            from spares.proposer import propose_if_due

            with conn.transaction():  # its own transaction: a spares failure does not undo the visits
                out["replenishment_proposed"] = len(propose_if_due(conn, self._clock.now(), self._spares,
                                                                           self._timezone))
        if self._on_pass is not None:
            self._on_pass(out)
        return out

    def run(self, stop: threading.Event) -> None:
        run_polling("preventive planner", self._connect, self.tick, stop, self.every_s)
