"""The demo's stores clerk: approves each review's proposed replenishment orders and books goods in on arrival.

Why: the product proposes replenishment by itself (``spares.proposer``, the daily review) and a person approves
it on the spares page. In the demo nobody did, so nothing proposed ever reached the stock: no depot was restocked
from the warehouse and no van refilled (the depots went from 114 to 82 units in one 24-hour ``bench.live_day``
run). This stands in for that person, the way the field simulation stands in for the technicians' phones, and
it goes through the product's own order flow (``spares.orders.decide`` and ``receive``, each audited under
``sim:stores-clerk``): a transfer is received when its shipment's ETA has passed, a purchase after the
supplier's lead time (``purchase_lead_s``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from core.audit import Actor
from core.clock import Clock
from core.loops import run_polling
from core.settings import SparesSettings
from spares import orders
from spares.errors import InsufficientStock
from spares.proposer import propose_if_due

log = logging.getLogger(__name__)

CLERK = Actor("sim:stores-clerk")


@dataclass
class ClerkTally:
    approved: int = 0
    rejected: int = 0
    received: int = 0


class StoresClerk:
    """One pass per ``every_s`` wall seconds on ``clock``'s time: approve what is proposed, receive what is due."""

    def __init__(self, connect: Callable[[], psycopg.Connection], clock: Clock, *, every_s: float = 1.0,
                 purchase_lead_s: float = 2 * 86_400.0, review: SparesSettings | None = None,
                 timezone: str = "UTC") -> None:
        """``review``: also run the daily replenishment review (``spares.proposer``) with these settings, for a
        run without the planner process that normally does it (``bench.live_day --replenishment``)."""
        self._connect = connect
        self._review = review
        self._timezone = timezone
        self._clock = clock
        self._every_s = every_s
        self._purchase_lead_s = purchase_lead_s

    def tick(self, conn: psycopg.Connection) -> ClerkTally:
        now = self._clock.now()
        done = ClerkTally()
        if self._review is not None:
            with conn.transaction():
                propose_if_due(conn, now, self._review, self._timezone)
        for o in orders.orders(conn, "proposed"):
            try:
                with conn.transaction():  # one decision per transaction, as a person's clicks would be
                    orders.decide(conn, int(o["id"]), True, now, CLERK)
                done.approved += 1
            except InsufficientStock:
                # The source gave the units to jobs since the review: a person would reject it, and the next
                # review proposes what is still short (else this order would block every pass after it).
                with conn.transaction():
                    orders.decide(conn, int(o["id"]), False, now, CLERK)
                done.rejected += 1
        for o in orders.orders(conn, "approved"):
            if o["kind"] == "transfer":
                due = o["shipment_eta"].timestamp() if o["shipment_eta"] is not None else now
            else:
                due = o["decided_at"].timestamp() + self._purchase_lead_s
            if due <= now:
                with conn.transaction():
                    orders.receive(conn, int(o["id"]), now, CLERK)
                done.received += 1
        if done.approved or done.rejected or done.received:
            log.info("stores clerk", extra={"approved": done.approved, "rejected": done.rejected,
                                            "received": done.received})
        return done

    def run(self, stop: threading.Event) -> None:
        run_polling("stores clerk", self._connect, self.tick, stop, self._every_s)
