"""Dispatch and visits on the real database: the nearest-free fallback planner, ETA, outbox, lifecycle."""

from datetime import timedelta

import psycopg
import pytest

from core.clock import ManualClock, to_datetime
from core.settings import DispatchSettings
from dispatch import DispatchLoop, complete, mark_arrived
from quietfix.seed import seed
from tests.helpers import open_work_order

pytestmark = pytest.mark.integration


def test_assigns_nearest_qualified_free_technician_then_visit_lifecycle(db_url, conn) -> None:
    devices = seed(conn, devices=3, technicians=6, users=False)
    clock = ManualClock()
    at = to_datetime(clock.now())
    wo_refrig = open_work_order(conn, devices[1].device_id, ["refrigeration"], at)
    wo_nobody = open_work_order(conn, devices[2].device_id, ["welding"], at)
    conn.commit()
    with psycopg.connect(db_url, autocommit=True) as c:
        assert DispatchLoop(lambda: c, DispatchSettings(planner="nearest"), clock).tick(c) == 1
    tech_id, status, eta = conn.execute("SELECT technician_id, status, eta FROM work_orders WHERE id = %s",
                                        (wo_refrig,)).fetchone()
    assert status == "assigned" and eta > at
    skills, state = conn.execute("SELECT skills, state FROM technicians WHERE id = %s", (tech_id,)).fetchone()
    assert "refrigeration" in skills and state == "travelling"
    assert conn.execute("SELECT status FROM work_orders WHERE id = %s", (wo_nobody,)).fetchone()[0] == "open"
    notes = [r[0] for r in conn.execute("SELECT kind FROM notifications")]
    assert notes == ["technician_assigned"]
    conn.commit()

    with psycopg.connect(db_url, autocommit=True) as c:
        with c.transaction():
            assert mark_arrived(c, wo_refrig, eta)
            assert not mark_arrived(c, wo_refrig, eta)  # a retried report changes nothing
        with c.transaction():
            assert complete(c, wo_refrig, eta + timedelta(hours=1), fix="valve replaced") == devices[1].device_id
            assert complete(c, wo_refrig, eta + timedelta(hours=1)) is None
    assert conn.execute("SELECT state FROM technicians WHERE id = %s", (tech_id,)).fetchone()[0] == "free"
    inc_status = conn.execute("SELECT i.status FROM incidents i JOIN work_orders w ON w.incident_id = i.id "
                              "WHERE w.id = %s", (wo_refrig,)).fetchone()[0]
    assert inc_status == "resolved_onsite"
