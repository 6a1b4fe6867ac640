"""Escalation through the API: technician -> remote support -> engineering, evidence, clocks, knowledge feedback,
photos served apart from the queue, idempotent replays from the phone's offline queue, escalations on the phone."""

import base64
import json
import uuid
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
# A 2x2 PNG: the phone sends photos as data: URLs.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==")
PHOTO = "data:image/png;base64," + base64.b64encode(PNG).decode()


@pytest.fixture()
def world(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, dict]]:
    devices = seed(conn, devices=4, technicians=2, users=True)
    clock = ManualClock()
    at = to_datetime(clock.now())
    wo = open_work_order(conn, devices[0].device_id, ["mechanical"], at)
    other_wo = open_work_order(conn, devices[1].device_id, ["mechanical"], at)
    tech1, tech2 = (r[0] for r in conn.execute("SELECT id FROM technicians ORDER BY code"))
    conn.execute("UPDATE work_orders SET technician_id = %s, status = 'on_site' WHERE id = %s", (tech1, wo))
    conn.execute("UPDATE work_orders SET technician_id = %s, status = 'on_site' WHERE id = %s", (tech2, other_wo))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO telemetry (device_id, signal, ts, value) VALUES (%s, %s, %s, %s)",
                        [(devices[0].device_id, sig, at - timedelta(minutes=m), float(m))
                         for m in range(1, 90, 10) for sig in ("vibration_rms", "temperature")])
    conn.commit()
    app = create_app(settings)
    app.state.clock = clock
    with TestClient(app) as client:
        yield client, {"wo": wo, "other_wo": other_wo, "clock": clock, "conn": conn}


def test_technician_escalates_with_evidence_and_tiers_answer_on_their_clocks(world) -> None:
    client, w = world
    tech, other, staff = login(client, "tech01"), login(client, "tech02"), login(client, "dispatcher")
    body = {"reason": "bearing noise persists after replacement", "notes": "shaft play 0.3 mm",
            "photos": [PHOTO, "photo://wo/1/a.jpg"], "telemetry_minutes": 60}
    assert client.post(f"/api/planning/work-orders/{w['wo']}/escalate", json=body,
                       headers=other).status_code == 404  # not their job
    r = client.post(f"/api/planning/work-orders/{w['wo']}/escalate", json=body, headers=tech)
    assert r.status_code == 201, r.text
    esc = r.json()
    assert esc["tier"] == 2 and esc["status"] == "open" and esc["clock"]["state"] == "running"
    stored, ref = esc["evidence"]["photos"]
    assert ref == {"ref": "photo://wo/1/a.jpg"} and esc["evidence"]["notes"] == body["notes"]
    assert stored["media_type"] == "image/png" and stored["bytes"] == len(PNG)
    assert stored["url"] == f"/api/planning/escalations/{esc['id']}/photos/{stored['id']}"
    photo = client.get(stored["url"], headers=tech)
    assert photo.status_code == 200 and photo.content == PNG and photo.headers["content-type"] == "image/png"
    assert client.get(stored["url"], headers=other).status_code == 404  # not their job
    assert client.get(f"/api/planning/escalations/{esc['id']}/photos/{stored['id'] + 1}",
                      headers=staff).status_code == 404  # only the photos the escalation lists
    assert len(esc["evidence"]["telemetry"]["vibration_rms"]) == 6  # the last hour only
    assert client.get(f"/api/planning/escalations/{esc['id']}", headers=tech).status_code == 200
    assert client.get(f"/api/planning/escalations/{esc['id']}", headers=other).status_code == 404
    assert client.get("/api/planning/escalations", headers=tech).status_code == 403

    w["clock"].advance(40 * 60)  # remote support is late
    r = client.get("/api/planning/escalations", headers=staff)
    assert "base64" not in r.text  # the queue carries photo metadata and URLs, never the image
    queues = r.json()
    assert [i["id"] for i in queues["2"]["items"]] == [esc["id"]] and queues["2"]["breached"] == 1
    assert queues["2"]["items"][0]["evidence"]["photos"][0]["url"] == stored["url"]
    ack = client.post(f"/api/planning/escalations/{esc['id']}", json={"action": "acknowledge"}, headers=staff)
    assert ack.json()["clock"]["state"] == "late"
    up = client.post(f"/api/planning/escalations/{esc['id']}",
                     json={"action": "escalate", "resolution": "not a bearing issue", "reason": "rotor?"},
                     headers=staff).json()
    assert up["status"] == "escalated" and up["next_escalation_id"]
    queues = client.get("/api/planning/escalations", headers=staff).json()
    assert queues["2"]["items"] == [] and [i["id"] for i in queues["3"]["items"]] == [up["next_escalation_id"]]
    eng = up["next_escalation_id"]
    tier3 = queues["3"]["items"][0]["evidence"]["photos"][0]
    assert client.get(tier3["url"], headers=staff).content == PNG  # engineering gets the same photo
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


