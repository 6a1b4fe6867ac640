"""The optimiser in the live dispatch loop, on the real database: plans, assignments, pins, locks, parts, drops.

Every plan the loop stores is re-checked with the independent checker (``dispatch.check_plan``) against the
problem the loop loaded. Solver budgets stay at 0.5 s (2 shared cores).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import ManualClock, to_datetime
from core.settings import DispatchSettings, Settings
from dispatch import DispatchLoop, check_plan, mark_arrived
from dispatch import repository as repo
from dispatch.encoding import REASON_NO_SKILL
from dispatch.models import Params
from quietfix.seed import CENTER, SeededDevice, seed
from tests.helpers import login

pytestmark = pytest.mark.integration
_fault = itertools.count()
SETTINGS = DispatchSettings(replan_budget_s=0.5, min_replan_interval_s=0.0, solve_in_subprocess=False)


def work_order(conn: psycopg.Connection, device: SeededDevice, skills: list[str], at, *, minutes: int = 45,
               due_h: float = 2.0, parts: dict[str, int] | None = None, severity: int = 2) -> int:
    at_due = at + timedelta(hours=due_h)
    incident = conn.execute(
        "INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, summary, "
        "opened_at, response_due, onsite_due, repair_due) VALUES (%s, %s, %s, 'test', %s, 'work_order', 'test', "
        "%s, %s, %s, %s) RETURNING id",
        (device.device_id, device.customer_id, f"fault_{next(_fault)}", severity, at, at, at_due,
         at + timedelta(hours=24))).fetchone()[0]
    return conn.execute(
        "INSERT INTO work_orders (incident_id, device_id, customer_id, required_skills, estimated_minutes, lat, lon, "
        "created_at, onsite_due, required_parts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (incident, device.device_id, device.customer_id, skills, minutes, device.lat, device.lon, at, at_due,
         psycopg.types.json.Jsonb(parts) if parts else None)).fetchone()[0]


@pytest.fixture()
def world(db_url: str, conn: psycopg.Connection) -> Iterator[tuple[list[SeededDevice], ManualClock, psycopg.Connection]]:
    devices = seed(conn, devices=24, technicians=6, users=False)
    conn.commit()
    with psycopg.connect(db_url, autocommit=True) as loop_conn:
        yield devices, ManualClock(), loop_conn


def checked(loop: DispatchLoop, conn: psycopg.Connection) -> None:
    """The stored plan (read back from the database) passes the independent checker on the loaded problem."""
    stored = repo.current_plan(conn)
    assert stored is not None and loop.last_problem is not None
    assert check_plan(loop.last_problem, stored.plan) == []


def statuses(conn: psycopg.Connection) -> dict[int, tuple[str, int | None]]:
    rows = conn.execute("SELECT id, status, technician_id FROM work_orders").fetchall()
    conn.commit()
    return {i: (s, t) for i, s, t in rows}


def test_optimiser_assigns_every_assignable_order_feasibly(world, conn) -> None:
    devices, clock, c = world
    at = to_datetime(clock.now())
    skills = (["mechanical"], ["electrical"], ["refrigeration"], ["mechanical"])
    orders = [work_order(conn, d, list(skills[i % 4]), at) for i, d in enumerate(devices[:10])]
    impossible = work_order(conn, devices[10], ["welding"], at)
    conn.commit()
    loop = DispatchLoop(lambda: c, SETTINGS, clock)
    assigned = loop.tick(c)
    checked(loop, conn)
    plan = loop.last_plan
    assert plan is not None
    planned = {s.job_id for stops in plan.routes.values() for s in stops if s.kind == "job"}
    assert planned == {str(o) for o in orders}
    assert plan.dropped == {str(impossible): REASON_NO_SKILL}
    firsts = {int(next(s.job_id for s in stops if s.kind == "job")): int(t)
              for t, stops in plan.routes.items() if stops}
    now = statuses(conn)
    assert assigned == len(firsts)
    for wo in orders:  # the first job of each route is assigned to its technician; later stops stay planned
        assert now[wo] == (("assigned", firsts[wo]) if wo in firsts else ("open", None))
    assert now[impossible] == ("open", None)
    notes = conn.execute("SELECT count(*) FROM notifications WHERE kind = 'technician_assigned'").fetchone()[0]
    assert notes == len(firsts)
    states = dict(conn.execute("SELECT id, state FROM technicians").fetchall())
    assert {t for t, s in states.items() if s == "travelling"} == set(firsts.values())
    stops = conn.execute("SELECT count(*) FROM plan_stops ps JOIN plans p ON p.id = ps.plan_id "
                         "WHERE p.is_current AND ps.kind = 'job'").fetchone()[0]
    assert stops == len(orders)


def test_dropped_job_keeps_its_reason_on_the_timeline_once(world, conn) -> None:
    devices, clock, c = world
    at = to_datetime(clock.now())
    wo = work_order(conn, devices[0], ["welding"], at)
    conn.commit()
    loop = DispatchLoop(lambda: c, SETTINGS, clock)
    loop.tick(c)
    work_order(conn, devices[1], ["mechanical"], at)  # a change: the loop re-plans, the drop is unchanged
    conn.commit()
    clock.advance(60)
    loop.tick(c)
    assert loop.replans == 2
    events = conn.execute("SELECT summary, data->>'reason' FROM timeline_events "
                          "WHERE work_order_id = %s AND kind = 'dispatch_dropped'", (wo,)).fetchall()
    assert events == [(f"Not planned yet: {REASON_NO_SKILL}", REASON_NO_SKILL)]
    drops = conn.execute("SELECT d.reason FROM plan_drops d JOIN plans p ON p.id = d.plan_id "
                         "WHERE p.is_current AND d.work_order_id = %s", (wo,)).fetchall()
    assert drops == [(REASON_NO_SKILL,)]
    assert statuses(conn)[wo] == ("open", None)


def test_nothing_changed_means_no_replan_and_a_change_triggers_one(world, conn) -> None:
    devices, clock, c = world
    at = to_datetime(clock.now())
    work_order(conn, devices[0], ["mechanical"], at)
    conn.commit()
    loop = DispatchLoop(lambda: c, SETTINGS, clock)
    loop.tick(c)
    clock.advance(10)
    assert loop.tick(c) == 0 and loop.replans == 1  # the loop's own writes do not count as changes
    work_order(conn, devices[1], ["electrical"], at)
    conn.commit()
    loop.tick(c)
    assert loop.replans == 2


def test_pins_are_respected(world, conn) -> None:
    devices, clock, c = world
    at = to_datetime(clock.now())
    orders = [work_order(conn, d, ["mechanical"], at) for d in devices[:6]]
    # Pin the first order to the qualified technician who is farthest from it: never the optimiser's own choice.
    lat, lon = devices[0].lat, devices[0].lon
    far = conn.execute("SELECT id FROM technicians WHERE 'mechanical' = ANY(skills) "
                       "ORDER BY (lat - %s) ^ 2 + (lon - %s) ^ 2 DESC LIMIT 1", (lat, lon)).fetchone()[0]
    conn.execute("UPDATE work_orders SET pinned_technician_id = %s WHERE id = %s", (far, orders[0]))
    conn.commit()
    loop = DispatchLoop(lambda: c, SETTINGS, clock)
    loop.tick(c)
    checked(loop, conn)
    assert loop.last_plan is not None and loop.last_plan.technician_of(str(orders[0])) == str(far)
    on = conn.execute("SELECT ps.technician_id FROM plan_stops ps JOIN plans p ON p.id = ps.plan_id "
                      "WHERE p.is_current AND ps.work_order_id = %s", (orders[0],)).fetchone()[0]
    assert on == far


def test_in_progress_jobs_are_never_moved(world, conn) -> None:
    devices, clock, c = world
    at = to_datetime(clock.now())
    [work_order(conn, d, ["mechanical"], at) for d in devices[:4]]
    conn.commit()
    loop = DispatchLoop(lambda: c, SETTINGS, clock)
    loop.tick(c)
    first = {wo: st for wo, st in statuses(conn).items() if st[0] == "assigned"}
    assert len(first) >= 2
    on_site, en_route = sorted(first)[:2]
    eta = conn.execute("SELECT eta FROM work_orders WHERE id = %s", (on_site,)).fetchone()[0]
    with conn.transaction():
        assert mark_arrived(conn, on_site, eta)
        conn.execute("UPDATE work_orders SET status = 'en_route' WHERE id = %s", (en_route,))
    # A burst of new work right next to both jobs would tempt a planner to re-shuffle.
    for d in devices[4:12]:
        work_order(conn, d, ["mechanical"], at, due_h=1.0, severity=3)
    conn.commit()
    clock.advance(eta.timestamp() - clock.now() + 60)
    loop.tick(c)
    checked(loop, conn)
    plan = loop.last_plan
    assert plan is not None
    for wo in (on_site, en_route):
        tech = str(first[wo][1])
        assert next(s.job_id for s in plan.routes[tech] if s.kind == "job") == str(wo)
    now = statuses(conn)
    assert now[on_site] == ("on_site", first[on_site][1]) and now[en_route] == ("en_route", first[en_route][1])


def test_part_missing_from_the_van_is_picked_up_at_a_depot_first(world, conn) -> None:
    devices, clock, c = world
    at = to_datetime(clock.now())
    conn.execute("INSERT INTO parts (sku, description, equipment_types, unit_cost, weight_kg) "
                 "VALUES ('BRG-6204', 'bearing', '{pump}', 12, 0.2)")
    depot = conn.execute("INSERT INTO stock_locations (kind, name, lat, lon) VALUES ('depot', 'Depot North', "
                         "%s, %s) RETURNING id", (CENTER[0] + 0.03, CENTER[1] - 0.03)).fetchone()[0]
    conn.execute("INSERT INTO stock_levels (location_id, sku, on_hand) VALUES (%s, 'BRG-6204', 5)", (depot,))
    for (tech,) in conn.execute("SELECT id FROM technicians").fetchall():  # vans exist, but without the part
        conn.execute("INSERT INTO stock_locations (kind, name, lat, lon, technician_id) "
                     "VALUES ('van', 'van', 0, 0, %s)", (tech,))
    wo = work_order(conn, devices[0], ["mechanical"], at, parts={"BRG-6204": 1})
    conn.commit()
    loop = DispatchLoop(lambda: c, SETTINGS, clock)
    loop.tick(c)
    checked(loop, conn)
    rows = conn.execute("SELECT ps.technician_id, ps.seq, ps.kind, ps.stock_location_id, ps.skus "
                        "FROM plan_stops ps JOIN plans p ON p.id = ps.plan_id WHERE p.is_current "
                        "AND ps.work_order_id = %s ORDER BY ps.seq", (wo,)).fetchall()
    assert [(r[2], r[3]) for r in rows] == [("pickup", depot), ("job", None)]
    assert rows[0][0] == rows[1][0] and rows[0][1] < rows[1][1] and rows[0][4] == {"BRG-6204": 1}
    status, tech, eta = conn.execute("SELECT status, technician_id, eta FROM work_orders WHERE id = %s",
                                     (wo,)).fetchone()
    assert (status, tech) == ("assigned", rows[0][0]) and eta.timestamp() > clock.now()
    conn.commit()
    clock.advance(60)  # a re-plan (another order) while the technician is still on the way to the depot
    work_order(conn, devices[1], ["mechanical"], to_datetime(clock.now()))
    conn.commit()
    loop.tick(c)
    checked(loop, conn)
    again = conn.execute("SELECT ps.technician_id, ps.seq, ps.kind, ps.stock_location_id, ps.eta "
                         "FROM plan_stops ps JOIN plans p ON p.id = ps.plan_id WHERE p.is_current "
                         "AND ps.work_order_id = %s ORDER BY ps.seq", (wo,)).fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in again] == [(tech, 0, "pickup", depot), (tech, 1, "job", None)]
    assert abs(again[1][4].timestamp() - eta.timestamp()) < 120  # the ETA still includes the depot detour


def test_new_urgent_order_keeps_committed_stops_stable(world, conn) -> None:
    devices, clock, c = world
    at = to_datetime(clock.now())
    skills = (["mechanical"], ["electrical"])
    for i, d in enumerate(devices[1:13]):
        work_order(conn, d, list(skills[i % 2]), at, minutes=40)
    conn.commit()
    loop = DispatchLoop(lambda: c, SETTINGS, clock)
    loop.tick(c)
    before = dict(conn.execute("SELECT id, (technician_id, eta) FROM work_orders WHERE status = 'assigned'"
                               ).fetchall())
    conn.commit()
    assert len(before) >= 4
    clock.advance(300)
    # devices[0] belongs to the seed's key-account customer: the most urgent kind of work there is.
    urgent = work_order(conn, devices[0], ["mechanical"], to_datetime(clock.now()), due_h=1.0, severity=3)
    conn.commit()
    loop.tick(c)
    checked(loop, conn)
    after = dict(conn.execute("SELECT id, (technician_id, eta) FROM work_orders WHERE id = ANY(%s)",
                              (list(before),)).fetchall())
    assert after == before  # same technician, same ETA the customer was told
    assert loop.last_plan is not None and loop.last_plan.technician_of(str(urgent)) is not None
    per_order = conn.execute("SELECT count(*) FROM notifications WHERE kind = 'technician_assigned' "
                             "GROUP BY incident_id HAVING count(*) > 1").fetchall()
    assert per_order == []
    assert conn.execute("SELECT count(*) FROM notifications WHERE kind = 'eta_changed'").fetchone()[0] == 0


def test_nearest_fallback_still_assigns(world, conn) -> None:
    devices, clock, c = world
    at = to_datetime(clock.now())
    wo = work_order(conn, devices[0], ["mechanical"], at)
    conn.commit()
    loop = DispatchLoop(lambda: c, DispatchSettings(planner="nearest"), clock)
    assert loop.tick(c) == 1
    assert statuses(conn)[wo][0] == "assigned"


@pytest.fixture()
def api(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, list[SeededDevice], ManualClock]]:
    devices = seed(conn, devices=9, technicians=3, users=True)
    conn.commit()
    with TestClient(create_app(settings)) as client:
        yield client, devices, ManualClock()


def test_plan_api_pin_lock_release_and_scope(api, settings, conn) -> None:
    client, devices, clock = api
    at = to_datetime(clock.now())
    orders = [work_order(conn, d, ["mechanical"], at) for d in devices[:4]]
    conn.commit()
    staff, tech = login(client, "dispatcher"), login(client, "tech01")
    assert client.get("/api/plans/current", headers=staff).status_code == 404
    assert client.post(f"/api/work-orders/{orders[0]}/pin", json={"technician_id": 1},
                       headers=tech).status_code == 403
    t1 = conn.execute("SELECT id FROM technicians WHERE code = 'T01'").fetchone()[0]
    conn.commit()
    r = client.post(f"/api/work-orders/{orders[0]}/pin", json={"technician_id": t1}, headers=staff)
    assert r.status_code == 200 and r.json()["action"] == "pinned"
    assert client.post(f"/api/work-orders/{orders[1]}/lock", headers=staff).json()["action"] == "locked"
    dispatch_settings = settings.dispatch.model_copy(update={"replan_budget_s": 0.5, "min_replan_interval_s": 0.0,
                                                             "solve_in_subprocess": False})
    with psycopg.connect(settings.database_url, autocommit=True) as c:
        loop = DispatchLoop(lambda: c, dispatch_settings, clock)
        loop.tick(c)
    assert loop.last_plan is not None and loop.last_plan.technician_of(str(orders[0])) == str(t1)
    everything = client.get("/api/plans/current", headers=staff).json()
    planned = {s["work_order_id"] for r in everything["routes"] for s in r["stops"] if s["kind"] == "job"}
    assert planned == set(orders)
    own = client.get("/api/plans/current", headers=tech).json()
    assert {r["technician_id"] for r in own["routes"]} <= {t1} and own["dropped"] == []
    assert orders[0] in {s["work_order_id"] for r in own["routes"] for s in r["stops"]}
    assert client.get("/api/plans/current", headers=login(client, "customer001")).status_code == 403
    assert client.post(f"/api/work-orders/{orders[0]}/release", headers=staff).json()["action"] == "released"
    pinned, locked = conn.execute("SELECT pinned_technician_id, locked FROM work_orders WHERE id = %s",
                                  (orders[0],)).fetchone()
    assert (pinned, locked) == (None, False)
    kinds = [k for (k,) in conn.execute("SELECT kind FROM timeline_events WHERE kind LIKE 'dispatch_%%' "
                                        "AND kind <> 'dispatch_dropped' ORDER BY id")]
    assert kinds == ["dispatch_pinned", "dispatch_locked", "dispatch_released"]
    # A job its technician is driving to cannot be pinned to someone else.
    conn.execute("UPDATE work_orders SET status = 'en_route' WHERE id = %s", (orders[0],))
    conn.commit()
    other = conn.execute("SELECT id FROM technicians WHERE id <> %s LIMIT 1", (t1,)).fetchone()[0]
    conn.commit()
    assert client.post(f"/api/work-orders/{orders[0]}/pin", json={"technician_id": other},
                       headers=staff).status_code == 409


def test_a_visit_over_running_its_estimate_triggers_a_replan(world, conn) -> None:
    devices, clock, c = world
    at = to_datetime(clock.now())
    wo = work_order(conn, devices[0], ["mechanical"], at, minutes=30)
    work_order(conn, devices[1], ["mechanical"], at)
    conn.commit()
    settings = SETTINGS.model_copy(update={"max_replan_interval_s": 10 * 24 * 3600.0})  # no periodic re-plans
    loop = DispatchLoop(lambda: c, settings, clock)
    loop.tick(c)
    eta = conn.execute("SELECT eta FROM work_orders WHERE id = %s", (wo,)).fetchone()[0]
    conn.commit()
    if eta is None:  # the other order went first on the only nearby technician: arrive at that one instead
        wo, eta = conn.execute("SELECT id, eta FROM work_orders WHERE status = 'assigned' LIMIT 1").fetchone()
    with conn.transaction():
        assert mark_arrived(conn, wo, eta)
    clock.advance(eta.timestamp() - clock.now())
    loop.tick(c)
    assert loop.replans == 2  # the arrival
    clock.advance(20 * 60)
    assert loop.tick(c) == 0 and loop.replans == 2  # on site, within the estimate: nothing to do
    clock.advance(3 * 3600)
    loop.tick(c)
    assert loop.replans == 3  # over-running: re-planned with the technician busy a while longer
    assert loop.last_problem is not None
    tech = next(t for t in loop.last_problem.technicians if t.state == "on_site")
    assert tech.busy_until is not None and tech.busy_until > loop.last_problem.now


def test_a_job_further_down_a_route_tells_its_customer_the_planned_arrival_once(world, conn) -> None:
    """Issue #14 (response within 15 min): a customer heard nothing until their job was a technician's next stop.
    Now a job planned as a later stop gets one 'visit_planned' notice with its planned arrival, and another only
    when the plan slipped later by more than the threshold, at most once an hour."""
    from dispatch.models import Plan, Stop
    from dispatch.notices import tell_planned

    devices, clock, c = world
    at = to_datetime(clock.now())
    first, later = (work_order(conn, d, ["mechanical"], at) for d in devices[:2])
    tech = conn.execute("SELECT id FROM technicians ORDER BY id LIMIT 1").fetchone()[0]
    conn.execute("UPDATE work_orders SET status = 'assigned', technician_id = %s WHERE id = %s", (tech, first))
    conn.commit()  # the loop assigns a first stop before it tells the planned ones
    now = clock.now()

    def plan(eta: float) -> Plan:
        return Plan({str(tech): (Stop("job", str(first), None, (), now + 600, now + 600, now + 3000),
                                 Stop("job", str(later), None, (), eta, eta, eta + 2700))}, {})

    with c.transaction():
        assert tell_planned(c, plan(now + 3600), now, 900) == 1  # only the open one: the first is assigned
    with c.transaction():
        assert tell_planned(c, plan(now + 3600 + 600), now + 60, 900) == 0  # 10 min later: not worth a message
    with c.transaction():
        assert tell_planned(c, plan(now + 3600 + 1800), now + 120, 900) == 0  # 30 min later, but within the hour
    with c.transaction():
        assert tell_planned(c, plan(now + 600), now + 3700, 900) == 0  # earlier: the set-off notice will say so
    with c.transaction():
        assert tell_planned(c, plan(now + 3600 + 1800), now + 3700, 900) == 1  # 30 min later, an hour on: told
    rows = conn.execute("SELECT n.kind, n.body, w.id FROM notifications n JOIN work_orders w "
                        "ON w.incident_id = n.incident_id ORDER BY n.id").fetchall()
    conn.commit()
    assert [(k, w) for k, _, w in rows] == [("visit_planned", later), ("visit_planned", later)]
    assert "planned to be with you" in rows[0][1] and rows[1][1].startswith("The plan has changed")
    told = conn.execute("SELECT planned_eta_told, planned_told_at FROM work_orders WHERE id = %s",
                        (later,)).fetchone()
    conn.commit()
    assert tuple(told) == (to_datetime(now + 3600 + 1800), to_datetime(now + 3700))


def test_the_live_loop_tells_the_customers_of_queued_jobs(world, conn) -> None:
    devices, clock, c = world
    at = to_datetime(clock.now())
    orders = [work_order(conn, d, ["instrumentation"], at) for d in devices[:6]]  # few hold this skill: a queue
    conn.commit()
    loop = DispatchLoop(lambda: c, SETTINGS, clock)
    loop.tick(c)
    checked(loop, conn)
    st = statuses(conn)
    queued = [o for o in orders if st[o][0] == "open" and loop.last_plan is not None
              and any(s.job_id == str(o) for stops in loop.last_plan.routes.values() for s in stops)]
    assert queued, st
    told = {r[0] for r in conn.execute("SELECT w.id FROM notifications n JOIN work_orders w "
                                       "ON w.incident_id = n.incident_id WHERE n.kind = 'visit_planned'")}
    conn.commit()
    assert told == set(queued)


def test_a_technician_whose_shift_starts_later_is_planned_but_not_sent(world, conn) -> None:
    """Regression (issue #14, live day over 24 h): a job planned for a technician whose shift starts hours later
    was assigned at once and so committed to them; it waited for their shift while others came free. Now it stays
    open (planned, its customer told the planned time) until their shift is near."""
    devices, clock, c = world
    at = to_datetime(clock.now())
    local = at.astimezone(ZoneInfo("Asia/Shanghai"))
    later = (local + timedelta(hours=3)).time().replace(second=0, microsecond=0)
    ends = (local + timedelta(hours=11)).time().replace(second=0, microsecond=0)
    conn.execute("UPDATE technicians SET shift_start = %s, shift_end = %s, timezone = 'Asia/Shanghai', "
                 "working_pattern = '{}'", (later, ends))  # nobody on shift for three hours
    wo = work_order(conn, devices[0], ["mechanical"], at, due_h=24)
    conn.commit()
    loop = DispatchLoop(lambda: c, SETTINGS, clock)
    loop.tick(c)
    assert loop.last_plan is not None and any(s.job_id == str(wo) for r in loop.last_plan.routes.values() for s in r)
    assert statuses(conn)[wo] == ("open", None)
    kinds = [k for (k,) in conn.execute("SELECT kind FROM notifications ORDER BY id")]
    conn.commit()
    assert kinds == ["visit_planned"]
    clock.advance(3 * 3600 - 300)  # five minutes before the shift: the next re-plan sends the technician
    loop.tick(c)
    assert statuses(conn)[wo][0] == "assigned"


def test_the_organisations_waiting_rate_reaches_the_live_objective(world, conn) -> None:
    """dispatch.time_to_site_per_s (the organisation's exchange rate between waiting and driving) is what the
    live loop plans with; unset, the product's default."""
    devices, clock, c = world
    work_order(conn, devices[0], ["mechanical"], to_datetime(clock.now()))
    conn.commit()
    for rate, expected in ((None, Params().time_to_site_per_s), (0.0, 0.0), (1.25, 1.25)):
        loop = DispatchLoop(lambda: c, SETTINGS.model_copy(update={"time_to_site_per_s": rate}), clock)
        loop.tick(c)
        assert loop.last_problem is not None and loop.last_problem.params.time_to_site_per_s == expected
        assert loop.last_problem.params.cost_units_per_s == (Params().cost_units_per_s if rate is None else 4)
        clock.advance(60)
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        DispatchSettings(time_to_site_per_s=-1)
