"""The daily replenishment review runs in the product (issue #16): the planner process (`quietfix plan`, and the
demo's planner thread) turns the advice into proposed orders once per review period, audited as the process, and a
person still approves them. Real database, the orders-test world (a depot short of two parts)."""

from __future__ import annotations

import psycopg
import pytest

from core.clock import ManualClock
from core.db import connect
from core.settings import SparesSettings
from planning.planner_loop import PreventivePlanner
from quietfix.seed import seed
from spares.proposer import PROPOSER
from tests.spares.test_orders_integration import short_depot

pytestmark = pytest.mark.integration
DAY = 86_400.0


def _orders(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    return [(k, s, b) for k, s, b in conn.execute(
        "SELECT kind, status, proposed_by FROM replenishment_orders ORDER BY id")]


def test_the_planner_proposes_the_advice_once_per_review_period_and_a_person_still_decides(
        db_url: str, conn: psycopg.Connection) -> None:
    seed(conn, devices=4, technicians=2, users=False, spares=True)
    short_depot(conn)
    conn.commit()
    start = float(conn.execute("SELECT extract(epoch FROM now())").fetchone()[0])  # type: ignore[index]
    clock = ManualClock(start)
    planner = PreventivePlanner(lambda: connect(db_url, autocommit=True), clock, spares=SparesSettings())

    with connect(db_url, autocommit=True) as c:
        first = planner.tick(c)
    made = _orders(conn)
    assert first["replenishment_proposed"] == len(made) > 0
    assert {"transfer", "purchase"} <= {k for k, _, _ in made}  # Depot South's excess A moves; B must be bought
    assert all(s == "proposed" and b == PROPOSER.name for _, s, b in made)  # proposed only: nobody approved
    audited = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'spares.order.propose' AND actor = %s",
                           (PROPOSER.name,)).fetchone()[0]  # type: ignore[index]
    assert audited == len(made)

    clock.advance(6 * 3600)  # later the same day: not due again, even with a suggestion still open
    conn.execute("UPDATE replenishment_orders SET status = 'rejected', decided_at = now(), decided_by = 'test'")
    conn.commit()
    with connect(db_url, autocommit=True) as c:
        assert planner.tick(c)["replenishment_proposed"] == 0

    clock.advance(DAY)  # next review: the rejected suggestions are proposed again, for a person to decide
    with connect(db_url, autocommit=True) as c:
        assert planner.tick(c)["replenishment_proposed"] == len(made)

    without = PreventivePlanner(lambda: connect(db_url, autocommit=True), clock)
    with connect(db_url, autocommit=True) as c:
        assert "replenishment_proposed" not in without.tick(c)  # no spares settings, no review