def test_the_same_escalation_sent_twice_opens_one_escalation(world) -> None:
    """The phone's offline queue may replay a request whose answer was lost: the key makes it a no-op."""
    client, w = world
    tech, other = login(client, "tech01"), login(client, "tech02")
    key = str(uuid.uuid4())
    body = {"reason": "seal weeping", "notes": "", "photos": [PHOTO], "telemetry_minutes": 30,
            "escalation_key": key}
    first = client.post(f"/api/planning/work-orders/{w['wo']}/escalate", json=body, headers=tech)
    assert first.status_code == 201 and first.json()["duplicate"] is False
    w["clock"].advance(600)  # the replay arrives after a dead zone
    again = client.post(f"/api/planning/work-orders/{w['wo']}/escalate", json=body, headers=tech)
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True and again.json()["id"] == first.json()["id"]
    assert again.json()["opened_at"] == first.json()["opened_at"]
    conn = w["conn"]
    assert conn.execute("SELECT count(*) FROM escalations WHERE work_order_id = %s", (w["wo"],)).fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM escalation_photos WHERE work_order_id = %s",
                        (w["wo"],)).fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM timeline_events WHERE work_order_id = %s AND kind = 'escalated_tier2'",
                        (w["wo"],)).fetchone()[0] == 1
    # The key is the first request's: another technician cannot read it back, nor reuse it on their own job.
    assert client.post(f"/api/planning/work-orders/{w['wo']}/escalate", json=body,
                       headers=other).status_code == 404
    other_wo = w["other_wo"]
    assert client.post(f"/api/planning/work-orders/{other_wo}/escalate", json=body,
                       headers=other).status_code == 409
    # A new key is a new escalation.
    body["escalation_key"] = str(uuid.uuid4())
    assert client.post(f"/api/planning/work-orders/{w['wo']}/escalate", json=body, headers=tech).status_code == 201


def test_photos_must_be_images(world) -> None:
    client, w = world
    tech = login(client, "tech01")
    url = f"/api/planning/work-orders/{w['wo']}/escalate"
    for bad in ("data:text/html;base64,PGgxPmhpPC9oMT4=", "data:image/png;base64,not base64!"):
        r = client.post(url, json={"reason": "x", "photos": [bad]}, headers=tech)
        assert r.status_code == 422, r.text
    assert w["conn"].execute("SELECT count(*) FROM escalations").fetchone()[0] == 0


def test_phone_jobs_carry_their_escalations(world) -> None:
    client, w = world
    tech, staff = login(client, "tech01"), login(client, "dispatcher")
    job = next(j for j in client.get("/api/tech/jobs", headers=tech).json() if j["id"] == w["wo"])
    assert job["escalations"] == []
    esc = client.post(f"/api/planning/work-orders/{w['wo']}/escalate", json={"reason": "noise"},
                      headers=tech).json()
    client.post(f"/api/planning/escalations/{esc['id']}", json={"action": "escalate", "reason": "rotor"},
                headers=staff)
    eng = client.get("/api/planning/escalations", headers=staff).json()["3"]["items"][0]["id"]
    client.post(f"/api/planning/escalations/{eng}", json={"action": "resolve", "resolution": "balance the rotor",
                                                          "fix": "field balancing"}, headers=staff)
    job = next(j for j in client.get("/api/tech/jobs", headers=tech).json() if j["id"] == w["wo"])
    assert [(e["tier"], e["status"]) for e in job["escalations"]] == [(2, "escalated"), (3, "resolved")]
    assert job["escalations"][1]["resolution"] == "balance the rotor" and job["escalations"][1]["fix"] == "field balancing"
    assert job["escalations"][0]["respond_due"] and job["escalations"][0]["tier_name"] == "remote technical support"
    assert "evidence" not in job["escalations"][0]  # the phone gets the state and the answer, not the evidence
    json.dumps(job)  # plain JSON
