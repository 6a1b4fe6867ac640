"""Timeline summaries stored as a message key + params (migration 0821): the English/UTC summary is kept beside
the message for readers that do not translate, the API hands both out, the message renders in any catalogue
language (zh-CN here) and zone, and rows written before the migration (summary only) stay readable as written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core import audit
from core.clock import ManualClock
from core.events import record_timeline
from core.settings import DiagnosticsSettings, DispatchSettings, Settings
from diagnostics import DiagnoseLoop, LoopPolicy
from dispatch import DispatchLoop
from dispatch.lifecycle import cancel, hold, resume
from i18n import Message, render
from quietfix.seed import seed
from tests.diagnostics.site import open_site
from tests.helpers import login, open_work_order

pytestmark = pytest.mark.integration
AT = datetime(2026, 12, 7, 6, 5, tzinfo=UTC)


def test_messages_are_stored_beside_english_and_render_in_the_readers_language(settings: Settings,
                                                                               conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=2, technicians=1, users=True)
    device = devices[0].device_id
    customer = conn.execute("SELECT customer_id FROM devices WHERE id = %s", (device,)).fetchone()[0]
    record_timeline(conn, customer_id=customer, device_id=device, at=AT, kind="technician_assigned",
                    message=Message("summary.assigned", {"technician": "王伟", "eta": AT + timedelta(minutes=40),
                                                         "late": "yes"}))
    record_timeline(conn, customer_id=customer, device_id=device, at=AT + timedelta(seconds=1),
                    kind="incident_reported",
                    message=Message("summary.reported", {"source": {"key": "common.source.phone", "text": "phone"},
                                                         "text": "pump is loud"}))
    conn.execute("INSERT INTO timeline_events (device_id, customer_id, at, kind, summary) "
                 "VALUES (%s, %s, %s, 'note', 'Written before 0821')", (device, customer, AT + timedelta(seconds=2)))
    with pytest.raises(ValueError):
        record_timeline(conn, customer_id=customer, device_id=device, at=AT, kind="x")
    conn.commit()
    rows = conn.execute("SELECT summary, message FROM timeline_events WHERE device_id = %s ORDER BY at",
                        (device,)).fetchall()
    assert rows[0][0] == "王伟 assigned, arriving 06:45 UTC (after the 2 h target)"
    assert rows[0][1] == {"key": "summary.assigned", "params": {"technician": "王伟", "eta": "2026-12-07T06:45:00+00:00",
                                                               "late": "yes"}}
    assert rows[1][0] == "Reported by phone: pump is loud"
    assert rows[2] == ("Written before 0821", None)
    assert render(rows[0][1], "zh-CN", "Asia/Shanghai").startswith("王伟 已指派，预计 14:45")
    assert render(rows[1][1], "zh-CN", "Asia/Shanghai") == "经电话报告：pump is loud"

    app = create_app(settings)
    app.state.clock = ManualClock(AT.timestamp())
    with TestClient(app) as client:
        events = client.get(f"/api/devices/{device}/timeline", headers=login(client, "dispatcher")).json()
    by_kind = {e["kind"]: e for e in events}
    assert by_kind["technician_assigned"]["message"]["key"] == "summary.assigned"
    assert by_kind["note"]["message"] is None and by_kind["note"]["summary"] == "Written before 0821"


def test_the_nearest_loop_writes_its_assignment_as_a_message(settings: Settings, conn: psycopg.Connection,
                                                             db_url: str) -> None:
    devices = seed(conn, devices=2, technicians=2, users=False)
    clock = ManualClock(AT.timestamp())
    wo = open_work_order(conn, devices[0].device_id, ["mechanical"], AT)
    conn.commit()
    with psycopg.connect(db_url, autocommit=True) as lc:
        assert DispatchLoop(lambda: lc, DispatchSettings(planner="nearest"), clock).tick(lc) == 1
    summary, message, eta = conn.execute(
        "SELECT e.summary, e.message, w.eta FROM timeline_events e JOIN work_orders w ON w.id = e.work_order_id "
        "WHERE e.work_order_id = %s AND e.kind = 'technician_assigned'", (wo,)).fetchone()
    assert message["key"] == "summary.assigned" and message["params"]["late"] == "no"
    assert summary.endswith(f"assigned, arriving {eta.astimezone(UTC):%H:%M} UTC")


def test_lifecycle_transitions_are_written_as_messages(conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=2, technicians=1, users=False)
    wo = open_work_order(conn, devices[0].device_id, ["mechanical"], AT)
    actor = audit.Actor("dispatcher")
    hold(conn, wo, kind="awaiting_parts", note="BRG-6204", actor=actor, at=AT)
    resume(conn, wo, actor=actor, at=AT + timedelta(minutes=30))
    cancel(conn, wo, reason="customer_withdrew", note=None, actor=actor, at=AT + timedelta(minutes=40))
    conn.commit()
    rows = conn.execute("SELECT kind, summary, message FROM timeline_events WHERE work_order_id = %s ORDER BY id",
                        (wo,)).fetchall()
    by_kind = {k: (s, m) for k, s, m in rows}
    summary, message = by_kind["work_order_awaiting_parts"]
    assert summary.startswith("Awaiting parts: BRG-6204 — SLA clock ")
    assert render(message, "zh-CN", "Asia/Shanghai").startswith("等待备件：BRG-6204 — SLA 计时")
    summary, message = by_kind["work_order_cancelled"]
    assert message["params"]["reason"]["key"] == "board.lifecycle.reasonCustomerWithdrew"
    assert not render(message, "zh-CN", "UTC").endswith(message["params"]["reason"]["text"])  # its Chinese name
    assert all(m is not None for _, _, m in rows)


def test_a_detected_incident_carries_its_summary_as_a_message(conn: psycopg.Connection, db_url: str) -> None:
    """The diagnose loop (real detectors, the edge simulator's signals) opens a bearing-wear incident: its summary
    and its timeline entry are messages; English beside them as before."""
    with open_site(conn, db_url, technicians=1) as site:
        clock = site.clock
        loop = DiagnoseLoop(lambda: site.loop_conn, DiagnosticsSettings(), clock, policy=LoopPolicy(silence=False))
        site.run(loop, 1800)
        target = site.pump()
        site.equipment[target].inject("bearing_wear", clock.now(), develop_s=1800)
        site.run(loop, 5400)
    summary, message, name = conn.execute(
        "SELECT i.summary, i.summary_message, d.name FROM incidents i JOIN devices d ON d.id = i.device_id "
        "WHERE i.device_id = %s AND i.fault_mode = 'bearing_wear'", (target,)).fetchone()
    assert message["key"] == "summary.incidentSuspected" and message["params"]["mode"]["key"] == "fault.bearing_wear"
    assert summary.startswith(f"bearing wear suspected on {name} (confidence ")
    assert render(message, "zh-CN", "Asia/Shanghai").startswith(f"{name} 疑似轴承磨损（置信度 ")
    opened = conn.execute("SELECT message FROM timeline_events WHERE device_id = %s AND kind = 'incident_opened'",
                          (target,)).fetchone()[0]
    assert opened == message
