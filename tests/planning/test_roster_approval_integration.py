"""A dispatcher approves the roster proposal; its shifts become the shifts dispatch plans with (issue #16 item 4)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from dispatch.repository import load_technicians
from tests.helpers import login
from tests.planning.test_planning_api_integration import world  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration
ONLY_SUNDAYS = '{"7": [{"start": "08:00", "end": "17:00", "breaks": []}]}'


def test_approved_roster_becomes_the_shifts_dispatch_reads(world, conn: psycopg.Connection) -> None:  # noqa: F811
    client, w = world
    # Nobody's weekly pattern works on the roster's day (a Tuesday): without the roster, dispatch has no one.
    conn.execute("UPDATE technicians SET working_pattern = %s", (ONLY_SUNDAYS,))
    conn.commit()
    p = client.get("/api/planning/roster/proposal", headers=w["headers"]).json()
    assert p["rows"] and p["shifts"] and p["approved"] == [] and p["timezone"] == "UTC"
    day_start = datetime.fromisoformat(p["day_start"])
    named = {s["code"] for s in p["shifts"]}
    assert len(named) == len(p["shifts"])  # at most one shift per technician per day

    # Only staff approve, and only the proposal they saw.
    tech = login(client, "tech01")
    assert client.post("/api/planning/roster/approve", headers=tech,
                       json={"day_start": p["day_start"]}).status_code == 403
    stale = client.post("/api/planning/roster/approve", headers=w["headers"],
                        json={"day_start": (day_start - timedelta(days=1)).isoformat()})
    assert stale.status_code == 409 and "reload" in stale.json()["detail"]
    assert client.post("/api/planning/roster/approve", headers=w["headers"],
                       json={"day_start": "tomorrow"}).status_code == 422
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM roster_shifts").fetchone()[0] == 0

    r = client.post("/api/planning/roster/approve", headers=w["headers"], json={"day_start": p["day_start"]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["created"] == len(p["shifts"]) and out["replaced"] == 0
    conn.rollback()
    actor, details = conn.execute("SELECT actor, details FROM audit_log WHERE action = 'planning.roster.approved'"
                                  ).fetchone()
    assert actor == "dispatcher" and {s["code"] for s in details["shifts"]} == named
    # The roster view counts the approved shifts; approving again replaces the day's shifts, not adds to them.
    again = client.post("/api/planning/roster/approve", headers=w["headers"], json={"day_start": p["day_start"]})
    assert again.json()["replaced"] == out["created"]
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM roster_shifts").fetchone()[0] == out["created"]
    view = client.get("/api/planning/roster/proposal", headers=w["headers"]).json()
    assert len(view["approved"]) == out["created"]

    # Dispatch: inside an approved shift, its technicians are on duty with that shift; the others are off.
    first = min(p["shifts"], key=lambda s: s["starts_at"])
    inside = datetime.fromisoformat(first["starts_at"]) + timedelta(hours=1)
    techs = {t.code: t for t in load_technicians(conn, [], at=inside)}
    on = techs[first["code"]]
    assert on.state != "off" and on.timezone == "Asia/Shanghai"
    assert on.shift_start == datetime.fromisoformat(first["starts_at"]).astimezone(ZoneInfo(on.timezone)).time()
    # Every named technician has a shift within the day ahead (dispatch keeps them); nobody else works Tuesdays.
    assert all((t.state == "off") == (code not in named) for code, t in techs.items())
