"""A completed preventive repair of a predicted failure resolves the prediction: predicted_failures (read by spares
replenishment and the planning job) stops listing it, whether the visit is completed from the phone or otherwise
(the next planning run catches it). Predictions made after the visit, or for another fault mode, stay."""

import uuid
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import ManualClock, to_datetime
from core.settings import Settings
from diagnostics import predicted_failures
from dispatch.visits import complete
from planning import service
from quietfix.seed import seed
from tests.planning.test_escalation_integration import login

pytestmark = pytest.mark.integration


def _predict(conn: psycopg.Connection, device_id: str, at, hours: float, mode: str = "bearing_wear") -> None:
    conn.execute(
        "INSERT INTO rul_estimates (device_id, estimated_at, status, signal, fault_mode, failure_at, "
        "failure_earliest_at, failure_latest_at, rul_s) VALUES (%s, %s, 'degrading', 'vibration_rms', %s, %s, %s, "
        "%s, %s)", (device_id, at, mode, at + timedelta(hours=hours), at + timedelta(hours=hours / 2),
                    at + timedelta(hours=hours * 2), hours * 3600))


def _on_site(conn: psycopg.Connection, work_order_id: int, technician_id: int, at) -> None:
    conn.execute("UPDATE work_orders SET technician_id = %s, status = 'on_site', assigned_at = %s, arrived_at = %s "
                 "WHERE id = %s", (technician_id, at, at, work_order_id))


def _predicted(conn: psycopg.Connection) -> set[str]:
    return {r["device_id"] for r in predicted_failures(conn)}


@pytest.fixture()
def world(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, dict]]:
    devices = seed(conn, devices=4, technicians=2, users=True)
    clock = ManualClock()
    now = to_datetime(clock.now())
    conn.execute("UPDATE contracts SET inspection_interval_days = NULL")  # RUL visits only
    a, b, c, d = (x.device_id for x in devices)
    for dev in (a, b, c):
        _predict(conn, dev, now - timedelta(hours=1), 72)
    _predict(conn, d, now - timedelta(hours=1), 72, mode="seal_leak")
    created = {x["device_id"]: x["work_order_id"] for x in service.create_preventive_work_orders(conn, now)["created"]}
    assert set(created) == {a, b, c, d}
    tech = conn.execute("SELECT id FROM technicians WHERE code = 'T01'").fetchone()[0]
    conn.commit()
    app = create_app(settings)
    app.state.clock = clock
    with TestClient(app) as client:
        yield client, {"now": now, "orders": created, "tech": tech, "devices": (a, b, c, d), "clock": clock}


def test_a_preventive_repair_completed_on_the_phone_resolves_its_prediction(world, conn) -> None:
    client, w = world
    a, b, c, d = w["devices"]
    assert _predicted(conn) == {a, b, c, d}
    wo = w["orders"][a]
    _on_site(conn, wo, w["tech"], w["now"])
    conn.commit()
    w["clock"].advance(1800)
    r = client.post(f"/api/tech/jobs/{wo}/actions", headers=login(client, "tech01"),
                    json={"action_id": str(uuid.uuid4()), "action": "completed", "cause": "bearing wear",
                          "fix": "bearing replaced"})
    assert r.status_code == 200 and r.json()["applied"], r.text
    assert _predicted(conn) == {b, c, d}  # spares and planning stop counting the repaired asset
    status, method, at = conn.execute("SELECT status, method, estimated_at FROM rul_estimates WHERE device_id = %s "
                                      "ORDER BY estimated_at DESC, id DESC LIMIT 1", (a,)).fetchone()
    assert (status, method) == ("learning", "repair") and at > w["now"]
    # The planning run does not resolve it twice, nor plan a new visit for the repaired asset.
    again = service.create_preventive_work_orders(conn, w["now"] + timedelta(hours=1))
    assert again["predictions_resolved"] == [] and again["created"] == []


def test_visits_completed_elsewhere_are_resolved_by_the_next_planning_run(world, conn) -> None:
    _, w = world
    a, b, c, d = w["devices"]
    done_at = w["now"] + timedelta(hours=2)
    for dev in (b, c, d):
        _on_site(conn, w["orders"][dev], w["tech"], w["now"])
        assert complete(conn, w["orders"][dev], done_at, cause="wear", fix="replaced") == dev
    # c was predicted again after its visit (a genuine new prediction): it stays. d's visit was planned for a seal
    # leak, but its latest prediction is now a bearing failure: a different repair, it stays too.
    _predict(conn, c, done_at + timedelta(minutes=30), 48)
    _predict(conn, d, done_at - timedelta(minutes=30), 48, mode="bearing_wear")
    out = service.create_preventive_work_orders(conn, done_at + timedelta(hours=1))
    assert out["predictions_resolved"] == [b]
    assert _predicted(conn) == {a, c, d}
    # c's new prediction is a new due item (its first visit's key is held by the finished order): a second visit.
    assert {(x["device_id"], x["key"]) for x in out["created"]} == {
        (c, f"rul:{c}:bearing_wear:r1"), (d, f"rul:{d}:bearing_wear")}
    assert service.create_preventive_work_orders(conn, done_at + timedelta(hours=2))["created"] == []  # once


def test_the_diagnose_loop_starts_a_preventively_repaired_asset_afresh(conn: psycopg.Connection, db_url: str) -> None:
    """The completed RUL visit is a repair to the diagnose loop too: the asset's detectors and wear model restart
    (the pre-repair trend would otherwise predict the failure again) and the repair is verified from telemetry."""
    from tests.diagnostics.site import CHUNK_S
    from tests.diagnostics.test_live_service_integration import kinds, make_loop, make_site, q

    for site in make_site(conn, db_url):
        loop = make_loop(site)
        site.run(loop, 1800)
        target = site.pump()
        now = to_datetime(site.clock.now())
        conn.execute("UPDATE contracts SET inspection_interval_days = NULL")
        _predict(conn, target, now, 72)
        [order] = service.create_preventive_work_orders(conn, now)["created"]
        tech = conn.execute("SELECT min(id) FROM technicians").fetchone()[0]
        _on_site(conn, order["work_order_id"], tech, now)
        assert complete(conn, order["work_order_id"], now, cause="bearing wear", fix="bearing replaced") == target
        conn.commit()
        before = loop.monitor_state(target)
        site.run(loop, CHUNK_S)
        after = loop.monitor_state(target)
        assert before is not None and after is not None
        # detectors and wear history started afresh with the first reading after the repair
        assert after[1].first_t is not None and before[1].first_t is not None and after[1].first_t > before[1].first_t
        assert q(conn, "SELECT status FROM diagnose_repairs WHERE work_order_id = %s",
                 order["work_order_id"]) == [("verifying",)]
        site.run(loop, 1800)
        assert q(conn, "SELECT status FROM diagnose_repairs WHERE work_order_id = %s",
                 order["work_order_id"]) == [("verified",)]
        assert q(conn, "SELECT status FROM incidents WHERE id = %s", order["incident_id"]) == [("closed",)]
        steps = ["work_completed", "detectors_reset", "repair_verified", "incident_closed"]
        assert [k for k in kinds(site, target) if k in steps] == steps
        assert target not in _predicted(conn)
