"""The technician's lifecycle steps on the real database (issue #15 item 3, #16 item 6): structured completion,
the customer's sign-off, the return visit with per-visit times, unused parts back to the van and a depot. Each
step: applied once (a replay of the same action id is answered, not applied), on the timeline, in the audit
log, scoped to the technician's own job; bad input is a 422 naming the field."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from datetime import timedelta
from uuid import uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import ManualClock, to_datetime
from core.settings import Settings
from diagnostics import repository as kb_repo
from diagnostics.knowledge import load_knowledge
from diagnostics.training import apply_work_order_feedback
from quietfix.seed import seed
from spares.repository import SparesRepository
from tests.helpers import login, open_work_order

pytestmark = pytest.mark.integration


def png(width: int = 300, height: int = 120) -> bytes:
    """A real (blank, grey) PNG of the given size, built without an imaging library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@pytest.fixture()
def world(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, dict]]:
    devices = seed(conn, devices=6, technicians=2, users=True, spares=True)
    kb_repo.seed_knowledge(conn)
    clock = ManualClock(1_767_261_600.0)  # 2026-01-01 10:00 UTC
    t0 = to_datetime(clock.now())
    tech, other = [r[0] for r in conn.execute("SELECT id FROM technicians ORDER BY code")]
    pump = next(d for d in devices if d.equipment_type == "pump")
    wo = open_work_order(conn, pump.device_id, ["mechanical"], t0)
    theirs = open_work_order(conn, next(d for d in devices if d != pump).device_id, ["mechanical"], t0)
    for w, t in ((wo, tech), (theirs, other)):
        conn.execute("UPDATE work_orders SET technician_id = %s, status = 'assigned', assigned_at = %s, eta = %s "
                     "WHERE id = %s", (t, t0, t0 + timedelta(minutes=30), w))
    conn.commit()
    app = create_app(settings)
    app.state.clock = clock
    with TestClient(app) as client:
        yield client, {"conn": conn, "clock": clock, "wo": wo, "theirs": theirs, "tech": tech, "t0": t0,
                       "device": pump}


def step(client: TestClient, h: dict, wo: int, action: str, action_id: str | None = None, **extra):
    return client.post(f"/api/tech/jobs/{wo}/actions", headers=h,
                       json={"action_id": action_id or str(uuid4()), "action": action, **extra})


def timeline(conn: psycopg.Connection, wo: int) -> list[str]:
    conn.rollback()
    return [r[0] for r in conn.execute("SELECT kind FROM timeline_events WHERE work_order_id = %s ORDER BY id",
                                       (wo,))]


def audited(conn: psycopg.Connection, action: str) -> list[tuple]:
    conn.rollback()
    return conn.execute("SELECT actor, target_id, details FROM audit_log WHERE action = %s ORDER BY id",
                        (action,)).fetchall()


