"""The API on the real database: authentication, roles, and object-level scope on every resource."""

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import ManualClock, to_datetime
from core.settings import Settings
from quietfix.seed import seed
from tests.dispatch.test_dispatch_integration import open_work_order
from tests.helpers import login

pytestmark = pytest.mark.integration


@pytest.fixture()
def world(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, dict]]:
    devices = seed(conn, devices=6, technicians=2, users=True)
    at = to_datetime(ManualClock().now())
    wo = open_work_order(conn, devices[0].device_id, ["mechanical"], at)
    tech1 = conn.execute("SELECT id FROM technicians WHERE code = 'T01'").fetchone()[0]
    conn.execute("UPDATE work_orders SET technician_id = %s, status = 'assigned', eta = %s WHERE id = %s",
                 (tech1, at + timedelta(minutes=30), wo))
    conn.execute("INSERT INTO telemetry_latest VALUES (%s, 'pressure_bar', %s, 4.1)", (devices[0].device_id, at))
    conn.commit()
    with TestClient(create_app(settings)) as client:
        yield client, {"devices": devices, "wo": wo}


def test_every_data_route_requires_authentication(world) -> None:
    client, w = world
    dev = w["devices"][0].device_id
    for path in ("/api/devices", f"/api/devices/{dev}", f"/api/devices/{dev}/telemetry/latest", "/api/incidents",
                 "/api/work-orders", "/api/technicians", f"/api/devices/{dev}/timeline"):
        assert client.get(path).status_code == 401, path
    assert client.get("/api/devices", headers={"Authorization": "Bearer forged"}).status_code == 401


def test_wrong_password_is_refused(world) -> None:
    client, _ = world
    assert client.post("/api/auth/token", json={"username": "admin", "password": "nope"}).status_code == 401
    assert client.post("/api/auth/token", json={"username": "ghost", "password": "nope"}).status_code == 401


def test_dispatcher_sees_everything(world) -> None:
    client, w = world
    h = login(client, "dispatcher")
    assert len(client.get("/api/devices", headers=h).json()) == 6
    assert len(client.get("/api/technicians", headers=h).json()) == 2
    assert [x["id"] for x in client.get("/api/work-orders", headers=h).json()] == [w["wo"]]
    latest = client.get(f"/api/devices/{w['devices'][0].device_id}/telemetry/latest", headers=h).json()
    assert latest[0]["signal"] == "pressure_bar" and latest[0]["value"] == 4.1


def test_customer_sees_only_their_own_assets(world) -> None:
    client, w = world
    devices = w["devices"]
    h = login(client, "customer001")
    mine = {d.device_id for d in devices if d.customer_id == devices[0].customer_id}
    theirs = [d.device_id for d in devices if d.customer_id != devices[0].customer_id]
    assert {d["id"] for d in client.get("/api/devices", headers=h).json()} == mine
    for device_id in theirs:
        assert client.get(f"/api/devices/{device_id}", headers=h).status_code == 404
        assert client.get(f"/api/devices/{device_id}/telemetry/latest", headers=h).status_code == 404
        assert client.get(f"/api/devices/{device_id}/timeline", headers=h).status_code == 404
    other = login(client, "customer002")
    assert client.get("/api/work-orders", headers=other).json() == []
    assert client.get("/api/incidents", headers=other).json() == []
    assert len(client.get("/api/incidents", headers=h).json()) == 1
    assert client.get("/api/technicians", headers=h).json() == []


def test_technician_sees_only_their_jobs(world) -> None:
    client, w = world
    t1, t2 = login(client, "tech01"), login(client, "tech02")
    assert [x["id"] for x in client.get("/api/work-orders", headers=t1).json()] == [w["wo"]]
    assert client.get("/api/work-orders", headers=t2).json() == []
    assert [d["id"] for d in client.get("/api/devices", headers=t1).json()] == [w["devices"][0].device_id]
    assert client.get(f"/api/devices/{w['devices'][0].device_id}", headers=t2).status_code == 404
    assert [t["code"] for t in client.get("/api/technicians", headers=t1).json()] == ["T01"]


def test_health_reports_storage_path_and_openapi_is_served(world) -> None:
    client, _ = world
    health = client.get("/healthz").json()
    assert health["database"] is True and health["storage"] in ("plain", "timescale")
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["broker"] is True
    assert "/api/incidents" in client.get("/openapi.json").json()["paths"]
    assert client.get("/").status_code == 200
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "python_info" in metrics.text
