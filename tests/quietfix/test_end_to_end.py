"""The whole loop on real components: a simulated device's fault becomes an incident and an assigned work order.

Fleet → Mosquitto → ingest → PostgreSQL → diagnose → dispatch, all on one scaled clock, with one fault injected
on one device and no random faults: the test checks that exactly that device's customer gets an incident and
a work order with a technician, and that nothing else is invented.
"""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from core.clock import ScaledClock
from core.db import connect
from core.mqtt import BrokerAddress
from core.settings import Settings
from diagnostics import DiagnoseLoop
from dispatch import DispatchLoop
from edge_agent import Fleet
from ingest import start_ingest
from quietfix.demo import provision_devices
from quietfix.seed import seed
from tests.helpers import wait_for

pytestmark = pytest.mark.integration
SPEED = 60.0  # one real second = one simulated minute: the 2-minute persistence rule fires within seconds


def test_injected_fault_becomes_incident_and_assigned_work_order(settings: Settings, conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=6, technicians=4, users=False, id_prefix=f"e2e{uuid.uuid4().hex[:6]}-")
    conn.commit()
    specs = provision_devices(settings, devices)
    clock = ScaledClock(SPEED)
    db = lambda: connect(settings.database_url, autocommit=True)
    ingest = start_ingest(settings, clock)
    address = BrokerAddress.from_url(settings.mqtt_url)
    fleet = Fleet(specs, host=address.host, port=address.port, clock=clock.now, seed=3, sample_interval_s=5.0,
                  batch_interval_s=30.0, fault_rate_per_device_hour=0.0)
    stop = threading.Event()
    loops = [threading.Thread(target=DiagnoseLoop(db, settings.diagnostics, clock).run, args=(stop,), daemon=True),
             threading.Thread(target=DispatchLoop(db, settings.dispatch, clock).run, args=(stop,), daemon=True)]
    target = next(d for d in devices if d.equipment_type == "pump")
    try:
        assert ingest.mqtt.connected.wait(10)
        fleet.start()
        for loop in loops:
            loop.start()
        # Healthy running first: nothing may be detected on healthy equipment.
        def reporting() -> int:
            count = conn.execute("SELECT count(DISTINCT device_id) FROM telemetry_latest").fetchone()[0]
            conn.commit()
            return int(count)

        wait_for(lambda: reporting() == 6, timeout_s=30)
        fleet.inject_fault(target.device_id, "bearing_wear", develop_s=60.0)
        wait_for(lambda: (conn.execute("SELECT count(*) FROM work_orders WHERE technician_id IS NOT NULL"
                                       ).fetchone()[0], conn.commit())[0] >= 1, timeout_s=60)
    finally:
        stop.set()
        fleet.stop()
        ingest.stop()
        for loop in loops:
            loop.join(10)
    # Bearing wear heats the motor as it develops, so a second (overheating) incident on the same pump is a
    # true finding; anything on another device would be invented.
    incidents = conn.execute("SELECT device_id, customer_id, fault_mode FROM incidents").fetchall()
    assert {(d, c) for d, c, _ in incidents} == {(target.device_id, target.customer_id)}
    assert "bearing_wear" in {m for _, _, m in incidents}
    orders = conn.execute("SELECT w.device_id, w.customer_id, w.status, t.skills, w.eta > w.created_at, "
                          "i.fault_mode FROM work_orders w JOIN technicians t ON t.id = w.technician_id "
                          "JOIN incidents i ON i.id = w.incident_id").fetchall()
    bearing = [o for o in orders if o[5] == "bearing_wear"]
    assert len(bearing) == 1
    device_id, customer_id, status, skills, eta_after_creation, _ = bearing[0]
    assert (device_id, customer_id, status) == (target.device_id, target.customer_id, "assigned")
    assert "mechanical" in skills and eta_after_creation
    kinds = {r[0] for r in conn.execute("SELECT kind FROM notifications WHERE customer_id = %s",
                                        (target.customer_id,))}
    # the developing fault may get worse while the technician is on the way: the customer is told that too
    assert {"incident_detected", "technician_assigned"} <= kinds <= {"incident_detected", "technician_assigned",
                                                                      "incident_escalated"}
    assert conn.execute("SELECT count(*) FROM notifications WHERE customer_id <> %s",
                        (target.customer_id,)).fetchone()[0] == 0
