"""The daily replenishment review as a process step: once per review period the running product turns the
advice into proposed orders by itself, and a person approves them on the spares page.

Why: the advice became orders only when a dispatcher pressed "Propose" (issue #16 item 4), while
``bench.spares_month`` measures a policy that reviews every night. Now the product does the review on the
shared clock (``quietfix plan`` and the demo run it beside the preventive planner); approving stays a person's
decision, which is what the benchmark assumes a dispatcher does with each night's proposals.
"""

from __future__ import annotations

import psycopg

from core.audit import Actor
from core.settings import SparesSettings
from spares import orders
from spares.repository import SparesRepository

PROPOSER = Actor("process:replenishment")
DAY_S = 86_400.0


def propose_if_due(conn: psycopg.Connection, now: float, settings: SparesSettings | None = None) -> list[int]:
    """Propose today's orders if the last automatic review is at least ``review_days`` old; returns the new
    order ids (empty when not due, or when every suggestion is already an open order). The caller commits.

    The due check reads the orders table, not process memory, so a restarted or second planner does not
    review twice in one period."""
    s = settings or SparesSettings()
    row = conn.execute(SparesRepository(conn).q["last_proposal_by"], {"by": PROPOSER.name}).fetchone()
    last = row[0] if row is not None else None
    if last is not None and now - float(last) < s.review_days * DAY_S:
        return []
    return orders.propose(conn, now, PROPOSER, s)
