"""The three faces on the real database: board (intake, assignment, KPIs), technician actions, portal, live."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from uuid import uuid4

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
    clock = ManualClock()
    at = to_datetime(clock.now())
    wo = open_work_order(conn, devices[0].device_id, ["mechanical"], at)
    tech1, tech2 = (r[0] for r in conn.execute("SELECT id FROM technicians ORDER BY code"))
    conn.execute("UPDATE work_orders SET technician_id = %s, status = 'assigned', assigned_at = %s, eta = %s "
                 "WHERE id = %s", (tech1, at, at + timedelta(minutes=30), wo))
    conn.execute("UPDATE technicians SET state = 'travelling' WHERE id = %s", (tech1,))
    conn.commit()
    app = create_app(settings)
    app.state.clock = clock
    with TestClient(app) as client:
        yield client, {"devices": devices, "wo": wo, "tech1": tech1, "tech2": tech2, "clock": clock, "conn": conn}


def timeline_kinds(conn: psycopg.Connection, wo: int) -> list[str]:
    conn.commit()  # a fresh snapshot of what the API committed
    return [r[0] for r in conn.execute("SELECT kind FROM timeline_events WHERE work_order_id = %s ORDER BY id",
                                       (wo,))]


def test_board_is_staff_only_and_lists_the_queue(world) -> None:
    client, w = world
    assert client.get("/api/board").status_code == 401
    for user in ("customer001", "tech01"):
        h = login(client, user)
        assert client.get("/api/board", headers=h).status_code == 403
        assert client.post("/api/board/incidents", headers=h, json={
            "device_id": w["devices"][0].device_id, "source": "phone", "summary": "noise"}).status_code == 403
        assert client.post(f"/api/board/work-orders/{w['wo']}/assign", headers=h,
                           json={"technician_id": w["tech2"]}).status_code == 403
    body = client.get("/api/board", headers=login(client, "dispatcher")).json()
    assert [q["id"] for q in body["queue"]] == [w["wo"]]
    assert body["queue"][0]["technician_code"] == "T01" and body["tile_url"] == ""
    assert {t["code"]: t["active_jobs"] for t in body["technicians"]} == {"T01": 1, "T02": 0}
    assert client.get("/board").status_code == 200


def test_phone_intake_joins_the_same_queue_and_clock(world) -> None:
    client, w = world
    h = login(client, "dispatcher")
    device = w["devices"][1].device_id
    r = client.post("/api/board/incidents", headers=h, json={
        "device_id": device, "source": "phone", "summary": "Customer hears grinding", "reported_by": "J. Jansen",
        "required_skills": ["mechanical"]})
    assert r.status_code == 201, r.text
    made = r.json()
    opened = to_datetime(w["clock"].now())
    tier = w["conn"].execute("SELECT c.tier FROM customers c JOIN devices d ON d.customer_id = c.id "
                             "WHERE d.id = %s", (device,)).fetchone()[0]
    onsite_min, coverage_days = w["conn"].execute(
        "SELECT t.onsite_min, dc.coverage_days FROM sla_tier_defaults t LEFT JOIN device_contracts dc "
        "ON dc.device_id = %s WHERE t.tier = %s", (device, tier)).fetchone()
    if coverage_days is None:  # without a covering contract the clock starts at once
        assert made["onsite_due"].startswith((opened + timedelta(minutes=onsite_min)).isoformat()[:19])
    target, = w["conn"].execute("SELECT onsite_target FROM work_orders WHERE id = %s",
                                (made["work_order_id"],)).fetchone()
    assert abs(target - (opened + timedelta(hours=2))) < timedelta(seconds=1)  # the service target, from the report, whatever the contract
    queue = client.get("/api/board", headers=h).json()["queue"]
    mine = next(q for q in queue if q["id"] == made["work_order_id"])
    assert mine["source"] == "phone" and mine["status"] == "open"
    # the board's clocks: the promise (service targets) beside the contract deadlines, each under its own name
    assert datetime.fromisoformat(mine["onsite_target"]) == target
    assert datetime.fromisoformat(mine["onsite_due"]) == datetime.fromisoformat(made["onsite_due"])
    assert mine["response_target"] is not None and mine["eta_past_target"] is False
    assert queue[0]["id"] == made["work_order_id"]  # unassigned: its response deadline comes first
    assert timeline_kinds(w["conn"], made["work_order_id"]) == ["incident_reported"]
    kinds = [r[0] for r in w["conn"].execute("SELECT kind FROM notifications WHERE incident_id = %s",
                                             (made["incident_id"],))]
    assert kinds == ["incident_reported"]
    again = client.post("/api/board/incidents", headers=h, json={
        "device_id": device, "source": "email", "summary": "Same fault again"})
    assert again.status_code == 409
    assert client.post("/api/board/incidents", headers=h, json={
        "device_id": "nope", "source": "phone", "summary": "xxx"}).status_code == 404


def test_reassignment_moves_the_job_and_frees_the_previous_technician(world) -> None:
    client, w = world
    h = login(client, "dispatcher")
    r = client.post(f"/api/board/work-orders/{w['wo']}/assign", headers=h, json={"technician_id": w["tech2"]})
    assert r.status_code == 200, r.text
    assert r.json()["previous_technician_id"] == w["tech1"]
    techs = {t["code"]: t for t in client.get("/api/board", headers=h).json()["technicians"]}
    assert techs["T01"]["state"] == "free" and techs["T02"]["state"] == "travelling"
    assert timeline_kinds(w["conn"], w["wo"]) == ["technician_reassigned"]
    assert [j["id"] for j in client.get("/api/tech/jobs", headers=login(client, "tech02")).json()] == [w["wo"]]
    assert client.get("/api/tech/jobs", headers=login(client, "tech01")).json() == []
    missing = client.post("/api/board/work-orders/999999/assign", headers=h, json={"technician_id": w["tech2"]})
    assert missing.status_code == 404


def test_technician_actions_are_scoped_and_deduplicated(world) -> None:
    client, w = world
    t1, t2 = login(client, "tech01"), login(client, "tech02")
    job = client.get("/api/tech/jobs", headers=t1).json()[0]
    assert job["id"] == w["wo"] and job["navigate"].startswith("geo:") and job["customer_email"]
    path = f"/api/tech/jobs/{w['wo']}/actions"
    steal = client.post(path, headers=t2, json={"action_id": str(uuid4()), "action": "en_route"})
    assert steal.status_code == 404
    steps = [{"action_id": str(uuid4()), "action": "en_route"}, {"action_id": str(uuid4()), "action": "arrived"},
             {"action_id": str(uuid4()), "action": "completed", "cause": "worn bearing", "fix": "bearing replaced",
              "parts_used": ["6204-2RS bearing"], "notes": "greased"}]
    for step, expected in zip(steps, ("en_route", "on_site", "completed")):
        r = client.post(path, headers=t1, json=step)
        assert r.status_code == 200, r.text
        assert r.json() == {"action_id": step["action_id"], "work_order_id": w["wo"], "applied": True,
                            "duplicate": False, "status": expected}
    before = timeline_kinds(w["conn"], w["wo"])
    for step in steps:  # the phone replays its whole queue after a dead zone
        r = client.post(path, headers=t1, json=step)
        assert r.json()["duplicate"] is True and r.json()["applied"] is True
    assert timeline_kinds(w["conn"], w["wo"]) == before == ["technician_en_route", "technician_arrived",
                                                            "work_completed"]
    notes, fix = w["conn"].execute("SELECT notes, actual_fix FROM work_orders WHERE id = %s", (w["wo"],)).fetchone()
    assert fix == "bearing replaced" and "6204-2RS bearing" in notes
    late = client.post(path, headers=t1, json={"action_id": str(uuid4()), "action": "arrived"})
    assert late.json()["applied"] is False and late.json()["status"] == "completed"
    assert client.post(path, headers=login(client, "dispatcher"), json=steps[0]).status_code == 403


def complete_job(client: TestClient, wo: int) -> None:
    h = login(client, "tech01")
    for action in ("arrived", "completed"):
        r = client.post(f"/api/tech/jobs/{wo}/actions", headers=h,
                        json={"action_id": str(uuid4()), "action": action, "fix": "seal replaced"})
        assert r.status_code == 200 and r.json()["applied"], r.text


def test_portal_survey_once_per_own_completed_job_and_kpis(world) -> None:
    client, w = world
    me, other = login(client, "customer001"), login(client, "customer002")
    assets = client.get("/api/portal/assets", headers=me).json()
    mine = {d.device_id for d in w["devices"] if d.customer_id == w["devices"][0].customer_id}
    assert {a["id"] for a in assets} == mine
    incident = next(a for a in assets if a["id"] == w["devices"][0].device_id)["open_incidents"][0]
    assert incident["eta"] is not None and incident["work_order_status"] == "assigned"
    survey = {"work_order_id": w["wo"], "score": 9}
    assert client.post("/api/portal/surveys", headers=me, json=survey).status_code == 409  # not done yet
    complete_job(client, w["wo"])
    assert [p["work_order_id"] for p in client.get("/api/portal/surveys/pending", headers=me).json()] == [w["wo"]]
    assert client.post("/api/portal/surveys", headers=other, json=survey).status_code == 404
    assert client.post("/api/portal/surveys", headers=me, json=survey).status_code == 201
    assert client.post("/api/portal/surveys", headers=me, json={**survey, "score": 0}).status_code == 409
    assert client.get("/api/portal/surveys/pending", headers=me).json() == []
    assert client.get("/api/portal/assets", headers=login(client, "dispatcher")).status_code == 403
    kpis = client.get("/api/board/kpis", headers=login(client, "dispatcher")).json()
    total = kpis[0]
    assert (total["region"], total["tier"]) == ("*", "*")
    assert total["incidents"] == 1 and total["responded_in_time"] == 1  # assigned at response_due: in time
    assert total["onsite_in_time"] == 1 and total["first_visit_fixes"] == 1
    assert total["nps_answers"] == 1 and total["nps"] == 100.0
    tier = w["conn"].execute("SELECT tier FROM customers WHERE id = %s", (w["devices"][0].customer_id,)).fetchone()[0]
    assert any(k["region"] == "shanghai" and k["tier"] == tier and k["incidents"] == 1 for k in kpis)


def test_live_stream_requires_auth_and_reports_changes(world) -> None:
    client, _ = world
    assert client.get("/api/live").status_code == 401
    with client.stream("GET", "/api/live?max_s=0.5&poll_s=0.2", headers=login(client, "customer001")) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    assert text.count("event: change") == 1 and "event: bye" in text and '"timeline"' in text


def test_customers_manage_only_their_own_channels_and_webhooks(world) -> None:
    client, _ = world
    me, other = login(client, "customer001"), login(client, "customer002")
    assert client.get("/api/portal/preferences", headers=me).json() == []
    pref = {"kind": "technician_assigned", "channel": "email", "enabled": False}
    assert client.put("/api/portal/preferences", headers=me, json=pref).json() == [pref]
    assert client.put("/api/portal/preferences", headers=me, json={**pref, "enabled": True}).json()[0]["enabled"]
    assert client.put("/api/portal/preferences", headers=me, json={**pref, "kind": "nonsense"}).status_code == 422
    assert client.get("/api/portal/preferences", headers=other).json() == []
    made = client.post("/api/portal/webhooks", headers=me, json={"url": "https://hooks.customer.example/qf"})
    assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
    listed = client.get("/api/portal/webhooks", headers=me).json()
    assert listed == [{"id": made.json()["id"], "url": "https://hooks.customer.example/qf", "active": True}]
    assert client.get("/api/portal/webhooks", headers=other).json() == []
    assert client.delete(f"/api/portal/webhooks/{made.json()['id']}", headers=other).status_code == 404
    assert client.delete(f"/api/portal/webhooks/{made.json()['id']}", headers=me).status_code == 204
    assert client.get("/api/portal/webhooks", headers=me).json()[0]["active"] is False
    for url in ("ftp://x.example", "http://127.0.0.1:5432/", "http://10.1.2.3/hook", "http://localhost/x",
                "http://[::1]/x", "http://169.254.169.254/latest"):
        assert client.post("/api/portal/webhooks", headers=me, json={"url": url}).status_code == 422, url


def test_replayed_tap_keeps_the_phones_time_within_reason(world) -> None:
    client, w = world
    h = login(client, "tech01")
    now = to_datetime(w["clock"].now())
    path = f"/api/tech/jobs/{w['wo']}/actions"
    tapped = now - timedelta(minutes=7)  # tapped offline, replayed 7 minutes later
    r = client.post(path, headers=h, json={"action_id": str(uuid4()), "action": "arrived",
                                           "at": tapped.replace(tzinfo=None).isoformat()})
    assert r.status_code == 200 and r.json()["applied"]
    w["conn"].commit()
    assert w["conn"].execute("SELECT arrived_at FROM work_orders WHERE id = %s", (w["wo"],)).fetchone()[0] == tapped
    future = now + timedelta(hours=1)  # a phone clock running ahead is not trusted
    r = client.post(path, headers=h, json={"action_id": str(uuid4()), "action": "completed", "fix": "x",
                                           "at": future.isoformat()})
    assert r.json()["applied"]
    w["conn"].commit()
    assert w["conn"].execute("SELECT completed_at FROM work_orders WHERE id = %s", (w["wo"],)).fetchone()[0] == now


def test_live_streams_are_bounded_in_number(world, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = world
    from api import live
    monkeypatch.setattr(live, "MAX_STREAMS", 0)
    r = client.get("/api/live?max_s=0.2", headers=login(client, "dispatcher"))
    assert r.status_code == 503
