"""Spares in the live flow on the real database: the dispatch loop holds what each route uses (van, depot pick-up,
courier), re-plans move the holds, completion consumes and returns, out-of-stock alerts fire once, and the API
shows whole routes with their parts. Every movement is checked against the ledger (levels = sum of deltas)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import ManualClock, to_datetime
from core.settings import DispatchSettings, Settings
from dispatch import DispatchLoop, check_plan, complete, mark_arrived
from dispatch import repository as plan_repo
from i18n import render
from quietfix.seed import CENTER, SeededDevice, seed
from spares import service as flow
from spares.models import ShipmentStatus
from tests.dispatch.test_live_replanning_integration import work_order
from tests.helpers import login

pytestmark = pytest.mark.integration


def here(lat: float, lon: float) -> tuple[float, float]:
    """A point written for the old Rotterdam region (51.92 N, 4.48 E), moved to the seeded region around CENTER
    with the same distances (longitude degrees scaled by the cosine of the latitude)."""
    return round(lat - 51.92 + CENTER[0], 6), round(CENTER[1] + (lon - 4.48) * 0.72, 6)
SETTINGS = DispatchSettings(replan_budget_s=0.5, min_replan_interval_s=0.0, solve_in_subprocess=False)
SKU, OTHER, NONE = "BRG-6204", "SEAL-9", "PCB-X1"


@dataclass
class World:
    client: TestClient
    conn: psycopg.Connection  # the test's connection (commits its own writes)
    loop_conn: psycopg.Connection  # autocommit, as the dispatch loop runs
    clock: ManualClock
    devices: list[SeededDevice]
    techs: dict[str, int]  # code -> id
    vans: dict[str, int]  # code -> van location id
    depot: int
    far_depot: int

    def tick(self, loop: DispatchLoop) -> None:
        loop.tick(self.loop_conn)
        stored = plan_repo.current_plan(self.conn)
        assert stored is not None and loop.last_problem is not None
        assert check_plan(loop.last_problem, stored.plan) == []
        self.conn.commit()

    def level(self, location: int, sku: str = SKU) -> tuple[int, int, int]:
        row = self.conn.execute("SELECT on_hand, reserved, in_transit FROM stock_levels WHERE location_id = %s "
                                "AND sku = %s", (location, sku)).fetchone()
        self.conn.commit()
        return (0, 0, 0) if row is None else tuple(row)  # type: ignore[return-value]

    def holds(self, wo: int) -> list[tuple]:
        rows = self.conn.execute("SELECT location_id, sku, qty, source_kind, technician_id FROM reservations "
                                 "WHERE work_order_id = %s AND status = 'active' ORDER BY id", (wo,)).fetchall()
        self.conn.commit()
        return rows


def ledger_balances(conn: psycopg.Connection) -> None:
    """Every level equals the sum of its ledger deltas, and nothing is negative (the ledger is the book)."""
    bad = conn.execute(
        "SELECT s.location_id, s.sku FROM stock_levels s LEFT JOIN (SELECT location_id, sku, sum(d_on_hand) oh, "
        "sum(d_reserved) r, sum(d_in_transit) t FROM stock_ledger GROUP BY 1, 2) l USING (location_id, sku) "
        "WHERE (s.on_hand, s.reserved, s.in_transit) <> (coalesce(l.oh, 0), coalesce(l.r, 0), coalesce(l.t, 0)) "
        "OR s.on_hand < 0 OR s.reserved < 0 OR s.reserved > s.on_hand").fetchall()
    conn.commit()
    assert bad == []


@pytest.fixture()
def world(settings: Settings, db_url: str, conn: psycopg.Connection) -> Iterator[World]:
    devices = seed(conn, devices=12, technicians=3, users=True)
    clock = ManualClock()
    at = clock.now()
    from spares.models import EquipmentType, GeoPoint, LocationKind, Part
    from spares.repository import SparesRepository

    repo = SparesRepository(conn)
    for sku in (SKU, OTHER, NONE):
        repo.add_part(Part(sku, f"part {sku}", frozenset({EquipmentType.PUMP}), 10.0, 0.1))
    techs = dict(conn.execute("SELECT code, id FROM technicians").fetchall())
    vans = {}
    for code, tid in techs.items():
        lat, lon = conn.execute("SELECT lat, lon FROM technicians WHERE id = %s", (tid,)).fetchone()
        vans[code] = repo.add_location(LocationKind.VAN, f"Van {code}", GeoPoint(lat, lon), tid).id
    depot = repo.add_location(LocationKind.DEPOT, "Depot Centrum", GeoPoint(*here(51.92, 4.48))).id
    far = repo.add_location(LocationKind.DEPOT, "Depot Far", GeoPoint(*here(53.2, 6.5))).id  # ~190 km: out of reach
    repo.receive(depot, SKU, 3, at)
    repo.receive(depot, OTHER, 2, at)
    repo.receive(far, OTHER, 5, at)
    conn.commit()
    app = create_app(settings)
    app.state.clock = clock
    with psycopg.connect(db_url, autocommit=True) as loop_conn, TestClient(app) as client:
        yield World(client, conn, loop_conn, clock, devices, techs, vans, depot, far)


def pinned_order(w: World, device: int, code: str, parts: dict[str, int] | None, **kw: object) -> int:
    wo = work_order(w.conn, w.devices[device], ["mechanical"], to_datetime(w.clock.now()), parts=parts, **kw)
    w.conn.execute("UPDATE work_orders SET pinned_technician_id = %s WHERE id = %s", (w.techs[code], wo))
    w.conn.commit()
    return wo


def test_van_stock_is_held_for_the_planned_job_and_consumed_on_completion(world: World) -> None:
    w = world
    from spares.repository import SparesRepository
    SparesRepository(w.conn).receive(w.vans["T01"], SKU, 2, w.clock.now())
    w.conn.commit()
    wo = pinned_order(w, 0, "T01", {SKU: 1})
    loop = DispatchLoop(lambda: w.loop_conn, SETTINGS, w.clock)
    w.tick(loop)
    assert w.holds(wo) == [(w.vans["T01"], SKU, 1, "van", w.techs["T01"])]
    assert w.level(w.vans["T01"]) == (2, 1, 0)
    w.clock.advance(60)  # an unrelated change and a re-plan: the matching hold is left alone (no ledger churn)
    pinned_order(w, 1, "T02", None)
    w.tick(loop)
    kinds = [k for (k,) in w.conn.execute("SELECT kind FROM stock_ledger WHERE work_order_id = %s ORDER BY id",
                                           (wo,)).fetchall()]
    assert kinds == ["reserve"]
    with w.conn.transaction():
        mark_arrived(w.conn, wo, to_datetime(w.clock.now()))
        assert complete(w.conn, wo, to_datetime(w.clock.now() + 1800), parts_used={SKU: 1}) is not None
    w.conn.commit()
    assert w.level(w.vans["T01"]) == (1, 0, 0)
    assert w.conn.execute("SELECT status FROM reservations WHERE work_order_id = %s", (wo,)).fetchone() == \
        ("consumed",)
    fitted = w.conn.execute("SELECT data->'parts_fitted' FROM timeline_events WHERE work_order_id = %s "
                            "AND kind = 'work_completed'", (wo,)).fetchone()[0]
    assert fitted == {SKU: 1}
    ledger_balances(w.conn)


def test_depot_pickup_is_held_and_unused_parts_go_back_into_the_van(world: World) -> None:
    w = world
    wo = pinned_order(w, 0, "T02", {SKU: 2})
    loop = DispatchLoop(lambda: w.loop_conn, SETTINGS, w.clock)
    w.tick(loop)
    assert w.holds(wo) == [(w.depot, SKU, 2, "depot", w.techs["T02"])]
    assert w.level(w.depot) == (3, 2, 0)
    h = login(w.client, "tech02")
    jobs = w.client.get("/api/tech/jobs", headers=h).json()
    assert [j["id"] for j in jobs] == [wo]
    assert jobs[0]["seq"] == 0 and jobs[0]["status"] == "assigned"
    [part] = jobs[0]["parts"]
    assert {k: part[k] for k in ("sku", "qty", "source_kind", "location_name", "lat", "lon", "status")} == {
        "sku": SKU, "qty": 2, "source_kind": "depot", "location_name": "Depot Centrum", "lat": here(51.92, 4.48)[0],
        "lon": here(51.92, 4.48)[1], "status": "reserved"}
    routes = w.client.get("/api/board/routes", headers=login(w.client, "dispatcher")).json()
    [route] = [r for r in routes if r["technician_id"] == w.techs["T02"]]
    assert [(s["kind"], s["work_order_id"], s["seq"], s["location_name"]) for s in route["stops"]] == [
        ("pickup", None, 0, "Depot Centrum"), ("job", wo, 1, route["stops"][1]["location_name"])]
    assert route["stops"][0]["for_work_order_id"] == wo and route["stops"][0]["eta"] <= route["stops"][1]["eta"]
    assert route["stops"][1]["parts"][0]["source_kind"] == "depot"
    w.clock.advance(60)  # a re-plan: the job is committed now, its depot hold stands
    pinned_order(w, 1, "T01", None)
    w.tick(loop)
    assert w.holds(wo) == [(w.depot, SKU, 2, "depot", w.techs["T02"])]
    routes = w.client.get("/api/board/routes", headers=login(w.client, "dispatcher")).json()
    [route] = [r for r in routes if r["technician_id"] == w.techs["T02"]]
    job = next(s for s in route["stops"] if s["work_order_id"] == wo)
    assert job["parts"][0]["location_name"] == "Depot Centrum"
    assert [(s["kind"], s["for_work_order_id"], s["location_name"]) for s in route["stops"][:1]] == [
        ("pickup", wo, "Depot Centrum")]  # the committed pick-up stays on the route line
    # The phone completes the job: one fitted, the other travels on in the van.
    r = w.client.post(f"/api/tech/jobs/{wo}/actions", headers=h,
                      json={"action_id": str(uuid.uuid4()), "action": "arrived"})
    assert r.status_code == 200 and r.json()["applied"]
    r = w.client.post(f"/api/tech/jobs/{wo}/actions", headers=h,
                      json={"action_id": str(uuid.uuid4()), "action": "completed", "parts_used": [f"{SKU} x1"]})
    assert r.status_code == 200 and r.json()["status"] == "completed"
    assert w.level(w.depot) == (1, 0, 0)
    assert w.level(w.vans["T02"]) == (1, 0, 0)
    kinds = w.conn.execute("SELECT kind, location_id, qty FROM stock_ledger WHERE work_order_id = %s ORDER BY id",
                           (wo,)).fetchall()
    assert kinds == [("reserve", w.depot, 2), ("consume", w.depot, 2), ("return", w.vans["T02"], 1)]
    ledger_balances(w.conn)


def test_replan_to_another_technician_moves_the_hold(world: World) -> None:
    w = world
    from spares.repository import SparesRepository
    repo = SparesRepository(w.conn)
    repo.receive(w.vans["T01"], SKU, 1, w.clock.now())
    repo.receive(w.vans["T02"], SKU, 1, w.clock.now())
    w.conn.commit()
    wo = pinned_order(w, 0, "T01", {SKU: 1})
    loop = DispatchLoop(lambda: w.loop_conn, SETTINGS, w.clock)
    w.tick(loop)
    assert w.holds(wo) == [(w.vans["T01"], SKU, 1, "van", w.techs["T01"])]
    w.conn.execute("UPDATE work_orders SET pinned_technician_id = %s WHERE id = %s", (w.techs["T02"], wo))
    w.conn.commit()
    w.clock.advance(60)
    w.tick(loop)
    assert w.conn.execute("SELECT technician_id FROM work_orders WHERE id = %s", (wo,)).fetchone()[0] == \
        w.techs["T02"]
    w.conn.commit()
    assert w.holds(wo) == [(w.vans["T02"], SKU, 1, "van", w.techs["T02"])]
    assert w.level(w.vans["T01"]) == (1, 0, 0) and w.level(w.vans["T02"]) == (1, 1, 0)
    kinds = [k for (k,) in w.conn.execute("SELECT kind FROM stock_ledger WHERE work_order_id = %s ORDER BY id",
                                           (wo,)).fetchall()]
    assert kinds == ["reserve", "release", "reserve"]
    ledger_balances(w.conn)


def test_van_short_falls_back_to_a_courier_and_picking_ships_it(world: World) -> None:
    w = world
    from spares.repository import SparesRepository
    SparesRepository(w.conn).receive(w.vans["T01"], OTHER, 1, w.clock.now())
    w.conn.commit()
    # Two jobs ask T01's van, which has one unit (the live planner no longer plans that for one route: van stock is
    # consumed along it and the second job collects at a depot; a plan can still ask more of a van than it holds,
    # e.g. for a committed job). The second hold cannot be backed, so its part goes by courier from the depot.
    from spares.allocation import PlannedParts
    from spares.models import GeoPoint
    a = pinned_order(w, 0, "T01", {OTHER: 1})
    b = pinned_order(w, 3, "T01", {OTHER: 1})
    plan = [PlannedParts(wo, w.techs["T01"], "van", None, {OTHER: 1}, GeoPoint(d.lat, d.lon))
            for wo, d in ((a, w.devices[0]), (b, w.devices[3]))]
    with w.conn.transaction():
        flow.apply_plan(w.conn, plan, w.clock.now())
    w.conn.commit()
    kinds = sorted(h[3] for wo in (a, b) for h in w.holds(wo))
    assert kinds == ["courier", "van"]
    courier_wo = a if w.holds(a)[0][3] == "courier" else b
    assert w.holds(courier_wo)[0][0] == w.depot
    assert w.level(w.depot, OTHER) == (2, 1, 0)
    d = login(w.client, "dispatcher")
    [ship] = w.client.get("/api/spares/shipments", headers=d, params={"work_order_id": courier_wo}).json()
    assert ship["status"] == "planned" and ship["to_lat"] is not None and ship["from_location_id"] == w.depot
    assert w.client.get("/api/spares/in-transit", headers=d).json()["count"] == 0
    w.clock.advance(60)  # the same plan again keeps the courier: the van still cannot back both jobs
    with w.conn.transaction():
        flow.apply_plan(w.conn, plan, w.clock.now())
    w.conn.commit()
    assert len(w.client.get("/api/spares/shipments", headers=d, params={"work_order_id": courier_wo}).json()) == 1
    r = w.client.post(f"/api/spares/shipments/{ship['id']}/status", headers=d, json={"status": "picked"})
    assert r.status_code == 200 and r.json()["status"] == "picked"
    assert w.level(w.depot, OTHER) == (1, 0, 0)  # the hold became a ship-out
    transit = w.client.get("/api/spares/in-transit", headers=d).json()
    assert transit["count"] == 1 and transit["shipments"][0]["id"] == ship["id"]
    assert w.client.post(f"/api/spares/shipments/{ship['id']}/status", headers=d,
                         json={"status": "picked"}).status_code == 422  # no step backwards or sideways
    parts = w.client.get(f"/api/spares/work-orders/{courier_wo}/parts", headers=d).json()
    assert [(p["source_kind"], p["status"], p["location_name"]) for p in parts] == [
        ("courier", "picked", "Depot Centrum")]
    ledger_balances(w.conn)


def test_part_nobody_has_within_reach_alerts_dispatchers_once(world: World) -> None:
    w = world
    wo = pinned_order(w, 0, "T01", {NONE: 1})  # nobody stocks it: visited without it, dispatchers alerted
    loop = DispatchLoop(lambda: w.loop_conn, SETTINGS, w.clock)
    w.tick(loop)
    w.clock.advance(60)
    pinned_order(w, 1, "T02", None)
    w.tick(loop)
    incident = w.conn.execute("SELECT incident_id FROM work_orders WHERE id = %s", (wo,)).fetchone()[0]
    alerts = w.conn.execute("SELECT incident_id, sku, needed, available FROM spares_alerts").fetchall()
    assert alerts == [(incident, NONE, 1, 0)]
    events = w.conn.execute("SELECT summary, message FROM timeline_events WHERE kind = 'parts_unavailable' "
                            "AND work_order_id = %s", (wo,)).fetchall()
    w.conn.commit()
    assert len(events) == 1
    [(summary, message)] = events  # English beside a message that reads in the dispatcher's language (0821)
    assert summary == f"Part {NONE} out of stock within reach (need 1, 0 available)"
    assert render(message, "zh-CN", "Asia/Shanghai") == f"备件 {NONE} 在可达范围内缺货（需要 1，可用 0）"
    assert w.holds(wo) == []
    d = login(w.client, "dispatcher")
    [alert] = w.client.get("/api/spares/alerts", headers=d).json()
    assert alert["work_order_id"] == wo and alert["sku"] == NONE
    assert w.client.post(f"/api/spares/alerts/{alert['id']}/ack", headers=d).status_code == 200
    assert w.client.get("/api/spares/alerts", headers=d).json() == []
    assert w.client.post(f"/api/spares/alerts/{alert['id']}/ack", headers=d).status_code == 404
    parts = w.client.get(f"/api/spares/work-orders/{wo}/parts", headers=d).json()
    assert parts == [{"sku": NONE, "qty": 1, "source_kind": None, "location_id": None, "location_name": None,
                      "lat": None, "lon": None, "status": "unavailable", "shipment_id": None, "eta": None,
                      "reservation_id": None}]


def test_whole_route_on_the_board_and_the_phone_only_the_next_job_assigned(world: World) -> None:
    w = world
    from spares.repository import SparesRepository
    SparesRepository(w.conn).receive(w.vans["T01"], SKU, 3, w.clock.now())
    w.conn.commit()
    orders = [pinned_order(w, i, "T01", {SKU: 1}) for i in (0, 3, 6)]
    loop = DispatchLoop(lambda: w.loop_conn, SETTINGS, w.clock)
    w.tick(loop)
    status = dict(w.conn.execute("SELECT id, status FROM work_orders WHERE id = ANY(%s)", (orders,)).fetchall())
    w.conn.commit()
    routes = w.client.get("/api/board/routes", headers=login(w.client, "dispatcher")).json()
    [route] = [r for r in routes if r["technician_id"] == w.techs["T01"]]
    stops = route["stops"]
    assert sorted(s["work_order_id"] for s in stops) == sorted(orders)
    assert [s["seq"] for s in stops] == list(range(len(stops)))
    assert [s["eta"] for s in stops] == sorted(s["eta"] for s in stops)
    assert all(set(s) >= {"work_order_id", "kind", "seq", "eta", "lat", "lon", "location_name"} for s in stops)
    first = stops[0]["work_order_id"]
    assert status[first] == "assigned" and stops[0]["status"] == "assigned"
    assert all(status[s["work_order_id"]] == "open" and s["status"] == "planned" for s in stops[1:])
    jobs = w.client.get("/api/tech/jobs", headers=login(w.client, "tech01")).json()
    assert [j["id"] for j in jobs] == [s["work_order_id"] for s in stops]
    assert [j["status"] for j in jobs] == ["assigned", "planned", "planned"]
    assert all(j["parts"][0]["source_kind"] == "van" and j["parts"][0]["status"] == "reserved" for j in jobs)
    assert w.level(w.vans["T01"]) == (3, 3, 0)  # every job on the route holds its part, not only the first
    notes = w.conn.execute("SELECT count(*) FROM notifications WHERE kind = 'technician_assigned'").fetchone()[0]
    w.conn.commit()
    assert notes == 1  # customers of later stops are told when their job becomes the next one
    # A planned job of the route is visible to its technician, not to another one.
    later = stops[1]["work_order_id"]
    assert w.client.get(f"/api/spares/work-orders/{later}/parts", headers=login(w.client, "tech01")).status_code \
        == 200
    assert w.client.get(f"/api/spares/work-orders/{later}/parts", headers=login(w.client, "tech02")).status_code \
        == 404


def test_cancelled_work_order_releases_its_holds(world: World) -> None:
    w = world
    wo = pinned_order(w, 0, "T02", {SKU: 1})
    loop = DispatchLoop(lambda: w.loop_conn, SETTINGS, w.clock)
    w.tick(loop)
    assert w.level(w.depot) == (3, 1, 0)
    w.conn.execute("UPDATE work_orders SET status = 'cancelled' WHERE id = %s", (wo,))
    w.conn.commit()
    w.clock.advance(60)
    w.tick(loop)
    assert w.holds(wo) == [] and w.level(w.depot) == (3, 0, 0)
    ledger_balances(w.conn)


def test_api_roles_and_forbidden_paths(world: World) -> None:
    w = world
    c = w.client
    d, t1, cust = login(c, "dispatcher"), login(c, "tech01"), login(c, "customer001")
    # Customers: nothing of spares.
    for path in ("/api/spares/parts", "/api/spares/stock", "/api/spares/van", "/api/spares/in-transit",
                 "/api/spares/alerts", "/api/spares/replenishment", "/api/board/routes"):
        assert c.get(path, headers=cust).status_code == 403, path
    assert c.post("/api/spares/receipts", headers=cust,
                  json={"location_id": w.depot, "sku": SKU, "qty": 1}).status_code == 403
    assert c.get("/api/spares/stock").status_code == 401
    # Technicians: the catalogue, their own van, their own jobs; no writes, no other van, no staff views.
    assert len(c.get("/api/spares/parts", headers=t1).json()) == 3
    assert c.get("/api/spares/van", headers=t1).json()["location_id"] == w.vans["T01"]
    own = c.get("/api/spares/stock", headers=t1).json()
    assert {r["location_id"] for r in own} <= {w.vans["T01"]}
    assert c.get("/api/spares/stock", headers=t1, params={"location_id": w.depot}).status_code == 404
    assert c.get("/api/spares/stock", headers=t1, params={"location_id": w.vans["T02"]}).status_code == 404
    for path in ("/api/spares/in-transit", "/api/spares/alerts", "/api/spares/replenishment",
                 "/api/spares/transfers", "/api/spares/locations", "/api/spares/ledger", "/api/board/routes"):
        assert c.get(path, headers=t1).status_code == 403, path
    assert c.post("/api/spares/receipts", headers=t1,
                  json={"location_id": w.vans["T01"], "sku": SKU, "qty": 5}).status_code == 403
    other = pinned_order(w, 0, "T02", None)
    assert c.get(f"/api/spares/work-orders/{other}/parts", headers=t1).status_code == 404
    assert c.get("/api/spares/work-orders/999999/parts", headers=t1).status_code == 404
    restock = c.get("/api/spares/van-restock", headers=t1).json()
    assert [r["technician_id"] for r in restock] == [w.techs["T01"]]
    # Dispatchers: catalogue, locations, receipts, manual holds, shipments; errors map to 404/409/422.
    assert c.post("/api/spares/parts", headers=d, json={"sku": "NEW-1", "description": "new", "unit_cost": 3,
                                                         "weight_kg": 0.1, "equipment_types": ["pump"]}
                  ).status_code == 201
    assert c.post("/api/spares/parts", headers=d, json={"sku": "NEW-1", "description": "again", "unit_cost": 3,
                                                         "weight_kg": 0.1}).status_code == 409
    loc = c.post("/api/spares/locations", headers=d, json={"kind": "depot", "name": "Depot Zuid", "lat": here(51.85, 4.5)[0],
                                                            "lon": here(51.85, 4.5)[1]})
    assert loc.status_code == 201
    assert c.post("/api/spares/locations", headers=d, json={"kind": "van", "name": "x", "lat": 51.85,
                                                             "lon": 4.5}).status_code == 422
    r = c.post("/api/spares/receipts", headers=d, json={"location_id": loc.json()["id"], "sku": "NEW-1", "qty": 4})
    assert r.status_code == 201 and r.json()["on_hand"] == 4
    assert c.post("/api/spares/receipts", headers=d, json={"location_id": 999999, "sku": SKU, "qty": 1}
                  ).status_code == 404
    assert c.post("/api/spares/receipts", headers=d, json={"location_id": w.depot, "sku": SKU, "qty": -1}
                  ).status_code == 422
    hold = c.post("/api/spares/reservations", headers=d, json={"work_order_id": other, "location_id": w.depot,
                                                                "sku": SKU, "qty": 3})
    assert hold.status_code == 201
    assert c.post("/api/spares/reservations", headers=d, json={"work_order_id": other, "location_id": w.depot,
                                                                "sku": SKU, "qty": 1}).status_code == 409
    assert [x["qty"] for x in c.get(f"/api/spares/work-orders/{other}/reservations", headers=d).json()] == [3]
    assert c.post(f"/api/spares/reservations/{hold.json()['id']}/release", headers=d).status_code == 200
    assert c.post(f"/api/spares/reservations/{hold.json()['id']}/release", headers=d).status_code == 404
    ship = c.post("/api/spares/shipments", headers=d, json={"sku": SKU, "qty": 2, "from_location_id": w.depot,
                                                             "to_location_id": loc.json()["id"]})
    assert ship.status_code == 201 and ship.json()["status"] == "planned"
    sid = ship.json()["id"]
    for step in ("picked", "in_transit", "delivered"):
        assert c.post(f"/api/spares/shipments/{sid}/status", headers=d, json={"status": step}).status_code == 200
    assert c.post(f"/api/spares/shipments/{sid}/status", headers=d, json={"status": "cancelled"}).status_code == 422
    assert c.post("/api/spares/shipments", headers=d, json={"sku": SKU, "qty": 1, "from_location_id": w.depot}
                  ).status_code == 422
    big = c.post("/api/spares/shipments", headers=d, json={"sku": SKU, "qty": 50, "from_location_id": w.depot,
                                                            "to_site": dict(zip(("lat", "lon"), here(51.9, 4.4), strict=True))}).json()
    assert c.post(f"/api/spares/shipments/{big['id']}/status", headers=d, json={"status": "picked"}
                  ).status_code == 409  # more than the depot has: refused, nothing moved
    stock = {(r["location_id"], r["sku"]): r for r in c.get("/api/spares/stock", headers=d).json()}
    assert (stock[(w.depot, SKU)]["on_hand"], stock[(loc.json()["id"], SKU)]["on_hand"]) == (1, 2)
    assert len(c.get("/api/spares/ledger", headers=d, params={"location_id": w.depot, "sku": SKU}).json()) >= 3
    ledger_balances(w.conn)


def test_replenishment_counts_open_jobs_and_suggests_transfers_and_van_lists(world: World) -> None:
    w = world
    from spares.repository import SparesRepository
    repo = SparesRepository(w.conn)
    at = w.clock.now()
    near = w.conn.execute("INSERT INTO stock_locations (kind, name, lat, lon) VALUES ('depot', 'Depot Oost', "
                          "%s, %s) RETURNING id", here(51.93, 4.55)).fetchone()[0]
    repo.receive(near, OTHER, 12, at - 40 * 86_400)
    repo.receive(near, SKU, 5, at - 40 * 86_400)
    for day in range(30):  # a month of van consumption history at T01
        repo.receive(w.vans["T01"], SKU, 1, at - (day + 1) * 86_400)
        repo.issue(None, w.vans["T01"], SKU, 1, at - (day + 1) * 86_400 + 60)
    w.conn.commit()
    work_order(w.conn, w.devices[0], ["welding"], to_datetime(at), parts={SKU: 2})  # nobody can do it yet
    w.conn.commit()
    d = login(w.client, "dispatcher")
    rows = w.client.get("/api/spares/replenishment", headers=d).json()
    by = {(r["location_id"], r["sku"]): r for r in rows}
    nearest = min((w.depot, *here(51.92, 4.48)), (near, *here(51.93, 4.55)),
                  key=lambda x: (x[1] - w.devices[0].lat) ** 2 + (x[2] - w.devices[0].lon) ** 2)[0]
    assert by[(nearest, SKU)]["announced"] == 2 and by[(nearest, SKU)]["mean_demand"] >= 2
    van = by[(w.vans["T01"], SKU)]
    assert van["mean_demand"] > 0.5 and van["base_stock"] >= 1 and van["order_qty"] >= 1
    assert all(r["order_qty"] >= 0 and r["reorder_point"] <= r["base_stock"] for r in rows)
    moves = w.client.get("/api/spares/transfers", headers=d).json()
    assert all(m["qty"] > 0 and m["from_location_id"] != m["to_location_id"] for m in moves)
    lists = {r["technician_id"]: r for r in w.client.get("/api/spares/van-restock", headers=d).json()}
    assert set(lists) == set(w.techs.values())
    t1 = lists[w.techs["T01"]]
    assert t1["van_location_id"] == w.vans["T01"] and t1["depot_location_id"] in (w.depot, near)
    assert [(ln["sku"], ln["from_location_id"]) for ln in t1["lines"]] == [(SKU, t1["depot_location_id"])]
    on_hand, reserved, _ = w.level(t1["depot_location_id"])
    # the van is empty: filled up to its target, as far as its depot can give (the marginal van rule holds 5
    # of a 10-euro part used daily; the depot has 3)
    assert t1["lines"][0]["qty"] == min(van["base_stock"], on_hand - reserved) > 0


def test_shipment_pick_of_a_courier_hold_never_overdraws(world: World) -> None:
    w = world
    from spares.allocation import PlannedParts
    from spares.models import GeoPoint
    wo = work_order(w.conn, w.devices[0], ["mechanical"], to_datetime(w.clock.now()), parts={OTHER: 2})
    job = PlannedParts(wo, w.techs["T03"], "van", None, {OTHER: 2}, GeoPoint(*here(51.9, 4.47)))
    with w.conn.transaction():
        result = flow.apply_plan(w.conn, [job], w.clock.now())
    w.conn.commit()
    assert result.couriers == 1 and w.level(w.depot, OTHER) == (2, 2, 0)
    sid = w.conn.execute("SELECT shipment_id FROM reservations WHERE work_order_id = %s", (wo,)).fetchone()[0]
    w.conn.commit()
    with w.conn.transaction():
        flow.advance_shipment(w.conn, sid, ShipmentStatus.PICKED, w.clock.now())
    w.conn.commit()
    assert w.level(w.depot, OTHER) == (0, 0, 0) and w.holds(wo) == []
    ledger_balances(w.conn)


def test_out_of_reach_stock_does_not_count(world: World) -> None:
    """OTHER is only at the far depot (~190 km, beyond reach_km) once Depot Centrum's units are held."""
    w = world
    from spares.repository import SparesRepository
    wo = work_order(w.conn, w.devices[0], ["welding"], to_datetime(w.clock.now()), parts={OTHER: 3})
    w.conn.commit()
    with w.conn.transaction():
        created = flow.scan_alerts(w.conn, w.clock.now())
    w.conn.commit()
    assert len(created) == 1
    row = w.conn.execute("SELECT work_order_id, sku, needed, available FROM spares_alerts").fetchone()
    w.conn.commit()
    assert row == (wo, OTHER, 3, 2)  # Depot Centrum's 2 count, the far depot's 5 do not
    SparesRepository(w.conn).receive(w.depot, OTHER, 5, w.clock.now())
    w.conn.commit()
    with w.conn.transaction():
        assert flow.scan_alerts(w.conn, w.clock.now()) == []


