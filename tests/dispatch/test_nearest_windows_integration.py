"""The loop's nearest-free policy (``planner="nearest"``, the fallback and bench.live_day --policy nearest) on the
real database: a job rescheduled to the customer's window is not given a technician hours before the window,
other work takes the free technicians meanwhile, and when the window comes near the visit is planned inside it."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from core import audit
from core.clock import ManualClock, to_datetime
from core.settings import DispatchSettings
from dispatch import DispatchLoop
from dispatch.baseline import APPOINTMENT_LEAD_S
from dispatch.lifecycle import reschedule
from quietfix.seed import seed
from tests.helpers import open_work_order

pytestmark = pytest.mark.integration


def test_nearest_policy_waits_for_the_customers_window_and_arrives_inside_it(db_url: str,
                                                                            conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=3, technicians=4, users=False)
    clock = ManualClock()
    at = to_datetime(clock.now())
    booked = open_work_order(conn, devices[0].device_id, ["mechanical"], at - timedelta(minutes=30))
    early, late = at + timedelta(hours=3), at + timedelta(hours=4)
    reschedule(conn, booked, earliest=early, latest=late, note="customer on site from 3", actor=audit.Actor("test"),
               at=at)
    walk_in = open_work_order(conn, devices[1].device_id, ["mechanical"], at)
    conn.commit()
    loop = DispatchLoop(lambda: lc, DispatchSettings(planner="nearest"), clock)
    with psycopg.connect(db_url, autocommit=True) as lc:
        assert loop.tick(lc) == 1
        rows = dict(conn.execute("SELECT id, status FROM work_orders WHERE id IN (%s, %s)", (booked, walk_in)))
        assert rows == {booked: "open", walk_in: "assigned"}  # the booked job keeps nobody waiting at the door
        clock.advance(3600)
        assert loop.tick(lc) == 0  # still two hours before the window
        clock.advance(2 * 3600 - APPOINTMENT_LEAD_S + 60)  # the window opens in 14 minutes
        assert loop.tick(lc) == 1
    conn.commit()
    status, eta = conn.execute("SELECT status, eta FROM work_orders WHERE id = %s", (booked,)).fetchone()
    assert status == "assigned" and early <= eta <= late, (eta, early, late)
    data = conn.execute("SELECT data FROM timeline_events WHERE work_order_id = %s AND kind = 'technician_assigned'",
                        (booked,)).fetchone()[0]
    assert data["eta"] == eta.isoformat() and data["planner"] == "nearest"
