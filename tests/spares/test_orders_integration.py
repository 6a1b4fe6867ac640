"""Replenishment -> purchase orders and transfers (issue #16 item 4): proposed from the live advice, approved or
rejected by a dispatcher over the API, received into the ledger; audited and role-checked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from quietfix.seed import seed
from spares.models import Movement, MovementKind
from spares.repository import SparesRepository
from tests.helpers import login

pytestmark = pytest.mark.integration
DAY = 86_400.0


def _ids(conn: psycopg.Connection) -> dict[str, int]:
    return {name: int(i) for i, name in conn.execute("SELECT id, name FROM stock_locations WHERE kind <> 'van'")}


def short_depot(conn: psycopg.Connection) -> dict[str, Any]:
    """Depot North fitted two of SKU A and two of SKU B a day for a month; Depot South holds its 3 of A (true
    excess: no demand there); nobody but Noord holds B (warehouse and Zuid counted out), so B must be bought.
    The caller commits."""
    loc = _ids(conn)
    noord, zuid, wh = loc["Depot North"], loc["Depot South"], loc["Central warehouse"]
    a, b = [r[0] for r in conn.execute("SELECT sku FROM parts ORDER BY sku LIMIT 2")]
    repo = SparesRepository(conn)
    now = time.time()
    for day in range(30, 0, -1):
        at = now - day * DAY
        for sku in (a, b):
            repo.receive(noord, sku, 2, at, note="test delivery")
            repo.issue(None, noord, sku, 2, at + 3600, note="fitted")
    for where in (wh, zuid):
        repo.post(Movement(MovementKind.ADJUST_DOWN, where, b, repo.level(where, b).on_hand, now, note="count"))
    return {"a": a, "b": b, "noord": noord, "zuid": zuid, "wh": wh}


@pytest.fixture()
def world(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    seed(conn, devices=4, technicians=2, users=True, spares=True)
    w = short_depot(conn)
    conn.commit()
    with TestClient(create_app(settings)) as client:
        yield client, {**w, "db": settings.database_url}


def _level(db: str, location_id: int, sku: str) -> tuple[int, int, int]:
    with psycopg.connect(db) as c:
        lv = SparesRepository(c).level(location_id, sku)
    return lv.on_hand, lv.reserved, lv.in_transit


def test_advice_becomes_orders_that_are_approved_and_received_into_the_ledger(world) -> None:
    client, w = world
    staff = login(client, "dispatcher")
    r = client.post("/api/spares/orders/propose", headers=staff)
    assert r.status_code == 201, r.text
    created = r.json()["created"]
    assert created
    assert client.post("/api/spares/orders/propose", headers=staff).json()["created"] == []  # not twice
    orders = {(o["kind"], o["from_location_id"], o["to_location_id"], o["sku"]): o
              for o in client.get("/api/spares/orders?status=proposed", headers=staff).json()}
    excess = orders[("transfer", w["zuid"], w["noord"], w["a"])]  # Zuid's idle units first, then the warehouse
    assert excess["qty"] == 3 and excess["basis"]["source"] == "depot excess"
    from_wh = orders[("transfer", w["wh"], w["noord"], w["a"])]
    assert from_wh["qty"] > 0 and from_wh["basis"]["source"] == "warehouse"
    buy = orders[("purchase", None, w["noord"], w["b"])]  # nobody else has B
    assert buy["qty"] > 0 and buy["from_name"] is None and float(buy["value"]) > 0
    assert buy["basis"]["position"] <= buy["basis"]["reorder_point"] < buy["basis"]["base_stock"]

    # Approving a transfer picks its shipment: the units leave Zuid and are in transit to Noord.
    noord_before = _level(w["db"], w["noord"], w["a"])
    r = client.post(f"/api/spares/orders/{excess['id']}/approve", headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["shipment_status"] == "picked"
    assert _level(w["db"], w["zuid"], w["a"]) == (0, 0, 0)
    assert _level(w["db"], w["noord"], w["a"]) == (noord_before[0], 0, noord_before[2] + 3)
    assert client.post(f"/api/spares/orders/{excess['id']}/approve", headers=staff).status_code == 409
    r = client.post(f"/api/spares/orders/{excess['id']}/receive", headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "received" and r.json()["shipment_status"] == "delivered"
    assert _level(w["db"], w["noord"], w["a"]) == (noord_before[0] + 3, 0, noord_before[2])

    # A purchase: approved, then received short (as the goods came) as one receipt in the ledger.
    assert client.post(f"/api/spares/orders/{buy['id']}/receive", headers=staff).status_code == 409  # not approved
    assert client.post(f"/api/spares/orders/{buy['id']}/approve", headers=staff).json()["status"] == "approved"
    b_before = _level(w["db"], w["noord"], w["b"])[0]
    r = client.post(f"/api/spares/orders/{buy['id']}/receive", json={"qty": 1}, headers=staff)
    assert r.status_code == 200 and r.json()["received_qty"] == 1
    assert _level(w["db"], w["noord"], w["b"])[0] == b_before + 1
    ledger = client.get(f"/api/spares/ledger?location_id={w['noord']}&sku={w['b']}&limit=1", headers=staff).json()
    assert ledger[0]["kind"] == "receipt" and ledger[0]["qty"] == 1
    assert f"replenishment order {buy['id']}" in ledger[0]["note"]

    # Rejected: nothing moves, and it cannot be received.
    r = client.post(f"/api/spares/orders/{from_wh['id']}/reject", headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["shipment_id"] is None
    assert client.post(f"/api/spares/orders/{from_wh['id']}/receive", headers=staff).status_code == 409
    assert client.post("/api/spares/orders/999999/approve", headers=staff).status_code == 404
    assert client.post(f"/api/spares/orders/{buy['id']}/receive", json={"qty": 0},
                       headers=staff).status_code == 422

    with psycopg.connect(w["db"]) as c:
        audited = c.execute("SELECT action, target_id, actor, actor_role FROM audit_log "
                            "WHERE action LIKE 'spares.order.%%' ORDER BY id").fetchall()
    assert ("spares.order.approve", str(excess["id"]), "dispatcher", "dispatcher") in audited
    assert ("spares.order.receive", str(buy["id"]), "dispatcher", "dispatcher") in audited
    assert ("spares.order.reject", str(from_wh["id"]), "dispatcher", "dispatcher") in audited
    assert sum(1 for a, *_ in audited if a == "spares.order.propose") == len(created)


def test_a_transfer_whose_source_emptied_meanwhile_is_refused_and_changes_nothing(world) -> None:
    client, w = world
    staff = login(client, "admin")
    client.post("/api/spares/orders/propose", headers=staff)
    excess = next(o for o in client.get("/api/spares/orders", headers=staff).json()
                  if o["from_location_id"] == w["zuid"] and o["sku"] == w["a"])
    with psycopg.connect(w["db"]) as c:  # the units were used up before anyone approved the move
        SparesRepository(c).issue(None, w["zuid"], w["a"], 3, time.time(), note="fitted")
        c.commit()
    r = client.post(f"/api/spares/orders/{excess['id']}/approve", headers=staff)
    assert r.status_code == 409
    again = client.get("/api/spares/orders?status=proposed", headers=staff).json()
    assert excess["id"] in {o["id"] for o in again}
    with psycopg.connect(w["db"]) as c:
        assert c.execute("SELECT count(*) FROM shipments").fetchone()[0] == 0


def test_only_staff_see_or_act_on_orders(world) -> None:
    client, _ = world
    for user in ("tech01", "customer001"):
        h = login(client, user)
        assert client.get("/api/spares/orders", headers=h).status_code == 403
        assert client.post("/api/spares/orders/propose", headers=h).status_code == 403
        assert client.post("/api/spares/orders/1/approve", headers=h).status_code == 403
    assert client.get("/api/spares/orders").status_code == 401