def test_structured_completion_and_sign_off(world) -> None:
    client, w = world
    conn, clock, wo = w["conn"], w["clock"], w["wo"]
    h = login(client, "tech01")
    codes = client.get("/api/tech/fix-codes", headers=h).json()
    assert "bearing_replaced" in {c["code"] for c in codes["fix_codes"]}
    assert "bearing_wear" in codes["fault_modes"]["pump"]
    for action in ("en_route", "arrived"):
        clock.advance(20 * 60)
        assert step(client, h, wo, action).json()["applied"]
    clock.advance(45 * 60)
    # the lists are the only answers: an unknown fix code or fault mode is refused before anything is written
    bad = step(client, h, wo, "completed", fix_code="hit_it", fault_mode="bearing_wear")
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "fix_code"
    bad = step(client, h, wo, "completed", fix_code="bearing_replaced", fault_mode="gremlins")
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "fault_mode"
    done_id = str(uuid4())
    r = step(client, h, wo, "completed", done_id, fix_code="seal_replaced", fault_mode="seal_leak",
             notes="Seal weeping at the shaft")
    assert r.status_code == 200 and r.json()["applied"] and r.json()["status"] == "completed"
    again = step(client, h, wo, "completed", done_id, fix_code="seal_replaced", fault_mode="seal_leak")
    assert again.json()["duplicate"] and timeline(conn, wo).count("work_completed") == 1
    row = conn.execute("SELECT found_fault_mode, fix_code, notes FROM work_orders WHERE id = %s", (wo,)).fetchone()
    assert row == ("seal_leak", "seal_replaced", "Seal weeping at the shaft")
    assert [(a, t) for a, t, _ in audited(conn, "work_order.completed")] == [("tech01", str(wo))]

    # the knowledge base learns from it: the diagnosis (bearing wear) did not hold, the seal fix is counted
    assert apply_work_order_feedback(conn, clock.now()) >= 1
    kb = load_knowledge(kb_repo.knowledge_doc(conn))
    assert dict(kb[("pump", "bearing_wear")].found_counts) == {"seal_leak": 1}
    assert dict(kb[("pump", "seal_leak")].fix_counts) == {"seal_replaced": 1}
    conn.commit()

    # sign-off: bad input names the field; nothing is stored
    for body, field in (({"signer_name": "", "signature": data_url(png())}, "signer_name"),
                        ({"signer_name": "王芳", "signature": "data:image/svg+xml;base64,PHN2Zz4="}, "signature"),
                        ({"signer_name": "王芳", "signature": data_url(b"\x89PNG\r\n\x1a\n" + b"x" * 80)}, "signature"),
                        ({"signer_name": "王芳", "signature": data_url(png(4000, 10))}, "signature"),
                        ({"signer_name": "王芳", "signature": data_url(png()[:-12])}, "signature")):
        r = step(client, h, wo, "signoff", **body)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == field, (field, r.text)
    big = "data:image/png;base64," + "A" * 89_000
    assert step(client, h, wo, "signoff", signer_name="王芳", signature=big).status_code == 422
    assert step(client, h, w["theirs"], "signoff", signer_name="X", signature=data_url(png())).status_code == 404
    sign_id = str(uuid4())
    r = step(client, h, wo, "signoff", sign_id, signer_name="  王芳 ", signature=data_url(png()))
    assert r.status_code == 200 and r.json()["applied"], r.text
    assert step(client, h, wo, "signoff", sign_id, signer_name="王芳", signature=data_url(png())).json()["duplicate"]
    second = step(client, h, wo, "signoff", signer_name="Someone else", signature=data_url(png(200, 80)))
    assert second.status_code == 409  # never overwritten
    assert timeline(conn, wo).count("customer_signed_off") == 1
    [(actor, target, details)] = audited(conn, "work_order.signed_off")
    assert (actor, target, details["signer_name"], details["width"]) == ("tech01", str(wo), "王芳", 300)
    job = next(j for j in client.get("/api/tech/jobs", headers=h).json() if j["id"] == wo)
    assert job["signoff"]["signer_name"] == "王芳"
    url = job["signoff"]["signature_url"]
    img = client.get(url, headers=h)
    assert img.status_code == 200 and img.headers["content-type"] == "image/png" and img.content == png()
    assert client.get(url, headers=login(client, "dispatcher")).status_code == 200
    assert client.get(url, headers=login(client, "tech02")).status_code == 404
    owner = conn.execute("SELECT u.username, u.customer_id FROM users u WHERE u.role = 'customer' ORDER BY "
                         "(u.customer_id = %s) DESC, u.id", (w["device"].customer_id,)).fetchall()
    assert client.get(url, headers=login(client, owner[0][0])).status_code == 200
    stranger = next(u for u, c in owner if c != w["device"].customer_id)
    assert client.get(url, headers=login(client, stranger)).status_code == 404


def test_return_visit_shows_why_and_times_per_visit(world) -> None:
    client, w = world
    conn, clock, wo = w["conn"], w["clock"], w["wo"]
    h = login(client, "tech01")
    clock.advance(10 * 60)
    step(client, h, wo, "en_route")
    clock.advance(35 * 60)
    step(client, h, wo, "arrived")
    clock.advance(50 * 60)
    r = step(client, h, wo, "not_fixed", outcome="wrong_diagnosis", fault_mode="seal_leak", notes="It is the seal")
    assert r.json()["applied"]
    assert len(audited(conn, "work_order.not_fixed")) == 1  # one audit row per step
    conn.rollback()
    back = conn.execute("SELECT id FROM work_orders WHERE incident_id = (SELECT incident_id FROM work_orders "
                        "WHERE id = %s) AND visit_no = 2", (wo,)).fetchone()[0]
    conn.execute("UPDATE work_orders SET technician_id = %s, status = 'assigned', assigned_at = %s, eta = %s "
                 "WHERE id = %s", (w["tech"], to_datetime(clock.now()), to_datetime(clock.now() + 1800), back))
    conn.commit()
    clock.advance(5 * 60)
    step(client, h, back, "en_route")
    clock.advance(20 * 60)
    step(client, h, back, "arrived")
    clock.advance(15 * 60)
    jobs = {j["id"]: j for j in client.get("/api/tech/jobs", headers=h).json()}
    first, second = jobs[wo], jobs[back]
    assert (first["visit_no"], first["travel_min"], first["onsite_min"]) == (1, 35.0, 50.0)
    assert (second["visit_no"], second["visits"], second["travel_min"], second["onsite_min"]) == (2, 2, 20.0, 15.0)
    prev = second["previous_visit"]
    assert (prev["visit_no"], prev["outcome"], prev["found_fault_mode"]) == (1, "wrong_diagnosis", "seal_leak")
    assert prev["outcome_text"] == "the fault was not the one diagnosed" and prev["notes"] == "It is the seal"
    board = client.get("/api/board", headers=login(client, "dispatcher")).json()
    q = next(x for x in board["queue"] if x["id"] == back)
    assert (q["visit_no"], q["previous_outcome"]) == (2, "wrong_diagnosis") and q["departed_at"] is not None
    clock.advance(10 * 60)
    assert step(client, h, back, "completed", fix_code="seal_replaced", fault_mode="seal_leak").json()["applied"]
    # the incident needed two visits: it counts against first-time fix
    kpis = client.get("/api/kpis", headers=login(client, "dispatcher"), params={"days": 1}).json()
    assert kpis["rows"][-1]["first_visit_fix_rate"] == 0.0  # the only repaired incident took two visits


