"""GET /api/kpis and its CSV export on the real database: roles and customer scope, values from a visit that
failed and was fixed on the return visit, the board's strip from the same definitions, and bad input."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from uuid import uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import ManualClock, to_datetime
from core.settings import Settings
from dispatch import complete, complete_unfixed, depart, mark_arrived
from quietfix.seed import seed
from tests.helpers import login, open_work_order

pytestmark = pytest.mark.integration


@pytest.fixture()
def world(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, dict]]:
    devices = seed(conn, devices=6, technicians=2, users=True)
    clock = ManualClock(1_767_261_600.0)  # 2026-01-01 10:00 UTC
    t0 = to_datetime(clock.now())
    tech = conn.execute("SELECT id FROM technicians ORDER BY code LIMIT 1").fetchone()[0]
    wo = open_work_order(conn, devices[0].device_id, ["mechanical"], t0)
    conn.execute("UPDATE work_orders SET technician_id = %s, status = 'assigned', assigned_at = %s, eta = %s "
                 "WHERE id = %s", (tech, t0, t0 + timedelta(minutes=40), wo))
    depart(conn, wo, t0 + timedelta(minutes=10))
    mark_arrived(conn, wo, t0 + timedelta(minutes=50))  # 50 min after open: inside the 2 h promise
    back = complete_unfixed(conn, wo, t0 + timedelta(minutes=90), outcome="wrong_part", actor="T01")
    assert back is not None
    conn.execute("UPDATE work_orders SET technician_id = %s, status = 'assigned', assigned_at = %s WHERE id = %s",
                 (tech, t0 + timedelta(minutes=95), back))
    depart(conn, back, t0 + timedelta(minutes=100))
    mark_arrived(conn, back, t0 + timedelta(minutes=130))
    assert complete(conn, back, t0 + timedelta(minutes=160)) is not None
    conn.commit()
    clock.advance(3 * 3600)
    app = create_app(settings)
    app.state.clock = clock
    with TestClient(app) as client:
        yield client, {"customer_id": devices[0].customer_id, "wo": wo, "back": back, "conn": conn}


def test_roles_and_customer_scope(world) -> None:
    client, w = world
    assert client.get("/api/kpis").status_code == 401
    assert client.get("/api/kpis", headers=login(client, "tech01")).status_code == 403
    assert client.get("/api/kpis.csv", headers=login(client, "tech01")).status_code == 403
    staff = client.get("/api/kpis", headers=login(client, "dispatcher"), params={"by": "customer"}).json()
    assert w["customer_id"] in {r["customer_id"] for r in staff["rows"]}
    users = dict(w["conn"].execute("SELECT username, customer_id FROM users WHERE role = 'customer'").fetchall())
    owner = next(u for u, c in users.items() if c == w["customer_id"])
    other = next(u for u, c in users.items() if c != w["customer_id"])
    own = client.get("/api/kpis", headers=login(client, owner), params={"by": "region"}).json()
    assert own["by"] == "customer"  # a customer's slice is always their own, whatever they ask for
    assert {r["customer_id"] for r in own["rows"]} == {w["customer_id"]}
    assert own["summary"]["incidents"] == 1
    assert own["summary"]["idle_while_waiting_min_per_technician"] is None  # no technician figures for customers
    theirs = client.get("/api/kpis", headers=login(client, other)).json()
    assert theirs["summary"]["incidents"] == 0 and theirs["summary"]["first_visit_fix_rate"] is None


def test_values_follow_the_return_visit_and_match_the_board_strip(world) -> None:
    client, w = world
    h = login(client, "dispatcher")
    body = client.get("/api/kpis", headers=h, params={"days": 2}).json()
    today = body["rows"][-1]
    assert (today["day"], today["incidents"]) == ("2026-01-01", 1)
    assert today["onsite_2h_rate"] == 1.0  # first arrival 50 min after open
    assert today["first_visit_fix_rate"] == 0.0  # fixed only at the return visit
    assert today["parts_at_first_visit_rate"] == 0.0  # the first visit lacked the part
    assert today["repair_24h_rate"] == 1.0
    assert today["p90_time_to_site_min"] == pytest.approx(50)
    assert body["promise"] == {"response_min": 15, "onsite_min": 120, "repair_h": 24}
    strip = client.get("/api/board/kpis", headers=h).json()
    total = next(r for r in strip if r["region"] == "*" and r["tier"] == "*")
    assert (total["onsite_2h_met"], total["onsite_2h_judged"]) == (1, 1)
    assert (total["first_visit_fixed"], total["first_visit_judged"]) == (0, 1)
    kinds = [r[0] for r in w["conn"].execute(
        "SELECT kind FROM timeline_events WHERE work_order_id IN (%s, %s) ORDER BY id", (w["wo"], w["back"]))]
    assert "visit_not_fixed" in kinds and "return_visit_created" in kinds and kinds[-1] == "work_completed"
    audit = w["conn"].execute("SELECT actor, details->>'outcome' FROM audit_log WHERE action = 'work_order.not_fixed' "
                              "AND target_id = %s", (str(w["wo"]),)).fetchall()
    assert audit == [("T01", "wrong_part")]


def test_csv_export_matches_the_json(world) -> None:
    client, _ = world
    h = login(client, "dispatcher")
    r = client.get("/api/kpis.csv", headers=h, params={"days": 2, "by": "tier"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    js = client.get("/api/kpis", headers=h, params={"days": 2, "by": "tier"}).json()["rows"]
    assert [(x["day"], x["tier"], int(x["incidents"])) for x in rows] == [(x["day"], x["tier"], x["incidents"])
                                                                          for x in js]
    assert any(x["first_visit_fix_rate"] == "0.0" for x in rows)


def test_bad_input_is_refused_clearly(world) -> None:
    client, _ = world
    h = login(client, "dispatcher")
    for params in ({"days": 0}, {"days": 1000}, {"by": "planet"}, {"at": "2099-01-01T00:00:00Z"},
                   {"at": "2026-01-01T10:00:00"}):
        r = client.get("/api/kpis", headers=h, params=params)
        assert r.status_code == 422, (params, r.text)
    past = client.get("/api/kpis", headers=h, params={"days": 1, "at": "2026-01-01T10:30:00Z"}).json()
    assert past["rows"][0]["onsite_2h_rate"] is None  # at 10:30 nobody had arrived and the 2 h had not run out


def test_technician_ends_a_visit_unfixed_and_a_return_visit_follows(settings: Settings, conn) -> None:
    devices = seed(conn, devices=2, technicians=1, users=True)
    clock = ManualClock()
    t0 = to_datetime(clock.now())
    tech = conn.execute("SELECT id FROM technicians").fetchone()[0]
    wo = open_work_order(conn, devices[0].device_id, [], t0)
    conn.execute("UPDATE work_orders SET technician_id = %s, status = 'assigned', assigned_at = %s, eta = %s "
                 "WHERE id = %s", (tech, t0, t0 + timedelta(minutes=30), wo))
    conn.commit()
    app = create_app(settings)
    app.state.clock = clock
    with TestClient(app) as client:
        h = login(client, "tech01")
        for action, extra in (("en_route", {}), ("arrived", {}),
                              ("not_fixed", {"outcome": "wrong_part", "notes": "BRG-6204 not on the van"})):
            clock.advance(600)
            r = client.post(f"/api/tech/jobs/{wo}/actions", headers=h,
                            json={"action_id": str(uuid4()), "action": action, **extra})
            assert r.status_code == 200 and r.json()["applied"], r.text
        assert r.json()["status"] == "completed"
        bad = client.post(f"/api/tech/jobs/{wo}/actions", headers=h,
                          json={"action_id": str(uuid4()), "action": "not_fixed", "outcome": "bored"})
        assert bad.status_code == 422
    conn.commit()
    rows = conn.execute("SELECT visit_no, status, outcome, departed_at FROM work_orders WHERE incident_id = "
                        "(SELECT incident_id FROM work_orders WHERE id = %s) ORDER BY id", (wo,)).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [(1, "completed", "wrong_part"), (2, "open", None)]
    assert rows[0][3] == t0 + timedelta(minutes=10)  # "on my way" ended the job's wait
    assert conn.execute("SELECT i.status FROM incidents i JOIN work_orders w ON w.incident_id = i.id "
                        "WHERE w.id = %s", (wo,)).fetchone()[0] == "work_order"  # still open
    assert conn.execute("SELECT actor FROM audit_log WHERE action = 'work_order.not_fixed'").fetchone()[0] == "tech01"