def test_seeded_demo_region_is_stocked_and_the_loop_holds_parts(db_url: str, conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=9, technicians=4, users=False, spares=True)
    conn.commit()
    kinds = dict(conn.execute("SELECT kind, count(*) FROM stock_locations GROUP BY kind").fetchall())
    assert kinds == {"warehouse": 1, "depot": 2, "van": 4}
    pump = next(d for d in devices if d.equipment_type == "pump")
    wo = work_order(conn, pump, ["mechanical"], to_datetime(ManualClock().now()), parts={"BRG-6205-2RS": 1})
    conn.commit()
    with psycopg.connect(db_url, autocommit=True) as loop_conn:
        DispatchLoop(lambda: loop_conn, SETTINGS, ManualClock()).tick(loop_conn)
    held = conn.execute("SELECT sku, qty, source_kind FROM reservations WHERE work_order_id = %s "
                        "AND status = 'active'", (wo,)).fetchall()
    conn.commit()
    assert [(s, q) for s, q, _ in held] == [("BRG-6205-2RS", 1)] and held[0][2] in ("van", "depot", "courier")
    ledger_balances(conn)


def test_a_dispatchers_manual_hold_stands_through_replans(world: World) -> None:
    w = world
    from spares.repository import SparesRepository
    SparesRepository(w.conn).receive(w.vans["T01"], SKU, 1, w.clock.now())
    w.conn.commit()
    wo = pinned_order(w, 0, "T01", {SKU: 1})
    r = w.client.post("/api/spares/reservations", headers=login(w.client, "dispatcher"),
                      json={"work_order_id": wo, "location_id": w.depot, "sku": SKU, "qty": 1})
    assert r.status_code == 201
    loop = DispatchLoop(lambda: w.loop_conn, SETTINGS, w.clock)
    w.tick(loop)
    assert w.holds(wo) == [(w.depot, SKU, 1, None, None)]
    assert w.level(w.vans["T01"]) == (1, 0, 0)
    ledger_balances(w.conn)


