"""The daily replenishment review as a process step: once per review period the running product turns the
advice into proposed orders by itself, and a person approves them on the spares page.

Why: the advice became orders only when a dispatcher pressed "Propose" (issue #16 item 4), while
``bench.spares_month`` measures a policy that reviews every night. Now the product does the review on the
shared clock (``quietfix plan`` and the demo run it beside the preventive planner); approving stays a person's
decision, which is what the benchmark assumes a dispatcher does with each night's proposals.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from core.audit import Actor
from core.settings import SparesSettings
from spares import orders
from spares.repository import SparesRepository

PROPOSER = Actor("process:replenishment")
DAY_S = 86_400.0


def propose_if_due(conn: psycopg.Connection, now: float, settings: SparesSettings | None = None,
                   timezone: str = "UTC") -> list[int]:
    """Propose today's orders if the review is due (``review_due``); returns the new order ids (empty when not
    due, or when every suggestion is already an open order). The caller commits.

    The due check reads the orders table, not process memory, so a restarted or second planner does not
    review twice in one period."""
    s = settings or SparesSettings()
    row = conn.execute(SparesRepository(conn).q["last_proposal_by"], {"by": PROPOSER.name}).fetchone()
    last = row[0] if row is not None else None
    if not review_due(last, now, s, ZoneInfo(timezone)):
        return []
    return orders.propose(conn, now, PROPOSER, s)


def review_due(last: float | None, now: float, s: SparesSettings, zone: ZoneInfo) -> bool:
    """Due when nothing was reviewed yet; else, with ``review_time`` set, when the last review came before the
    latest occurrence of that time of day in ``zone``; else once ``review_days`` have passed since it."""
    if last is None:
        return True
    if s.review_time is None:
        return now - float(last) >= s.review_days * DAY_S
    hour, minute = (int(x) for x in s.review_time.split(":"))
    local = datetime.fromtimestamp(now, zone)
    moment = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if moment > local:
        moment -= timedelta(days=1)
    return float(last) < moment.timestamp()
