"""The API's forbidden paths, tried for every resource and role, plus commands, rate limiting, audit and logout.

World: customer001 owns devices 0, 2, 4; customer002 owns 1, 3, 5. tech01 has an active job on device 0 and a
completed one on device 2; tech02 an active job on device 1.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Principal, issue_token, key_holder
from api.routes.commands import CommandPublisher
from core.clock import ManualClock, to_datetime
from core.commands import record_command_result
from core.contracts import CommandResult
from core.mqtt import BrokerAddress
from core.settings import Settings, load_settings
from quietfix.seed import DEMO_PASSWORD, seed
from tests.dispatch.test_dispatch_integration import open_work_order
from tests.helpers import login
from tests.security.mqtt_probe import Probe

pytestmark = pytest.mark.integration

PUBLIC = {"/healthz", "/readyz", "/metrics", "/api/auth/token", "/"}


@pytest.fixture()
def world(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, dict]]:
    devices = [d.device_id for d in seed(conn, devices=6, technicians=2, users=True)]
    at = to_datetime(ManualClock().now())
    t1, t2 = (conn.execute("SELECT id FROM technicians WHERE code = %s", (c,)).fetchone()[0] for c in ("T01", "T02"))
    jobs = {}
    for name, device, tech, state in (("t1_active", devices[0], t1, "assigned"), ("t2_active", devices[1], t2, "on_site"),
                                      ("t1_done", devices[2], t1, "completed")):
        wo = open_work_order(conn, device, ["mechanical"], at)
        conn.execute("UPDATE work_orders SET technician_id = %s, status = %s WHERE id = %s", (tech, state, wo))
        jobs[name] = wo
    conn.commit()
    with TestClient(create_app(settings)) as client:
        yield client, {"devices": devices, "jobs": jobs}


def _concrete(path: str, device_id: str) -> str:
    return path.replace("{device_id}", device_id).replace("{id}", "1").replace("{work_order_id}", "1") \
        .replace("{incident_id}", "1")


def test_unauthenticated_and_forged_tokens_get_401_on_every_route(world, settings: Settings) -> None:
    client, w = world
    dev = w["devices"][0]
    now = time.time()
    admin = Principal(1, "admin", "admin")
    key = key_holder(client.app).ring
    bad_tokens = {
        "none": None,
        "garbage": "Bearer forged",
        "other secret": f"Bearer {issue_token(admin, 'another-secret-of-at-least-32-bytes!')}",
        "expired": f"Bearer {issue_token(admin, key.current, now=now - 13 * 3600)}",
        "alg none": "Bearer " + jwt.encode({"sub": "1", "role": "admin", "exp": int(now) + 60}, key=None,
                                           algorithm="none"),
        "unknown role": "Bearer " + jwt.encode({"sub": "1", "role": "root", "exp": int(now) + 60},
                                               key.current.secret, algorithm="HS256",
                                               headers={"kid": key.current.kid}),
    }
    paths = client.get("/openapi.json").json()["paths"]
    routes = [(method.upper(), path) for path, ops in paths.items() for method in ops if path not in PUBLIC]
    assert len(routes) >= 9  # every data route of the foundation plus commands and logout
    for method, path in routes:
        for name, header in bad_tokens.items():
            headers = {"Authorization": header} if header else {}
            r = client.request(method, _concrete(path, dev), headers=headers, json={"cmd": "ping"})
            assert r.status_code == 401, (method, path, name, r.status_code)


def test_customer_cannot_reach_another_customers_data(world) -> None:
    client, w = world
    mine, theirs = w["devices"][0::2], w["devices"][1::2]
    h = login(client, "customer001")
    start, end = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
    for device in theirs:
        for path in (f"/api/devices/{device}", f"/api/devices/{device}/telemetry/latest",
                     f"/api/devices/{device}/telemetry?start={start}&end={end}", f"/api/devices/{device}/timeline",
                     f"/api/devices/{device}/commands"):
            assert client.get(path, headers=h).status_code == 404, path
        assert client.post(f"/api/devices/{device}/commands", headers=h, json={"cmd": "ping"}).status_code == 403
    assert {d["id"] for d in client.get("/api/devices", headers=h).json()} == set(mine)
    incidents = client.get("/api/incidents", headers=h).json()
    orders = client.get("/api/work-orders", headers=h).json()
    assert incidents and {i["device_id"] for i in incidents} <= set(mine)
    assert orders and {o["device_id"] for o in orders} <= set(mine)
    assert client.get("/api/technicians", headers=h).json() == []
    # Not even their own equipment: commands are for staff and the technician on the job.
    assert client.post(f"/api/devices/{mine[0]}/commands", headers=h, json={"cmd": "ping"}).status_code == 403
    assert client.get(f"/api/devices/{mine[0]}/commands", headers=h).status_code == 200


def test_technician_cannot_reach_another_technicians_jobs(world) -> None:
    client, w = world
    d = w["devices"]
    t1, t2 = login(client, "tech01"), login(client, "tech02")
    assert {o["id"] for o in client.get("/api/work-orders", headers=t1).json()} == {w["jobs"]["t1_active"],
                                                                                      w["jobs"]["t1_done"]}
    assert {o["id"] for o in client.get("/api/work-orders", headers=t2).json()} == {w["jobs"]["t2_active"]}
    for path in (f"/api/devices/{d[0]}", f"/api/devices/{d[0]}/timeline", f"/api/devices/{d[0]}/commands",
                 f"/api/devices/{d[0]}/telemetry/latest"):
        assert client.get(path, headers=t2).status_code == 404, path
    assert client.get(f"/api/devices/{d[3]}", headers=t1).status_code == 404  # nobody's job: not visible
    assert client.post(f"/api/devices/{d[0]}/commands", headers=t2, json={"cmd": "ping"}).status_code == 404
    assert client.post(f"/api/devices/{d[3]}/commands", headers=t1, json={"cmd": "ping"}).status_code == 404
    # A finished job shows the device in history but no longer lets the technician command it.
    assert client.post(f"/api/devices/{d[2]}/commands", headers=t1, json={"cmd": "ping"}).status_code == 403
    assert [t["code"] for t in client.get("/api/technicians", headers=t2).json()] == ["T02"]


def test_command_is_recorded_published_audited_and_answered(world, settings: Settings, db_url: str) -> None:
    client, w = world
    device = w["devices"][0]
    svc = Probe(BrokerAddress.from_url(settings.mqtt_url).port, settings.mqtt_username, settings.mqtt_password)
    try:
        assert svc.accepted and svc.subscribe(f"qf/v1/{device}/cmd") == [1]
        r = client.post(f"/api/devices/{device}/commands", headers=login(client, "tech01"),
                        json={"cmd": "reset_fault", "args": {"stage": 2}, "ttl_s": 120})
        assert r.status_code == 202, r.text
        body = r.json()
        # The shared broker may carry other checkouts' traffic: pick our command out by its id.
        marker = f'"id": "{body["id"]}"'.encode()
        sent = next(json.loads(p) for t, p in svc.wait_for_containing(marker) if marker in p)
    finally:
        svc.close()
    assert sent["id"] == body["id"] and sent["cmd"] == "reset_fault" and sent["args"] == {"stage": 2}
    assert sent["issued_by"] == "tech01" and sent["expires_at"] - sent["issued_at"] == 120_000
    with psycopg.connect(db_url) as c:
        status, by = c.execute("SELECT status, issued_by FROM commands WHERE id = %s", (body["id"],)).fetchone()
        assert (status, by) == ("sent", "tech01")
        audit = c.execute("SELECT actor, action, target_id, details->>'command_id' FROM audit_log "
                          "WHERE action = 'command.send'").fetchall()
        assert audit == [("tech01", "command.send", device, body["id"])]
        answer = CommandResult(device, body["id"], True, {"cleared": True}, None)
        assert record_command_result(c, answer) is True
        assert record_command_result(c, answer) is False  # redelivered result: recorded once
        assert record_command_result(c, CommandResult(w["devices"][1], body["id"], True, {}, None)) is False
        assert record_command_result(c, CommandResult(device, "not-a-uuid", True, {}, None)) is False
        assert record_command_result(c, CommandResult(device, str(uuid.uuid4()), True, {}, None)) is False
        c.commit()
        kinds = [k for (k,) in c.execute("SELECT kind FROM timeline_events WHERE device_id = %s ORDER BY id",
                                         (device,))]
        assert kinds[-2:] == ["command", "command_result"]
    listed = client.get(f"/api/devices/{device}/commands", headers=login(client, "customer001")).json()
    assert [(x["id"], x["status"], x["result"]) for x in listed] == [(body["id"], "succeeded", {"cleared": True})]
    exposed = client.get("/metrics").text
    assert 'quietfix_commands_total{outcome="sent"}' in exposed
    assert "quietfix_login_failures_total" in exposed and "quietfix_plan_age_seconds" in exposed


def test_command_validation_expiry_and_unreachable_broker(world) -> None:
    client, w = world
    device = w["devices"][4]
    h = login(client, "dispatcher")
    for bad in ({"cmd": "Reboot; rm -rf"}, {"cmd": ""}, {"cmd": "ping", "ttl_s": 0},
                {"cmd": "ping", "args": {"blob": "x" * 5000}}, {"cmd": "ping", "args": []}):
        assert client.post(f"/api/devices/{device}/commands", headers=h, json=bad).status_code == 422, bad
    clock = ManualClock(time.time())
    client.app.state.clock = clock
    r = client.post(f"/api/devices/{device}/commands", headers=h, json={"cmd": "ping", "ttl_s": 10**6})
    assert r.status_code == 202
    issued = datetime.fromisoformat(r.json()["issued_at"])
    assert datetime.fromisoformat(r.json()["expires_at"]) - issued == timedelta(hours=1)  # capped at the max
    clock.advance(3601)
    assert client.get(f"/api/devices/{device}/commands", headers=h).json()[0]["status"] == "expired"
    dead = load_settings(mqtt_url="mqtt://127.0.0.1:1")  # nothing listens on port 1
    client.app.state.command_publisher = CommandPublisher(dead)
    try:
        r = client.post(f"/api/devices/{device}/commands", headers=h, json={"cmd": "ping"})
        assert r.status_code == 503
        statuses = [c["status"] for c in client.get(f"/api/devices/{device}/commands", headers=h).json()]
        assert statuses[0] == "send_failed"
    finally:
        client.app.state.command_publisher.stop()


def test_login_is_rate_limited_per_username_and_ip_with_retry_after(world, settings: Settings, db_url: str) -> None:
    client, _ = world
    limit = settings.security.login_attempts = 3  # argon2 is slow on purpose; three attempts show the window
    for _ in range(limit):
        assert client.post("/api/auth/token", json={"username": "admin", "password": "guess"}).status_code == 401
    r = client.post("/api/auth/token", json={"username": "admin", "password": DEMO_PASSWORD})
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= settings.security.login_window_s
    assert client.post("/api/auth/token", json={"username": "ADMIN", "password": "x"}).status_code == 429
    login(client, "dispatcher")  # another user from the same address keeps its own budget
    with psycopg.connect(db_url) as c:
        failed = c.execute("SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed' "
                           "AND target_id = 'admin'").fetchone()[0]
    assert failed == limit


def test_logout_revokes_only_that_token(world) -> None:
    client, _ = world
    first, second = login(client, "dispatcher"), login(client, "dispatcher")
    assert client.post("/api/auth/logout", headers=first).status_code == 204
    assert client.get("/api/devices", headers=first).status_code == 401
    assert client.post("/api/auth/logout", headers=first).status_code == 401
    assert client.get("/api/devices", headers=second).status_code == 200


def test_revocation_is_seen_by_another_api_process(world, settings: Settings) -> None:
    client, _ = world
    token = login(client, "admin")
    other_settings = settings.model_copy(deep=True)
    other_settings.security.revocation_refresh_s = 0.0  # re-read on every check, to observe it without waiting
    with TestClient(create_app(other_settings)) as other:
        assert other.get("/api/devices", headers=token).status_code == 200
        assert client.post("/api/auth/logout", headers=token).status_code == 204
        assert other.get("/api/devices", headers=token).status_code == 401


def test_tokens_carry_a_unique_id_and_expire(settings: Settings) -> None:
    p = Principal(1, "a", "admin")
    claims = [jwt.decode(issue_token(p, "k" * 32), "k" * 32, algorithms=["HS256"]) for _ in range(2)]
    assert claims[0]["jti"] != claims[1]["jti"]
    assert claims[0]["exp"] - claims[0]["iat"] == 12 * 3600
    assert datetime.fromtimestamp(claims[0]["exp"], tz=UTC) > datetime.now(UTC)
