"""Planning routes on the real database: contracts on work orders, forecast vs actual, roster, coverage map."""

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import ManualClock, to_datetime
from core.settings import Settings
from quietfix.seed import CENTER, DEMO_PASSWORD, seed
from tests.dispatch.test_dispatch_integration import open_work_order

pytestmark = pytest.mark.integration


def history(conn: psycopg.Connection, devices: list, until, weeks: int = 4, per_day: int = 12) -> int:
    """Closed incidents over the past weeks, busier in working hours, for the forecast to learn from."""
    rng = random.Random(3)
    rows = []
    for d in range(weeks * 7):
        for _ in range(per_day):
            hour = rng.choice([8, 9, 9, 10, 10, 11, 13, 14, 15, 16, 20, 2])
            at = until - timedelta(days=d + 1) + timedelta(hours=hour - until.hour, minutes=rng.randrange(60))
            dev = rng.choice(devices)
            rows.append((dev.device_id, dev.customer_id, at))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, summary, "
            "opened_at, response_due, onsite_due, repair_due, closed_at) VALUES (%s, %s, 'history', 'test', 2, "
            "'closed', 'old', %s, %s, %s, %s, %s)", [(a, b, t, t, t, t, t) for a, b, t in rows])
    return len(rows)


@pytest.fixture()
def world(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, dict]]:
    devices = seed(conn, devices=12, technicians=4, users=True)
    clock = ManualClock(start=1_767_600_000.0)  # 2026-01-05 08:00 UTC, a Monday morning
    at = to_datetime(clock.now())
    n = history(conn, devices, at)
    wo = open_work_order(conn, devices[0].device_id, ["mechanical"], at)
    conn.commit()
    app = create_app(settings)
    app.state.clock = clock
    with TestClient(app) as client:
        r = client.post("/api/auth/token", json={"username": "dispatcher", "password": DEMO_PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        yield client, {"devices": devices, "wo": wo, "headers": headers, "history": n}


def test_work_orders_show_their_contract(world) -> None:
    client, w = world
    r = client.get(f"/api/planning/work-orders/{w['wo']}/contract", headers=w["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["contract"]["code"].startswith("SC-")
    listed = client.get("/api/planning/work-orders", headers=w["headers"]).json()
    assert [x["work_order_id"] for x in listed] == [w["wo"]]
    assert client.get("/api/planning/work-orders/424242/contract", headers=w["headers"]).status_code == 404
    assert client.get("/api/planning/work-orders").status_code == 401


def test_forecast_vs_actual_and_roster_suggestion(world) -> None:
    client, w = world
    fc = client.get("/api/planning/forecast?back_h=24&ahead_h=24", headers=w["headers"]).json()
    assert fc["history_incidents"] > 0 and fc["regions"] == ["shanghai"]
    past = [h for h in fc["hours"] if h["actual"] is not None]
    assert len(past) == 24 and len(fc["hours"]) == 48
    assert all(h["lo80"] <= h["mean"] <= h["hi95"] + 1 for h in fc["hours"])
    morning = max(fc["hours"][:24], key=lambda h: h["mean"])
    assert 7 <= int(morning["hour"][11:13]) <= 17  # the busy hours are learnt from the history
    roster = client.get("/api/planning/roster", headers=w["headers"]).json()
    rows = {r["shift"]: r for r in roster["rows"]}
    assert set(rows) == {"early", "late", "night"}
    assert rows["early"]["technicians_needed"] >= rows["night"]["technicians_needed"] >= 1
    assert sum(rows["early"]["skill_mix"].values()) == rows["early"]["technicians_needed"]


def test_coverage_map_and_what_if_depot(world, conn: psycopg.Connection) -> None:
    client, w = world
    # Everyone works days only: nights are uncovered, key accounts included.
    conn.execute("UPDATE technicians SET shift_start = '08:00', shift_end = '17:00'")
    conn.commit()
    cov = client.get("/api/planning/coverage", headers=w["headers"]).json()
    assert cov["summary"]["sites"] == 12 and len(cov["sites"][0]["covered"]) == 24
    assert cov["summary"]["covered_by_hour"][3] == 0.0 and cov["summary"]["covered_by_hour"][10] > 0.5
    assert cov["summary"]["uncovered_key_accounts"]
    body = {"add_depots": [{"lat": CENTER[0], "lon": CENTER[1], "shift_start_h": 17, "shift_end_h": 8}]}
    r = client.post("/api/planning/coverage/what-if", json=body, headers=w["headers"])
    assert r.status_code == 200, r.text
    wi = r.json()["what_if"]
    assert wi["site_hours_gained"] > 0 and wi["summary"]["covered_by_hour"][3] > 0
    assert wi["newly_covered_key_accounts"]
    assert client.post("/api/planning/coverage/what-if", json={"add_technicians": [{"lat": 200, "lon": 0}]},
                       headers=w["headers"]).status_code == 422


def test_preventive_visits_are_slotted_into_spare_hours(world, conn: psycopg.Connection) -> None:
    client, w = world
    d = w["devices"][5]
    at = to_datetime(1_767_600_000.0)
    conn.execute("INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, summary, "
                 "opened_at, response_due, onsite_due, repair_due) VALUES (%s, %s, 'bearing_wear', 'monitor', 1, "
                 "'detected', 'early wear', %s, %s, %s, %s)", (d.device_id, d.customer_id, at, at, at, at))
    conn.commit()
    r = client.get("/api/planning/preventive?days=3", headers=w["headers"])
    assert r.status_code == 200, r.text
    plan = r.json()
    visits = plan["visits"]
    assert plan["forecast"] and {v["reason"] for v in visits} == {"inspection", "rul"}
    assert len(visits) + len(plan["deferred"]) >= 9  # key/gold/standard customers' assets + the RUL repair
    horizon = at + timedelta(days=3)
    for v in visits:
        start = datetime.fromisoformat(v["window_start"])
        assert at < start < horizon and datetime.fromisoformat(v["window_end"]) - start == timedelta(hours=2)


def test_forecast_model_is_fitted_once_per_history(world, conn: psycopg.Connection) -> None:
    """The fitted model is cached on the history it learnt from: a second forecast (and the roster, which
    shares it) fits nothing; a late incident landing in that history refits."""
    from planning import service

    client, w = world
    service.FORECAST_MODELS.clear()
    misses = service.FORECAST_MODELS.misses
    first = client.get("/api/planning/roster", headers=w["headers"]).json()
    assert service.FORECAST_MODELS.misses == misses + 1
    assert client.get("/api/planning/roster", headers=w["headers"]).json() == first
    assert service.FORECAST_MODELS.misses == misses + 1
    d = w["devices"][0]
    at = to_datetime(1_767_600_000.0) - timedelta(days=2)
    conn.execute("INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, summary, "
                 "opened_at, response_due, onsite_due, repair_due) VALUES (%s, %s, 'late', 'test', 2, 'closed', "
                 "'reported late', %s, %s, %s, %s)", (d.device_id, d.customer_id, at, at, at, at))
    conn.commit()
    client.get("/api/planning/roster", headers=w["headers"])
    assert service.FORECAST_MODELS.misses == misses + 2


def test_load_today_against_the_forecast_with_the_roster_shortfall(world, conn: psycopg.Connection) -> None:
    """The KPI line of the board and planning page: today's complete hours, actual vs forecast."""
    client, w = world
    d = w["devices"][1]
    midnight = to_datetime(1_767_600_000.0).replace(hour=0)  # the clock stands at 08:00
    for minutes in (75, 400, 479):  # 01:15, 06:40, 07:59: three incidents in today's complete hours
        at = midnight + timedelta(minutes=minutes)
        conn.execute("INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, summary, "
                     "opened_at, response_due, onsite_due, repair_due) VALUES (%s, %s, 'today', 'test', 2, "
                     "'closed', 'today', %s, %s, %s, %s)", (d.device_id, d.customer_id, at, at, at, at))
    conn.commit()
    load = client.get("/api/planning/load", headers=w["headers"]).json()
    assert load["forecast"] and load["hours_past"] == 8 and load["actual_so_far"] == 3
    fc = client.get("/api/planning/forecast?back_h=8&ahead_h=16", headers=w["headers"]).json()
    assert load["forecast_so_far"] == round(sum(h["mean"] for h in fc["hours"][:8]), 1)
    assert load["forecast_day"] == round(sum(h["mean"] for h in fc["hours"]), 1) > load["forecast_so_far"]
    roster = client.get("/api/planning/roster", headers=w["headers"]).json()
    gaps = [r["gap"] for r in roster["rows"] if r["gap"] > 0]
    assert load["roster"]["short_cells"] == len(gaps) and load["roster"]["short_technicians"] == sum(gaps)
    for user in ("support", "engineering", "tech01"):
        token = client.post("/api/auth/token", json={"username": user, "password": DEMO_PASSWORD}).json()
        r = client.get("/api/planning/load", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert r.status_code == 403, user
