"""The writers that still wrote English only now store their line as a message (migration 0821): preventive
planning (incident summary and timeline), device events from ingest, and the seeded incident history. Each keeps
its English summary beside the message, the API hands the message out, and it reads in Chinese for a zh-CN
reader. (The spares out-of-stock line is checked in tests/spares/test_flow_integration.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import ManualClock, to_datetime
from core.contracts import EventMessage
from core.settings import Settings
from i18n import render
from ingest.events import store_events
from planning import service as planning
from quietfix.seed import seed
from quietfix.seed_history import seed_incident_history
from quietfix.seed_telemetry_history import seed_telemetry
from tests.helpers import login, open_work_order
from tests.planning.test_preventive_work_orders_integration import _predict_failure, one_inspection_due

pytestmark = pytest.mark.integration
ZH = ("zh-CN", "Asia/Shanghai")


def _api(settings: Settings, path: str, at: datetime) -> Any:
    app = create_app(settings)
    app.state.clock = ManualClock(at.timestamp())
    with TestClient(app) as client:
        r = client.get(path, headers=login(client, "dispatcher"))
        assert r.status_code == 200, r.text
        return r.json()


def test_preventive_plans_read_in_chinese(settings: Settings, conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=6, technicians=2, users=True)
    now = to_datetime(ManualClock().now())
    k = one_inspection_due(conn, now, interval_days=90, last_days_ago=88)
    other = next(d for d in devices if d.customer_id != k[1])
    _predict_failure(conn, other.device_id, now, 72)
    out = planning.create_preventive_work_orders(conn, now)
    conn.commit()
    assert {c["reason"] for c in out["created"]} == {"inspection", "rul"}

    incidents = {i["device_id"]: i for i in _api(settings, "/api/incidents", now) if i["source"] == "planning"}
    rul = incidents[other.device_id]
    assert rul["summary_message"]["key"] == "summary.failurePredicted"
    assert rul["summary"].startswith("Predicted bearing wear around ")
    assert render(rul["summary_message"], *ZH).startswith("预测约 ") and "轴承磨损" in render(rul["summary_message"], *ZH)
    inspection = next(i for d, i in incidents.items() if d != other.device_id)
    assert inspection["summary_message"]["key"] == "summary.inspectionDue"
    assert render(inspection["summary_message"], *ZH).startswith("合同 ")

    events = _api(settings, f"/api/devices/{other.device_id}/timeline", now)
    [planned] = [e for e in events if e["kind"] == "preventive_planned"]
    assert planned["message"]["key"] == "summary.preventivePlanned"
    assert planned["message"]["params"]["what"] == rul["summary_message"]  # the plan names what it is for
    assert planned["summary"].startswith(rul["summary"] + "; visit between ")
    zh = render(planned["message"], *ZH)
    assert "轴承磨损" in zh and "；上门时间 " in zh and "visit" not in zh and "Predicted" not in zh


def test_device_events_read_in_chinese(settings: Settings, conn: psycopg.Connection) -> None:
    device = seed(conn, devices=1, technicians=1, users=True)[0].device_id
    at = datetime(2026, 12, 7, 6, 5, tzinfo=UTC)
    t_ms = int(at.timestamp() * 1000)
    assert store_events(conn, [EventMessage(device, 1, t_ms, "alarm_raised", {"signal": "flow_lpm", "value": 3.5}),
                               EventMessage(device, 2, t_ms + 1, "state_changed", {"state": "stopped"}),
                               EventMessage(device, 3, t_ms + 2, "buffer_overflow", {})], at) == 3
    conn.commit()
    events = [e for e in _api(settings, f"/api/devices/{device}/timeline", at) if e["kind"] == "device_event"]
    by_seq = {e["data"]["seq"]: e for e in events}
    assert by_seq[1]["summary"] == f"{device}: alarm on flow_lpm (3.5)"  # English beside it, as before
    assert [render(by_seq[s]["message"], *ZH) for s in (1, 2, 3)] == [
        f"{device}：flow_lpm 报警（3.5）", f"{device}：设备已停止", f"{device}：缓冲区溢出"]


def test_seeded_history_reads_in_chinese(conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=3, technicians=1, users=False)
    now = ManualClock().now()
    assert seed_incident_history(conn, now, weeks=1, mean_per_hour=0.5) > 0
    pumps = [(d.device_id, d.equipment_type) for d in devices]
    assert seed_telemetry(conn, pumps, now, failures_per_type=1, step_s=1800, modes=("bearing_wear",)).failures
    rows = conn.execute("SELECT detector, fault_mode, summary, summary_message FROM incidents").fetchall()
    assert rows and all(m is not None for _, _, _, m in rows)
    for detector, mode, summary, message in rows:
        zh = render(message, *ZH)
        assert summary == render(message, "en", "UTC")
        if detector == "history":
            assert summary == "bearing wear (seeded history)" and zh == "轴承磨损（预置历史）"
        else:
            assert message["params"]["mode"]["key"] == f"fault.{mode}" and zh.startswith("导入的历史记录：")
            assert not any(ch.isascii() and ch.isalpha() for ch in zh), zh  # every fault mode has a Chinese name


def test_dispatcher_pin_lock_release_read_in_chinese(settings: Settings, conn: psycopg.Connection) -> None:
    """The plan controls (api/routes/plans.py) write their timeline line as a message too."""
    device = seed(conn, devices=1, technicians=1, users=True)[0].device_id
    at = datetime(2026, 12, 7, 6, 5, tzinfo=UTC)
    wo = open_work_order(conn, device, ["mechanical"], at)
    tech_id, tech_code = conn.execute("SELECT id, code FROM technicians ORDER BY id LIMIT 1").fetchone()
    conn.commit()
    app = create_app(settings)
    app.state.clock = ManualClock(at.timestamp())
    with TestClient(app) as client:
        staff = login(client, "dispatcher")
        assert client.post(f"/api/work-orders/{wo}/pin", headers=staff, json={"technician_id": tech_id}).is_success
        assert client.post(f"/api/work-orders/{wo}/lock", headers=staff).is_success
        assert client.post(f"/api/work-orders/{wo}/release", headers=staff).is_success
        events = client.get(f"/api/devices/{device}/timeline", headers=staff).json()
    by_kind = {e["kind"]: e for e in events if e["kind"].startswith("dispatch_")}
    assert by_kind["dispatch_pinned"]["summary"] == f"Pinned to {tech_code} by dispatcher"
    assert [render(by_kind[k]["message"], *ZH) for k in ("dispatch_pinned", "dispatch_locked", "dispatch_released")] \
        == [f"由 dispatcher 固定给 {tech_code}", "由 dispatcher 锁定给计划中的技术员", "由 dispatcher 解除固定和锁定"]
