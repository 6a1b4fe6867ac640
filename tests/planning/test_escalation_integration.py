"""Escalation through the API: technician -> remote support -> engineering, evidence, clocks, knowledge feedback."""

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import ManualClock, to_datetime
from core.settings import Settings
from quietfix.seed import DEMO_PASSWORD, seed
from tests.dispatch.test_dispatch_integration import open_work_order

pytestmark = pytest.mark.integration


def login(client: TestClient, user: str) -> dict[str, str]:
    r = client.post("/api/auth/token", json={"username": user, "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture()
def world(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, dict]]:
    devices = seed(conn, devices=4, technicians=2, users=True)
    clock = ManualClock()
    at = to_datetime(clock.now())
    wo = open_work_order(conn, devices[0].device_id, ["mechanical"], at)
    tech1 = conn.execute("SELECT id FROM technicians WHERE code = 'T01'").fetchone()[0]
    conn.execute("UPDATE work_orders SET technician_id = %s, status = 'on_site' WHERE id = %s", (tech1, wo))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO telemetry (device_id, signal, ts, value) VALUES (%s, %s, %s, %s)",
                        [(devices[0].device_id, sig, at - timedelta(minutes=m), float(m))
                         for m in range(1, 90, 10) for sig in ("vibration_rms", "temperature")])
    conn.commit()
    app = create_app(settings)
    app.state.clock = clock
    with TestClient(app) as client:
        yield client, {"wo": wo, "clock": clock, "conn": conn}


def test_technician_escalates_with_evidence_and_tiers_answer_on_their_clocks(world) -> None:
    client, w = world
    tech, other, staff = login(client, "tech01"), login(client, "tech02"), login(client, "dispatcher")
    body = {"reason": "bearing noise persists after replacement", "notes": "shaft play 0.3 mm",
            "photos": ["photo://wo/1/a.jpg"], "telemetry_minutes": 60}
    assert client.post(f"/api/planning/work-orders/{w['wo']}/escalate", json=body,
                       headers=other).status_code == 404  # not their job
    r = client.post(f"/api/planning/work-orders/{w['wo']}/escalate", json=body, headers=tech)
    assert r.status_code == 201, r.text
    esc = r.json()
    assert esc["tier"] == 2 and esc["status"] == "open" and esc["clock"]["state"] == "running"
    assert esc["evidence"]["photos"] == body["photos"] and esc["evidence"]["notes"] == body["notes"]
    assert len(esc["evidence"]["telemetry"]["vibration_rms"]) == 6  # the last hour only
    assert client.get(f"/api/planning/escalations/{esc['id']}", headers=tech).status_code == 200
    assert client.get(f"/api/planning/escalations/{esc['id']}", headers=other).status_code == 404
    assert client.get("/api/planning/escalations", headers=tech).status_code == 403

    w["clock"].advance(40 * 60)  # remote support is late
    queues = client.get("/api/planning/escalations", headers=staff).json()
    assert [i["id"] for i in queues["2"]["items"]] == [esc["id"]] and queues["2"]["breached"] == 1
    ack = client.post(f"/api/planning/escalations/{esc['id']}", json={"action": "acknowledge"}, headers=staff)
    assert ack.json()["clock"]["state"] == "late"
    up = client.post(f"/api/planning/escalations/{esc['id']}",
                     json={"action": "escalate", "resolution": "not a bearing issue", "reason": "rotor?"},
                     headers=staff).json()
    assert up["status"] == "escalated" and up["next_escalation_id"]
    queues = client.get("/api/planning/escalations", headers=staff).json()
    assert queues["2"]["items"] == [] and [i["id"] for i in queues["3"]["items"]] == [up["next_escalation_id"]]
    eng = up["next_escalation_id"]
    assert client.post(f"/api/planning/escalations/{eng}", json={"action": "escalate"},
                       headers=staff).status_code == 409  # engineering is the last tier
    done = client.post(f"/api/planning/escalations/{eng}",
                       json={"action": "resolve", "resolution": "rotor imbalance: balance on site",
                             "cause": "rotor imbalance", "fix": "field balancing"}, headers=staff)
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert client.post(f"/api/planning/escalations/{eng}", json={"action": "resolve", "resolution": "x"},
                       headers=staff).status_code == 409
    cause, fix = w["conn"].execute("SELECT actual_cause, actual_fix FROM work_orders WHERE id = %s",
                                   (w["wo"],)).fetchone()
    assert (cause, fix) == ("rotor imbalance", "field balancing")  # counted into the KB on completion
    kinds = [r[0] for r in w["conn"].execute("SELECT kind FROM timeline_events WHERE work_order_id = %s "
                                             "ORDER BY id", (w["wo"],))]
    assert kinds[-4:] == ["escalated_tier2", "escalation_acknowledged", "escalation_escalated",
                          "escalation_resolved"]
