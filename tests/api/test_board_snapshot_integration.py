"""Staff board payloads come from one shared snapshot, and a change anyone makes is in the next answer."""

from __future__ import annotations

import pytest

from tests.api.test_views_integration import login, world  # noqa: F401 - the fixture is used by name

pytestmark = pytest.mark.integration


def current_plan(conn, w) -> int:
    """A current optimiser plan with one stop: technician 1 to the world's work order."""
    plan = conn.execute("INSERT INTO plans (created_at, trigger, planner, is_current) VALUES (now(), 'start', "
                        "'optimiser', true) RETURNING id").fetchone()[0]
    conn.execute("INSERT INTO plan_stops (plan_id, technician_id, seq, kind, work_order_id, eta, start_at, end_at) "
                 "VALUES (%s, %s, 0, 'job', %s, now(), now(), now())", (plan, w["tech1"], w["wo"]))
    conn.commit()
    return plan


def technician_on_the_way(conn, w) -> None:
    """A change made outside this process (a phone via another API process): the work order is en route."""
    conn.execute("UPDATE work_orders SET status = 'en_route' WHERE id = %s", (w["wo"],))
    conn.execute("INSERT INTO timeline_events (customer_id, at, kind, summary, work_order_id) "
                 "SELECT customer_id, now(), 'technician_en_route', 'on the way', id FROM work_orders WHERE id = %s",
                 (w["wo"],))
    conn.commit()


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
    technician_on_the_way(conn, w)
    # ...is in the very next answer: the snapshot's version moved.
    assert client.get("/api/board", headers=dispatcher).json()["queue"][0]["status"] == "en_route"
    # Customers and technicians never get the staff snapshot.
    assert client.get("/api/board", headers=login(client, "customer001")).status_code == 403


def test_plan_snapshot_for_staff_and_own_route_for_a_technician(world) -> None:  # noqa: F811
    client, w = world
    assert client.get("/api/plans/current", headers=login(client, "dispatcher")).status_code == 404  # no plan yet
    conn = w["conn"]
    plan = current_plan(conn, w)
    staff = client.get("/api/plans/current", headers=login(client, "dispatcher"))
    assert staff.status_code == 200 and staff.json()["id"] == plan
    assert [r["technician_id"] for r in staff.json()["routes"]] == [w["tech1"]]
    mine = client.get("/api/plans/current", headers=login(client, "tech02")).json()
    assert mine["id"] == plan and mine["routes"] == []  # tech02's own (empty) route, not the staff snapshot


