"""Roles of the escalation tiers on the real API: remote technical support (tier 2) and engineering (tier 3) work
their own queues and nothing else; technicians and customers reach an escalation only through their own job.
Every forbidden path is tried."""

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import ManualClock, to_datetime
from core.settings import Settings
from quietfix.seed import DEMO_PASSWORD, seed
from tests.dispatch.test_dispatch_integration import open_work_order
from tests.planning.test_escalation_integration import PHOTO, login

pytestmark = pytest.mark.integration


@pytest.fixture()
def world(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, dict]]:
    """Two escalations on T01's job: one waiting at tier 2, one already handed to tier 3; an unescalated job."""
    devices = seed(conn, devices=4, technicians=2, users=True)
    clock = ManualClock()
    at = to_datetime(clock.now())
    wo = open_work_order(conn, devices[0].device_id, ["mechanical"], at)
    quiet = open_work_order(conn, devices[1].device_id, ["mechanical"], at)
    tech1 = conn.execute("SELECT id FROM technicians WHERE code = 'T01'").fetchone()[0]
    conn.execute("UPDATE work_orders SET technician_id = %s, status = 'on_site' WHERE id = ANY(%s)",
                 (tech1, [wo, quiet]))
    conn.commit()
    app = create_app(settings)
    app.state.clock = clock
    with TestClient(app) as client:
        tech, staff = login(client, "tech01"), login(client, "dispatcher")
        url = f"/api/planning/work-orders/{wo}/escalate"
        first = client.post(url, json={"reason": "noise", "photos": [PHOTO]}, headers=tech).json()
        second = client.post(url, json={"reason": "leak"}, headers=tech).json()
        up = client.post(f"/api/planning/escalations/{second['id']}", json={"action": "escalate"}, headers=staff)
        assert up.status_code == 200, up.text
        yield client, {"wo": wo, "quiet": quiet, "t2": first["id"], "t3": up.json()["next_escalation_id"],
                       "photo": first["evidence"]["photos"][0]["url"], "device": devices[0].device_id,
                       "customer_id": devices[0].customer_id}


def _forbidden_everywhere_else(client: TestClient, h: dict[str, str], w: dict) -> None:
    """What neither escalation desk may do: dispatch, plan, or read customers' data beyond the escalation."""
    for method, path, body in [
        ("GET", "/api/board", None), ("GET", "/api/board/kpis", None), ("GET", "/api/board/routes", None),
        ("POST", f"/api/board/work-orders/{w['quiet']}/assign", {"technician_id": 1}),
        ("POST", f"/api/work-orders/{w['quiet']}/pin", {"technician_id": 1}),
        ("POST", f"/api/work-orders/{w['quiet']}/lock", None), ("GET", "/api/plans/current", None),
        ("GET", "/api/planning/forecast", None), ("GET", "/api/planning/roster", None),
        ("GET", "/api/planning/coverage", None), ("GET", "/api/planning/work-orders", None),
        ("GET", "/api/planning/preventive", None), ("GET", f"/api/planning/customers/{w['customer_id']}/contracts", None),
        ("POST", f"/api/planning/work-orders/{w['quiet']}/escalate", {"reason": "x"}),  # desks answer, not open
        ("POST", f"/api/planning/work-orders/{w['wo']}/escalate", {"reason": "x"}),
        ("GET", "/api/predicted-failures", None), ("GET", "/api/tech/jobs", None), ("GET", "/api/portal/assets", None),
        ("GET", "/api/spares/stock", None), ("GET", "/api/spares/parts", None),
        ("PUT", "/api/knowledge/pump/bearing_wear", {"skills": ["mechanical"]}),
    ]:
        r = client.request(method, path, json=body, headers=h)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    # Object-level: customers' assets, incidents, work orders and contracts are invisible (empty or 404).
    for path in ("/api/devices", "/api/incidents", "/api/work-orders", "/api/technicians"):
        assert client.get(path, headers=h).json() == [], path
    for path in (f"/api/devices/{w['device']}", f"/api/assets/{w['device']}", f"/api/assets/{w['device']}/timeline",
                 f"/api/planning/work-orders/{w['wo']}/contract"):
        assert client.get(path, headers=h).status_code == 404, path
    assert client.post(f"/api/devices/{w['device']}/commands", json={"cmd": "reboot"},
                       headers=h).status_code in (403, 404)


