"""GET /api/detection/health (issue #19): the board's view of stalled detection and clock faults; staff only."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import ManualClock, to_datetime
from core.contracts import Sample, TelemetryBatch
from core.settings import Settings
from diagnostics import repository as diag
from ingest.repository import write_batches
from quietfix.seed import seed
from tests.helpers import login

pytestmark = pytest.mark.integration


def batch(device_id: str, t: float) -> TelemetryBatch:
    return TelemetryBatch(device_id, 1, (Sample(round(t * 1000), (("flow_lpm", 100.0),)),))


def test_staff_see_stalled_devices_the_alarm_and_clock_faults(settings: Settings, conn: psycopg.Connection) -> None:
    waiting, skewed, *_ = seed(conn, devices=3, technicians=1, users=True)
    clock = ManualClock()
    now = clock.now()
    conn.execute("SELECT quietfix_ensure_partitions(%s, %s)", (to_datetime(now - 86400), to_datetime(now + 86400)))
    # Diagnose never ran: one device's batch has waited 1000 s; the other's was stamped 23 h ahead.
    write_batches(conn, [batch(waiting.device_id, now - 1010)], to_datetime(now - 1000), clock_skew_max_s=300)
    write_batches(conn, [batch(skewed.device_id, now + 23 * 3600)], to_datetime(now), clock_skew_max_s=300)
    diag.raise_alarm(conn, "detection_stalled", to_datetime(now - 600), {"devices": [waiting.device_id], "count": 1})
    conn.commit()
    settings.diagnostics.stall_alarm_s = 300
    with TestClient(create_app(settings)) as client:
        client.app.state.clock = clock
        assert client.get("/api/detection/health").status_code == 401
        assert client.get("/api/detection/health", headers=login(client, "customer001")).status_code == 403
        body = client.get("/api/detection/health", headers=login(client, "dispatcher")).json()
    assert body["threshold_s"] == 300
    assert [(d["device_id"], d["waiting_s"], d["batches"]) for d in body["stalled"]] == [
        (waiting.device_id, 1000.0, 1), ]  # the skewed device's batch arrived just now: waiting, not stalled
    assert body["alarm"]["detail"]["devices"] == [waiting.device_id]
    assert [(f["device_id"], round(f["offset_s"])) for f in body["clock_faults"]] == [(skewed.device_id, 23 * 3600)]
