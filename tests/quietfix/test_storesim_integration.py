"""The demo's stores clerk (quietfix/storesim.py) acts on the daily review through the product's order flow:
what is proposed gets approved, a transfer is booked in when its shipment is due, a purchase after the lead time;
each decision audited. Real database, the orders-test world (a depot short of two parts)."""

from __future__ import annotations

import psycopg
import pytest

from core.clock import ManualClock
from core.db import connect
from core.settings import SparesSettings
from quietfix.seed import seed
from quietfix.storesim import CLERK, StoresClerk
from spares.models import Movement, MovementKind
from spares.proposer import propose_if_due
from spares.repository import SparesRepository
from tests.spares.test_orders_integration import short_depot

pytestmark = pytest.mark.integration
DAY = 86_400.0


def _status(conn: psycopg.Connection) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for kind, status in conn.execute("SELECT kind, status FROM replenishment_orders"):
        out.setdefault(kind, set()).add(status)
    conn.commit()
    return out


def test_the_clerk_approves_the_review_and_books_goods_in_when_they_arrive(db_url: str,
                                                                           conn: psycopg.Connection) -> None:
    seed(conn, devices=4, technicians=2, users=False, spares=True)
    world = short_depot(conn)
    conn.commit()
    start = float(conn.execute("SELECT extract(epoch FROM now())").fetchone()[0])  # type: ignore[index]
    clock = ManualClock(start)
    clerk = StoresClerk(lambda: connect(db_url, autocommit=True), clock, purchase_lead_s=2 * DAY,
                        review=SparesSettings())
    noord_b = lambda: conn.execute(
        "SELECT on_hand FROM stock_levels WHERE location_id = %s AND sku = %s", (world["noord"], world["b"])
    ).fetchone()[0]
    before = noord_b()
    conn.commit()

    with connect(db_url, autocommit=True) as c:
        first = clerk.tick(c)
    assert first.approved > 0 and first.received == 0  # reviewed and approved; nothing has arrived yet
    assert _status(conn) == {"transfer": {"approved"}, "purchase": {"approved"}}

    clock.advance(DAY)  # every courier transfer is due within a day; the purchase is not (two days' lead time)
    with connect(db_url, autocommit=True) as c:
        clerk.tick(c)
    assert "received" in _status(conn)["transfer"] and _status(conn)["purchase"] == {"approved"}

    clock.advance(DAY + 60)
    with connect(db_url, autocommit=True) as c:
        clerk.tick(c)
    assert "approved" not in _status(conn)["purchase"] and noord_b() > before  # B was bought and booked in
    actions = {a for (a,) in conn.execute("SELECT DISTINCT action FROM audit_log WHERE actor = %s", (CLERK.name,))}
    assert {"spares.order.approve", "spares.order.receive"} <= actions


def test_an_order_whose_source_emptied_since_the_review_is_rejected_and_the_rest_go_on(
        db_url: str, conn: psycopg.Connection) -> None:
    seed(conn, devices=4, technicians=2, users=False, spares=True)
    world = short_depot(conn)
    conn.commit()
    start = float(conn.execute("SELECT extract(epoch FROM now())").fetchone()[0])  # type: ignore[index]
    with connect(db_url, autocommit=True) as c:
        propose_if_due(c, start, SparesSettings())
    moved = conn.execute("SELECT id, from_location_id, sku FROM replenishment_orders WHERE kind = 'transfer' "
                         "AND from_location_id = %s", (world["zuid"],)).fetchone()
    assert moved is not None  # Depot South's excess of A, proposed to move
    repo = SparesRepository(conn)  # meanwhile South's A went to jobs
    repo.post(Movement(MovementKind.ADJUST_DOWN, world["zuid"], world["a"],
                       repo.level(world["zuid"], world["a"]).on_hand, start, note="fitted"))
    conn.commit()
    clerk = StoresClerk(lambda: connect(db_url, autocommit=True), ManualClock(start + 60))
    with connect(db_url, autocommit=True) as c:
        done = clerk.tick(c)
    assert done.rejected == 1 and done.approved > 0
    statuses = dict(conn.execute("SELECT id, status FROM replenishment_orders").fetchall())
    assert statuses.pop(moved[0]) == "rejected" and set(statuses.values()) == {"approved"}
