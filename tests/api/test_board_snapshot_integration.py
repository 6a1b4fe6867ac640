"""Staff board payloads come from one shared snapshot, and a change anyone makes is in the next answer."""

from __future__ import annotations

import pytest

from tests.api.test_views_integration import login, world  # noqa: F401 - the fixture is used by name

pytestmark = pytest.mark.integration


def test_board_snapshot_is_shared_and_follows_changes(world) -> None:  # noqa: F811
    client, w = world
    dispatcher, admin = login(client, "dispatcher"), login(client, "admin")
    first = client.get("/api/board", headers=dispatcher).json()
    again = client.get("/api/board", headers=admin).json()
    store = client.app.state.snapshots
    assert store.builds == 1 and store.hits == 1  # two staff users, one build
    assert first["queue"] == again["queue"] and first["now"] and "tile_url" in first
    assert client.get("/api/board/kpis", headers=dispatcher).json() == client.get(
        "/api/board/kpis", headers=admin).json()
    assert store.builds == 2  # the KPIs' own snapshot

    # A change made outside this process (a technician's phone via another API process, the dispatch loop)...
    conn = w["conn"]
    conn.execute("UPDATE work_orders SET status = 'en_route' WHERE id = %s", (w["wo"],))
    conn.execute("INSERT INTO timeline_events (customer_id, at, kind, summary, work_order_id) "
                 "SELECT customer_id, now(), 'technician_en_route', 'on the way', id FROM work_orders WHERE id = %s",
                 (w["wo"],))
    conn.commit()
    # ...is in the very next answer: the snapshot's version moved.
    assert client.get("/api/board", headers=dispatcher).json()["queue"][0]["status"] == "en_route"
    # Customers and technicians never get the staff snapshot.
    assert client.get("/api/board", headers=login(client, "customer001")).status_code == 403


def test_plan_snapshot_for_staff_and_own_route_for_a_technician(world) -> None:  # noqa: F811
    client, w = world
    assert client.get("/api/plans/current", headers=login(client, "dispatcher")).status_code == 404  # no plan yet
    conn = w["conn"]
    plan = conn.execute("INSERT INTO plans (created_at, trigger, planner, is_current) VALUES (now(), 'start', "
                        "'optimiser', true) RETURNING id").fetchone()[0]
    conn.execute("INSERT INTO plan_stops (plan_id, technician_id, seq, kind, work_order_id, eta, start_at, end_at) "
                 "VALUES (%s, %s, 0, 'job', %s, now(), now(), now())", (plan, w["tech1"], w["wo"]))
    conn.commit()
    staff = client.get("/api/plans/current", headers=login(client, "dispatcher"))
    assert staff.status_code == 200 and staff.json()["id"] == plan
    assert [r["technician_id"] for r in staff.json()["routes"]] == [w["tech1"]]
    mine = client.get("/api/plans/current", headers=login(client, "tech02")).json()
    assert mine["id"] == plan and mine["routes"] == []  # tech02's own (empty) route, not the staff snapshot
