"""The diagnose loop on the real database: one incident per asset and fault, a work order, an outbox entry."""

from datetime import timedelta

import psycopg
import pytest

from core.clock import ManualClock, to_datetime
from core.settings import DiagnosticsSettings
from diagnostics import DiagnoseLoop
from quietfix.seed import seed

pytestmark = pytest.mark.integration


def write_series(conn: psycopg.Connection, device_id: str, signal: str, start: float, values: list[float]) -> None:
    """What ingest writes: the readings and the latest value per signal."""
    rows = [(device_id, signal, to_datetime(start + i), v) for i, v in enumerate(values)]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO telemetry (device_id, signal, ts, value) VALUES (%s, %s, %s, %s)", rows)
        cur.execute("INSERT INTO telemetry_latest VALUES (%s, %s, %s, %s)", rows[-1])


@pytest.fixture()
def region(conn: psycopg.Connection):
    devices = seed(conn, devices=3, technicians=2, users=False)
    conn.execute("SELECT quietfix_ensure_partitions(now() - interval '400 days', now() + interval '1 day')")
    conn.commit()
    return devices


def test_sustained_vibration_opens_one_incident_with_work_order_and_notification(db_url, conn, region) -> None:
    pump = next(d for d in region if d.equipment_type == "pump")
    clock = ManualClock()
    t0 = clock.now() - 200
    write_series(conn, pump.device_id, "vibration_mm_s", t0, [2.0] * 50 + [9.0] * 150)
    write_series(conn, region[1].device_id, "vibration_mm_s", t0, [2.0] * 120 + [30.0] + [2.0] * 79)  # spike only
    conn.commit()
    loop = DiagnoseLoop(lambda: psycopg.connect(db_url, autocommit=True), DiagnosticsSettings(), clock)
    with psycopg.connect(db_url, autocommit=True) as c:
        assert loop.tick(c) == 1
        assert loop.tick(c) == 0  # deduplicated: still one open incident for this asset and fault
    rows = conn.execute("SELECT device_id, customer_id, fault_mode, status, onsite_due - opened_at FROM incidents"
                        ).fetchall()
    assert len(rows) == 1
    device_id, customer_id, fault_mode, status, onsite = rows[0]
    assert (device_id, customer_id, fault_mode, status) == (pump.device_id, pump.customer_id, "bearing_wear",
                                                            "work_order")
    tier = conn.execute("SELECT tier FROM customers WHERE id = %s", (customer_id,)).fetchone()[0]
    assert onsite == (timedelta(minutes=90) if tier == "key" else timedelta(hours=4) if tier == "bronze"
                      else timedelta(hours=2))
    wo = conn.execute("SELECT device_id, required_skills, status FROM work_orders").fetchall()
    assert wo == [(pump.device_id, ["mechanical"], "open")]
    kinds = [r[0] for r in conn.execute("SELECT kind FROM notifications WHERE customer_id = %s", (customer_id,))]
    assert kinds == ["incident_detected"]
    timeline = [r[0] for r in conn.execute("SELECT kind FROM timeline_events WHERE device_id = %s",
                                           (pump.device_id,))]
    assert timeline == ["incident_opened"]
