"""The admin API on the real database and broker: 422 with field and reason, roles and scope, audit rows in the
write's transaction, calendars (dispatchers too) reaching the optimiser, users, device credentials shown once,
the CSV upload, and problems reported from the portal."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import ManualClock
from core.mqtt import BrokerAddress
from core.provision import revoke
from core.settings import Settings
from dispatch import repository as dispatch_repo
from i18n import render
from quietfix.seed import seed
from tests.administration.onboarding import FILES
from tests.helpers import DevicePublisher, login

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture()
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[TestClient]:
    seed(conn, devices=3, technicians=2, users=True)
    conn.commit()
    app = create_app(settings)
    app.state.clock = ManualClock(NOW.timestamp())
    with TestClient(app) as c:
        yield c


def audit_rows(conn: psycopg.Connection, action: str) -> list[dict[str, Any]]:
    conn.rollback()
    # The seed's own import is audited too (actor "seed"): these tests look at what the API wrote.
    return [r[0] for r in conn.execute("SELECT details FROM audit_log WHERE action = %s AND actor <> 'seed' "
                                       "ORDER BY id", (action,))]


def onboard(client: TestClient, admin: dict[str, str], device_id: str) -> None:
    for path, body in (
            ("/api/admin/customers/ACME", {"name": "Acme Pumps", "tier": "gold", "timezone": "Europe/Amsterdam",
                                           "language": "nl", "contacts": [{"name": "Els", "phone": "+31 6 1"}]}),
            ("/api/admin/sites/ACME-RTM", {"customer_code": "ACME", "name": "Rotterdam", "lat": 51.89, "lon": 4.42,
                                           "access_hours": "Mon-Fri 07:00-19:00"}),
            ("/api/admin/assets/SN-1", {"site_code": "ACME-RTM", "equipment_type": "pump", "model": "Etanorm",
                                        "installed_on": "2021-03-15", "device_id": device_id}),
            ("/api/admin/contracts/K-ACME", {"customer_code": "ACME", "tier": "gold", "coverage": "24x7",
                                             "response_min": 10, "onsite_min": 75, "repair_h": 8,
                                             "starts_on": "2025-01-01"})):
        r = client.put(path, headers=admin, json=body)
        assert r.status_code == 201, (path, r.text)


def test_master_data_round_trip_with_audit(client: TestClient, conn: psycopg.Connection) -> None:
    admin = login(client, "admin")
    onboard(client, admin, "adm-pump-1")
    again = client.put("/api/admin/sites/ACME-RTM", headers=admin, json={
        "customer_code": "ACME", "name": "Rotterdam", "lat": 51.89, "lon": 4.42, "access_hours": "Mon-Fri 07:00-19:00"})
    assert again.status_code == 200 and again.json()["result"] == "unchanged"
    moved = client.put("/api/admin/sites/ACME-RTM", headers=admin, json={
        "customer_code": "ACME", "name": "Rotterdam Waalhaven", "lat": 51.89, "lon": 4.42,
        "access_hours": "Mon-Sat 06:00-20:00"})
    assert moved.json()["result"] == "updated"
    [created] = audit_rows(conn, "admin.site.created")
    assert created["before"] is None and created["after"]["code"] == "ACME-RTM"
    [updated] = audit_rows(conn, "admin.site.updated")
    assert updated["before"] == {"name": "Rotterdam", "access_days": [1, 2, 3, 4, 5], "access_end": "19:00:00",
                                 "access_start": "07:00:00"}
    assert updated["after"]["name"] == "Rotterdam Waalhaven"
    actor = conn.execute("SELECT actor, actor_role FROM audit_log WHERE action = 'admin.site.updated'").fetchone()
    assert actor == ("admin", "admin")
    # The middleware writes no second, poorer row for these routes.
    assert conn.execute("SELECT count(*) FROM audit_log WHERE details->>'route' LIKE '/api/admin/%'").fetchone()[0] == 0
    lists = {e: client.get(f"/api/admin/{e}", headers=admin).json() for e in
             ("customers", "sites", "assets", "devices", "contracts", "users")}
    assert any(c["code"] == "ACME" and c["contacts"] == [{"name": "Els", "phone": "+31 6 1"}] for c in lists["customers"])
    assert any(a["serial"] == "SN-1" and a["device_id"] == "adm-pump-1" for a in lists["assets"])
    assert any(k["code"] == "K-ACME" and k["onsite_min"] == 75 for k in lists["contracts"])


def test_invalid_input_answers_422_with_field_and_reason_and_writes_nothing(client: TestClient,
                                                                            conn: psycopg.Connection) -> None:
    admin = login(client, "admin")
    r = client.put("/api/admin/customers/ACME", headers=admin, json={"name": "", "tier": "diamond",
                                                                     "timezone": "Mars/Base"})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["detail"]} == {"name", "tier", "timezone"}
    r = client.put("/api/admin/sites/S1", headers=admin, json={"customer_code": "NOBODY", "name": "x", "lat": 1,
                                                               "lon": 2})
    assert r.status_code == 422 and r.json()["detail"] == [{
        "field": "customer_code", "reason": "unknown customer 'NOBODY'",
        "i18n": {"key": "admin.reason.unknown", "params": {"what": "customer", "code": "NOBODY"}}}]
    # The reason as a message too, so the admin page shows it in the reader's language.
    assert render(r.json()["detail"][0]["i18n"], "zh-CN", "Asia/Shanghai") == "未知的客户 'NOBODY'"
    r = client.put("/api/admin/customers/bad code", headers=admin, json={"name": "x", "tier": "gold"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "code"
    r = client.post("/api/admin/technicians/T01/absences", headers=admin,
                    json={"starts_at": "2026-12-08T08:00Z", "ends_at": "2026-12-07T08:00Z"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "ends_at"
    assert client.post("/api/admin/technicians/NOPE/absences", headers=admin, json={
        "starts_at": "2026-12-08T08:00Z", "ends_at": "2026-12-09T08:00Z"}).status_code == 404
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM audit_log WHERE action LIKE 'admin.%' AND actor <> 'seed'").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM sites WHERE code NOT LIKE 'S-%'").fetchone()[0] == 0  # seeded: S-<device>


def test_roles_non_admins_are_refused_dispatchers_keep_calendars(client: TestClient, conn: psycopg.Connection) -> None:
    body = {"name": "Acme", "tier": "gold"}
    for user in ("dispatcher", "tech01", "customer001", "support"):
        headers = login(client, user)
        assert client.put("/api/admin/customers/ACME", headers=headers, json=body).status_code == 403, user
        assert client.get("/api/admin/users", headers=headers).status_code == 403, user
        assert client.post("/api/admin/users", headers=headers, json={"username": "x1", "role": "admin"}
                           ).status_code == 403, user
    for user in ("tech01", "customer001"):
        assert client.post("/api/admin/technicians/T01/absences", headers=login(client, user), json={
            "starts_at": "2026-12-08T08:00Z", "ends_at": "2026-12-09T08:00Z"}).status_code == 403
    dispatcher = login(client, "dispatcher")
    assert client.get("/api/admin/technicians", headers=dispatcher).status_code == 200
    assert client.get("/api/admin/customers", headers=dispatcher).status_code == 403
    r = client.put("/api/admin/technicians/T01/pattern", headers=dispatcher, json={"days": [
        {"weekday": d, "start": "07:00", "end": "16:00", "breaks": [{"start": "11:30", "minutes": 30}]}
        for d in (1, 2, 3, 4)]})
    assert r.status_code == 200, r.text
    row = conn.execute("SELECT shift_start::text, shift_end::text, breaks, working_pattern ? '5' "
                       "FROM technicians WHERE code = 'T01'").fetchone()
    assert row == ("07:00:00", "16:00:00", [{"start": "11:30", "minutes": 30}], False)
    [audit] = audit_rows(conn, "admin.technician.pattern")
    assert audit["before"]["shift_start"] == "00:00:00" and audit["after"]["shift_start"] == "07:00:00"
    assert client.get("/api/admin/nothing", headers=login(client, "admin")).status_code == 404


def test_an_absence_reaches_the_optimiser_at_once(client: TestClient, conn: psycopg.Connection) -> None:
    dispatcher = login(client, "dispatcher")
    cursor = conn.execute("SELECT changes FROM dispatch_cursor").fetchone()[0]
    conn.rollback()
    r = client.post("/api/admin/technicians/T02/absences", headers=dispatcher, json={
        "kind": "sick", "starts_at": (NOW - timedelta(hours=1)).isoformat(),
        "ends_at": (NOW + timedelta(days=2)).isoformat(), "note": "flu"})
    assert r.status_code == 201, r.text
    assert conn.execute("SELECT changes FROM dispatch_cursor").fetchone()[0] > cursor  # the loop re-plans
    states = {t.code: t.state for t in dispatch_repo.load_technicians(conn, [], NOW)}
    assert states["T02"] == "off" and states["T01"] != "off"
    later = {t.code: t.state for t in dispatch_repo.load_technicians(conn, [], NOW + timedelta(days=3))}
    assert later["T02"] != "off"
    conn.rollback()
    listed = next(t for t in client.get("/api/admin/technicians", headers=dispatcher).json() if t["code"] == "T02")
    assert [a["kind"] for a in listed["absences"]] == ["sick"]
    gone = client.delete(f"/api/admin/technicians/T02/absences/{r.json()['id']}", headers=dispatcher)
    assert gone.status_code == 204
    assert len(audit_rows(conn, "admin.absence.created")) == len(audit_rows(conn, "admin.absence.deleted")) == 1


def test_days_off_in_the_working_pattern_are_days_off_for_the_optimiser(client: TestClient,
                                                                        conn: psycopg.Connection) -> None:
    """A Mon-Fri technician (in their own zone) is not planned on Saturday; Saturday 00:30 in Shanghai is still
    Friday in UTC, so the zone decides."""
    r = client.put("/api/admin/technicians/T-CN1", headers=login(client, "admin"), json={
        "name": "王伟", "skills": "refrigeration", "home_lat": 31.23, "home_lon": 121.47,
        "shift": "Mon-Fri 08:00-17:00", "timezone": "Asia/Shanghai"})
    assert r.status_code == 201, r.text
    friday_utc = datetime(2026, 12, 11, 16, 30, tzinfo=UTC)  # Saturday 00:30 in Shanghai
    states = {t.code: t.state for t in dispatch_repo.load_technicians(conn, [], friday_utc)}
    assert states["T-CN1"] == "off" and states["T01"] == "free"  # seeded technicians: no pattern, every day
    monday = {t.code: t.state for t in dispatch_repo.load_technicians(conn, [], NOW)}
    assert monday["T-CN1"] == "free"
    # Per-day hours and breaks: Tuesdays start later; the optimiser gets that day's span as the shift.
    r = client.put("/api/admin/technicians/T-CN1/pattern", headers=login(client, "dispatcher"), json={"days": [
        {"weekday": 1, "start": "08:00", "end": "17:00"},
        {"weekday": 2, "start": "10:00", "end": "19:00", "breaks": [{"start": "14:00", "minutes": 20}]}]})
    assert r.status_code == 200, r.text
    tuesday = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    t = next(t for t in dispatch_repo.load_technicians(conn, [], tuesday) if t.code == "T-CN1")
    assert (t.shift_start, t.shift_end, t.breaks) == (time(10), time(19), ((time(14), 20),))
    t = next(t for t in dispatch_repo.load_technicians(conn, [], NOW) if t.code == "T-CN1")
    assert (t.shift_start, t.breaks) == (time(8), ())


def test_users_create_disable_reset(client: TestClient, conn: psycopg.Connection) -> None:
    admin = login(client, "admin")
    r = client.post("/api/admin/users", headers=admin, json={"username": "els", "role": "customer",
                                                            "customer_code": "C00001", "timezone": "Europe/Amsterdam"})
    assert r.status_code == 201, r.text
    first = r.json()["password"]
    token = client.post("/api/auth/token", json={"username": "els", "password": first})
    assert token.status_code == 200 and token.json()["role"] == "customer"
    assert client.post("/api/admin/users", headers=admin, json={"username": "els", "role": "admin"}).status_code == 409
    bad = client.post("/api/admin/users", headers=admin, json={"username": "t9", "role": "technician"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "technician_code"
    for role, field, code in (("technician", "technician_code", "T-NOBODY"), ("customer", "customer_code", "NOBODY")):
        bad = client.post("/api/admin/users", headers=admin, json={"username": "x9", "role": role, field: code})
        assert bad.status_code == 422 and bad.json()["detail"][0]["reason"] == f"unknown {role} '{code}'"
    assert client.post("/api/admin/users/els/disable", headers=admin).status_code == 200
    assert client.post("/api/auth/token", json={"username": "els", "password": first}).status_code == 401
    assert client.post("/api/admin/users/els/enable", headers=admin).status_code == 200
    new = client.post("/api/admin/users/els/reset-password", headers=admin).json()["password"]
    assert new != first
    assert client.post("/api/auth/token", json={"username": "els", "password": first}).status_code == 401
    assert client.post("/api/auth/token", json={"username": "els", "password": new}).status_code == 200
    assert client.post("/api/admin/users/admin/disable", headers=admin).status_code == 409  # not yourself
    details = " ".join(str(d) for d in audit_rows(conn, "admin.user.password_reset") + audit_rows(
        conn, "admin.user.created"))
    assert first not in details and new not in details and "password_hash" not in details


def test_provisioned_device_publishes_with_its_new_credential(client: TestClient, conn: psycopg.Connection,
                                                              settings: Settings, broker_up: BrokerAddress) -> None:
    admin = login(client, "admin")
    device_id = f"adm-{uuid.uuid4().hex[:8]}"
    onboard(client, admin, device_id)
    try:
        r = client.post(f"/api/admin/devices/{device_id}/provision", headers=admin)
        assert r.status_code == 200, r.text
        password = r.json()["password"]
        assert password not in str(audit_rows(conn, "admin.device.provisioned"))
        pub = DevicePublisher(broker_up, device_id, password)  # connects, or raises: the broker accepted it
        pub.close()
        assert client.post("/api/admin/devices/no-such/provision", headers=admin).status_code == 404
        assert client.post(f"/api/admin/devices/{device_id}/revoke", headers=admin).json()["revoked"] is True
    finally:
        revoke(settings, [device_id])


def test_upload_uses_the_import_and_refuses_bad_files_whole(client: TestClient, conn: psycopg.Connection) -> None:
    admin = login(client, "admin")
    files = [("files", (name, text.replace("{prefix}", "up-").encode(), "text/csv")) for name, text in FILES.items()]
    seeded = conn.execute("SELECT count(*) FROM sites").fetchone()[0]  # the seed goes through the import too
    dry = client.post("/api/admin/import?dry_run=true", headers=admin, files=files)
    assert dry.status_code == 200 and dry.json()["created"]["sites"] == 2
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM sites").fetchone()[0] == seeded
    bad = [("files", ("sites.csv", (FILES["sites.csv"] + "S-X,ACME,x,,1,999,24x7\n").encode(), "text/csv")),
           *[f for f in files if f[1][0] != "sites.csv"]]
    r = client.post("/api/admin/import", headers=admin, files=bad)
    assert r.status_code == 422 and r.json()["errors"] == [
        {"file": "sites.csv", "line": 4, "column": "lon", "message": "longitude must be between -180 and 180",
         "i18n": {"key": "admin.reason.outOfRange", "params": {"what": "longitude", "lo": "-180", "hi": "180"}}}]
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM customers WHERE code = 'ACME'").fetchone()[0] == 0
    ok = client.post("/api/admin/import", headers=admin, files=files)
    assert ok.status_code == 200 and ok.json()["created"]["technicians"] == 2
    again = client.post("/api/admin/import", headers=admin, files=files)
    assert again.json()["unchanged"]["assets"] == 2


def test_customer_reports_a_problem_from_the_portal(client: TestClient, conn: psycopg.Connection) -> None:
    admin = login(client, "admin")
    onboard(client, admin, "adm-portal-1")
    r = client.post("/api/admin/users", headers=admin, json={"username": "acme", "role": "customer",
                                                            "customer_code": "ACME"})
    acme = {"Authorization": "Bearer " + client.post("/api/auth/token", json={
        "username": "acme", "password": r.json()["password"]}).json()["access_token"]}
    report = client.post("/api/portal/problems", headers=acme, data={"asset": "SN-1", "summary": "Pump is leaking"},
                         files={"photo": ("leak.png", PNG, "image/png")})
    assert report.status_code == 201, report.text
    body = report.json()
    assert body["contract"] == "K-ACME"
    opened = datetime.fromisoformat(body["response_due"]) - timedelta(minutes=10)
    assert datetime.fromisoformat(body["onsite_due"]) - opened == timedelta(minutes=75)  # the contract's own
    inc = conn.execute("SELECT source, status, severity FROM incidents WHERE id = %s",
                       (body["incident_id"],)).fetchone()
    assert inc == ("portal", "work_order", 2)
    assert conn.execute("SELECT status FROM work_orders WHERE id = %s", (body["work_order_id"],)).fetchone() == ("open",)
    photo = client.get(f"/api/incident-photos/{body['photo_id']}", headers=acme)
    assert photo.status_code == 200 and photo.content == PNG
    assert client.get(f"/api/incident-photos/{body['photo_id']}", headers=login(client, "customer001")
                      ).status_code == 404
    assert client.get(f"/api/incident-photos/{body['photo_id']}", headers=login(client, "dispatcher")
                      ).status_code == 200
    # Someone else's asset is "not found"; a fake photo and an empty text are refused with the field.
    other = client.post("/api/portal/problems", headers=login(client, "customer001"),
                        data={"asset": "SN-1", "summary": "not mine"})
    assert other.status_code == 404
    fake = client.post("/api/portal/problems", headers=acme, data={"asset": "SN-1", "summary": "x"},
                       files={"photo": ("x.png", b"<html>", "image/png")})
    assert fake.status_code == 422 and {d["field"] for d in fake.json()["detail"]} == {"summary", "photo"}
    assert len(audit_rows(conn, "portal.problem_reported")) == 1