def test_support_works_tier_2_and_hands_on_to_engineering(world) -> None:
    client, w = world
    h = login(client, "support")
    queues = client.get("/api/planning/escalations", headers=h).json()
    assert set(queues) == {"2"} and [e["id"] for e in queues["2"]["items"]] == [w["t2"]]
    assert client.get(w["photo"], headers=h).content.startswith(b"\x89PNG")
    # Tier 3 is engineering's: support neither sees nor acts on it.
    assert client.get(f"/api/planning/escalations/{w['t3']}", headers=h).status_code == 404
    assert client.post(f"/api/planning/escalations/{w['t3']}", json={"action": "acknowledge"},
                       headers=h).status_code == 404
    _forbidden_everywhere_else(client, h, w)
    assert client.post(f"/api/planning/escalations/{w['t2']}", json={"action": "acknowledge"},
                       headers=h).json()["status"] == "acknowledged"
    up = client.post(f"/api/planning/escalations/{w['t2']}", json={"action": "escalate", "resolution": "tried X"},
                     headers=h)
    assert up.status_code == 200 and up.json()["status"] == "escalated"
    new = up.json()["next_escalation_id"]
    assert client.get(f"/api/planning/escalations/{new}", headers=h).status_code == 404  # now engineering's


def test_engineering_works_tier_3_and_reads_tier_2(world) -> None:
    client, w = world
    h = login(client, "engineering")
    queues = client.get("/api/planning/escalations", headers=h).json()
    assert set(queues) == {"2", "3"} and [e["id"] for e in queues["3"]["items"]] == [w["t3"]]
    assert client.get(f"/api/planning/escalations/{w['t2']}", headers=h).status_code == 200
    assert client.get(w["photo"], headers=h).status_code == 200
    for action in ("acknowledge", "resolve", "escalate"):  # tier 2 is read only for engineering
        r = client.post(f"/api/planning/escalations/{w['t2']}", json={"action": action, "resolution": "x"},
                        headers=h)
        assert r.status_code == 403, (action, r.text)
    _forbidden_everywhere_else(client, h, w)
    done = client.post(f"/api/planning/escalations/{w['t3']}",
                       json={"action": "resolve", "resolution": "replace the seal kit", "cause": "seal wear",
                             "fix": "seal kit"}, headers=h)
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert client.post(f"/api/planning/escalations/{w['t3']}", json={"action": "escalate"},
                       headers=h).status_code == 409  # engineering is the last tier


def test_technicians_and_customers_reach_escalations_only_through_their_own_job(world) -> None:
    client, w = world
    for user in ("tech02", "customer001"):  # customer001 owns the asset: escalations are internal all the same
        h = login(client, user)
        assert client.get("/api/planning/escalations", headers=h).status_code == 403, user
        for eid in (w["t2"], w["t3"]):
            assert client.post(f"/api/planning/escalations/{eid}", json={"action": "acknowledge"},
                               headers=h).status_code == 403, user
            assert client.get(f"/api/planning/escalations/{eid}", headers=h).status_code == 404, user
        assert client.get(w["photo"], headers=h).status_code == 404, user
    # The technician on the job reads the answers and the photos, but works no queue.
    tech = login(client, "tech01")
    assert client.get(f"/api/planning/escalations/{w['t3']}", headers=tech).status_code == 200
    assert client.get(w["photo"], headers=tech).status_code == 200
    assert client.post(f"/api/planning/escalations/{w['t2']}", json={"action": "acknowledge"},
                       headers=tech).status_code == 403
    customer = login(client, "customer001")
    assert client.post(f"/api/planning/work-orders/{w['wo']}/escalate", json={"reason": "x"},
                       headers=customer).status_code == 403


def test_desk_users_are_bound_to_nobody(world, conn: psycopg.Connection) -> None:
    """The database refuses a support or engineering user tied to a customer or a technician (their scope would
    otherwise widen through the generic scoped queries)."""
    from api.auth import hash_password

    customer = conn.execute("SELECT id FROM customers ORDER BY id LIMIT 1").fetchone()[0]
    for role in ("support", "engineering"):
        with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
            conn.execute("INSERT INTO users (username, password_hash, role, customer_id) VALUES (%s, %s, %s, %s)",
                         (f"bad-{role}", hash_password(DEMO_PASSWORD), role, customer))
    with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
        conn.execute("INSERT INTO users (username, password_hash, role) VALUES ('x', 'h', 'superuser')")