def test_unused_parts_go_back_to_the_van_then_a_depot(world) -> None:
    client, w = world
    conn, clock, wo = w["conn"], w["clock"], w["wo"]
    repo = SparesRepository(conn)
    depot, depot_name = conn.execute("SELECT id, name FROM stock_locations WHERE kind = 'depot' ORDER BY id"
                                     ).fetchone()
    van = conn.execute("SELECT id FROM stock_locations WHERE technician_id = %s", (w["tech"],)).fetchone()[0]
    sku = conn.execute("SELECT sku FROM stock_levels WHERE location_id = %s AND on_hand >= 3 ORDER BY sku",
                       (depot,)).fetchone()[0]
    hold = repo.reserve(wo, depot, sku, 3, clock.now())  # the plan had the technician collect 3 at the depot
    conn.execute("UPDATE reservations SET source_kind = 'depot', technician_id = %s WHERE id = %s",
                 (w["tech"], hold.id))
    depot_before, van_before = repo.level(depot, sku).on_hand, repo.level(van, sku).on_hand
    conn.commit()
    h = login(client, "tech01")
    for action in ("en_route", "arrived"):
        clock.advance(20 * 60)
        step(client, h, wo, action)
    clock.advance(30 * 60)
    r = step(client, h, wo, "completed", fix_code="bearing_replaced", fault_mode="bearing_wear",
             parts_used=[f"{sku} x1"])
    assert r.json()["applied"]
    conn.rollback()
    assert repo.level(van, sku).on_hand == van_before + 2  # two collected but not fitted ride on in the van
    assert "parts_returned" in timeline(conn, wo)
    [(_, _, details)] = audited(conn, "work_order.parts_returned")
    assert details == {"to": "van", "parts": {sku: 2}}
    job = next(j for j in client.get("/api/tech/jobs", headers=h).json() if j["id"] == wo)
    assert job["returnable"] == [{"sku": sku, "qty": 2}] and job["return_depots"][0]["id"]

    # back at the depot: more than the job left is refused, naming the field; a replay moves nothing twice
    too_many = step(client, h, wo, "return_parts", parts_used=[f"{sku} x3"], depot_id=depot)
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["field"] == "parts_used"
    assert step(client, h, wo, "return_parts", parts_used=[f"{sku} x1"], depot_id=10**9).status_code == 422
    rid = str(uuid4())
    assert step(client, h, wo, "return_parts", rid, parts_used=[f"{sku} x2"], depot_id=depot).json()["applied"]
    assert step(client, h, wo, "return_parts", rid, parts_used=[f"{sku} x2"], depot_id=depot).json()["duplicate"]
    assert step(client, h, wo, "return_parts", parts_used=[f"{sku} x1"], depot_id=depot).status_code == 422
    conn.rollback()
    assert repo.level(van, sku).on_hand == van_before
    assert repo.level(depot, sku).on_hand == depot_before - 1  # three taken, one fitted, two back
    assert timeline(conn, wo).count("parts_returned") == 2
    moved = [d for _, _, d in audited(conn, "work_order.parts_returned") if d["to"] == "depot"]
    assert moved == [{"to": "depot", "depot_id": depot, "parts": {sku: 2}}]
    job = next(j for j in client.get("/api/tech/jobs", headers=h).json() if j["id"] == wo)
    assert job["returnable"] == []
    # the knowledge base learns the part actually fitted (one), not what was taken
    apply_work_order_feedback(conn, clock.now())
    assert dict(load_knowledge(kb_repo.knowledge_doc(conn))[("pump", "bearing_wear")].part_counts).get(sku) == 1
    assert depot_name