def test_snapshot_reads_answer_304_while_unchanged_and_200_after_a_change(world) -> None:  # noqa: F811
    client, w = world
    dispatcher = login(client, "dispatcher")
    conn = w["conn"]
    current_plan(conn, w)
    paths = ["/api/board", "/api/board/kpis", "/api/plans/current", "/api/board/routes", "/api/spares/in-transit"]
    first = {p: client.get(p, headers=dispatcher) for p in paths}
    for path, r in first.items():
        assert r.status_code == 200 and r.headers["etag"] and r.headers["cache-control"] == "private, no-cache", path
        again = client.get(path, headers={**dispatcher, "If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b"", path
        assert again.headers["etag"] == r.headers["etag"], path
        # A tag the caller does not hold (or none) gets the body.
        other = client.get(path, headers={**dispatcher, "If-None-Match": '"not-this-one"'})
        assert other.status_code == 200, path
        if path != "/api/board":  # the board's body differs in its "now" only
            assert other.json() == r.json(), path
    # The board's body carries a per-request "now", so its tag is weak; the time travels in a header as well,
    # and a 304 carries it too (the page's clock must not age with the cached body).
    board = first["/api/board"]
    assert board.headers["etag"].startswith('W/"') and board.headers["x-server-now"] == board.json()["now"]
    assert client.get("/api/board", headers={**dispatcher, "If-None-Match": board.headers["etag"]}).headers[
        "x-server-now"]

    # A change anyone makes: the board's tag moves and the old one gets the new body, not a 304.
    technician_on_the_way(conn, w)
    after = client.get("/api/board", headers={**dispatcher, "If-None-Match": board.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != board.headers["etag"]
    assert after.json()["queue"][0]["status"] == "en_route"

    # Authorisation comes first: a customer holding a staff tag gets 403, never a 304 that confirms it.
    customer = login(client, "customer001")
    for path in ("/api/board", "/api/board/kpis", "/api/board/routes", "/api/spares/in-transit"):
        assert client.get(path, headers={**customer, "If-None-Match": "*"}).status_code == 403, path
    # A technician's own plan is not the staff snapshot: no staff tag, no 304 from it.
    mine = client.get("/api/plans/current", headers={**login(client, "tech02"),
                                                     "If-None-Match": first["/api/plans/current"].headers["etag"]})
    assert mine.status_code == 200 and mine.json()["routes"] == []


def test_openapi_documents_the_snapshot_reads_and_their_304(world) -> None:  # noqa: F811
    client, _ = world
    spec = client.get("/openapi.json").json()["paths"]
    for path in ("/api/board", "/api/board/kpis", "/api/plans/current", "/api/board/routes", "/api/spares/in-transit"):
        assert {"200", "304"} <= set(spec[path]["get"]["responses"]), path
    kpi_schema = spec["/api/board/kpis"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert kpi_schema["type"] == "array" and kpi_schema["items"]["$ref"].endswith("/KpiRow")


def test_a_write_in_this_process_makes_the_next_snapshot_read_rebuild(world) -> None:  # noqa: F811
    client, _ = world
    dispatcher = login(client, "dispatcher")
    first = client.get("/api/spares/in-transit", headers=dispatcher)
    store = client.app.state.snapshots
    builds = store.builds
    assert client.get("/api/spares/in-transit", headers=dispatcher).headers["etag"] == first.headers["etag"]
    assert store.builds == builds  # a hit: shipments do not move the board version
    # Any write request answered by this process (here one that fails validation) clears the snapshots...
    assert client.post("/api/board/incidents", headers=dispatcher, json={}).status_code == 422
    client.get("/api/spares/in-transit", headers=dispatcher)
    assert store.builds == builds + 1  # ...so the next read is built again, after the write's commit


def test_board_view_is_every_board_read_in_one_answer_with_one_tag(world) -> None:  # noqa: F811
    client, w = world
    dispatcher = login(client, "dispatcher")
    conn = w["conn"]
    plan = current_plan(conn, w)
    view = client.get("/api/board/view", headers=dispatcher)
    assert view.status_code == 200 and view.headers["etag"].startswith('W/"')
    body = view.json()
    assert body["now"] == view.headers["x-server-now"]
    separate = {"plan": "/api/plans/current", "routes": "/api/board/routes", "in_transit": "/api/spares/in-transit",
                "escalations": "/api/planning/escalations", "kpis": "/api/board/kpis"}
    for member, path in separate.items():  # the same bodies the separate reads give
        assert body[member] == client.get(path, headers=dispatcher).json(), member
    board = client.get("/api/board", headers=dispatcher).json()
    assert body["board"] == {k: v for k, v in board.items() if k != "now"}
    assert body["plan"]["id"] == plan

    # Unchanged: one 304 for the whole refresh; a change in any member (here the queue) moves the tag.
    same = client.get("/api/board/view", headers={**dispatcher, "If-None-Match": view.headers["etag"]})
    assert same.status_code == 304 and same.content == b"" and same.headers["x-server-now"]
    technician_on_the_way(conn, w)
    after = client.get("/api/board/view", headers={**dispatcher, "If-None-Match": view.headers["etag"]})
    assert after.status_code == 200 and after.json()["board"]["queue"][0]["status"] == "en_route"

    # Staff only, and authorisation before any 304.
    for user in ("customer001", "tech01", "support"):
        r = client.get("/api/board/view", headers={**login(client, user), "If-None-Match": "*"})
        assert r.status_code == 403, user
    spec = client.get("/openapi.json").json()["paths"]["/api/board/view"]["get"]["responses"]
    assert {"200", "304"} <= set(spec)