def test_replenishment_counts_predicted_failures_once_and_only_within_the_horizon(world: World) -> None:
    """A RUL forecast (rul_estimates row -> diagnostics' predicted_failures view) is announced demand at the depot
    nearest the asset (and on its territory van); an asset already with an open incident, or predicted to fail far beyond lead time +
    review (2 + 1 days), adds nothing."""
    from datetime import timedelta
    w = world
    now = to_datetime(w.clock.now())
    kind = w.devices[0].equipment_type
    same = [d for d in w.devices if d.equipment_type == kind]
    assert len(same) >= 3
    mode = "bearing_wear"  # the knowledge base lists 2 x NONE for it: the parts a predicted failure needs
    w.conn.execute("INSERT INTO knowledge_base (equipment_type, fault_mode, entry) VALUES (%s, %s, %s) "
                   "ON CONFLICT (equipment_type, fault_mode) DO UPDATE SET entry = excluded.entry",
                   (kind, mode, psycopg.types.json.Jsonb({"parts": [{"sku": NONE, "qty": 2}],
                                                          "skills": ["mechanical"], "repair_minutes": 90})))
    w.conn.commit()
    d = login(w.client, "dispatcher")

    def rows() -> dict[tuple[int, str], dict]:
        return {(r["location_id"], r["sku"]): r for r in w.client.get("/api/spares/replenishment", headers=d).json()}

    assert not [k for k in rows() if k[1] == NONE]  # nothing stocked, used or announced yet

    def predict(device: SeededDevice, days: float, lo: float, hi: float | None) -> None:
        w.conn.execute(
            "INSERT INTO rul_estimates (device_id, estimated_at, status, signal, direction, fault_mode, failure_at, "
            "failure_earliest_at, failure_latest_at, rul_s) VALUES (%s, %s, 'degrading', 'vibration_rms', 'up', %s, "
            "%s, %s, %s, %s)",
            (device.device_id, now, mode, now + timedelta(days=days), now + timedelta(days=lo),
             now + timedelta(days=hi) if hi is not None else None, days * 86_400))

    predict(same[0], 1.0, 0.5, 2.0)  # counted: P(fail within 3 days) = Phi(4)
    predict(same[1], 1.0, 0.5, 2.0)  # already being handled: skipped
    w.conn.execute("INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, summary, "
                   "opened_at, response_due, onsite_due, repair_due) VALUES (%s, %s, %s, 'test', 2, 'detected', "
                   "'test', %s, %s, %s, %s)", (same[1].device_id, same[1].customer_id, mode, now, now, now, now))
    predict(same[2], 20.0, 18.0, None)  # far beyond the horizon: skipped
    w.conn.commit()

    got = {k: r for k, r in rows().items() if k[1] == NONE}
    nearest = min((w.depot, *here(51.92, 4.48)), (w.far_depot, *here(53.2, 6.5)),
                  key=lambda x: (x[1] - same[0].lat) ** 2 + (x[2] - same[0].lon) ** 2)[0]
    depot_rows = {k: r for k, r in got.items() if r["kind"] == "depot"}
    assert list(depot_rows) == [(nearest, NONE)]
    # and on the van of the technician whose territory holds the asset (spares/stocking.py; its own test:
    # tests/spares/test_van_stocking_integration.py)
    assert [r["kind"] for k, r in got.items() if k not in depot_rows] == ["van"]
    row = got[(nearest, NONE)]
    assert row["predicted"] == pytest.approx(2.0, abs=1e-3) and row["announced"] == 0
    assert row["mean_demand"] == pytest.approx(2.0, abs=1e-3)
    # nothing on hand: order it (cost-weighted levels, the default: topped up whenever below the level)
    assert row["order_qty"] == row["base_stock"] >= 2 and row["reorder_point"] == row["base_stock"] - 1
