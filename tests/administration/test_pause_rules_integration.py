"""SLA pause rules (sla_pause_rules) edited without SQL: per contract through the admin API and the contracts CSV
import, per tier through the admin API. Each change is validated (422 with field and reason, nothing written),
audited with before/after in its own transaction, and is what the lifecycle then decides with when a job is held."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from administration import Actor, csv_import
from api.app import create_app
from core.clock import ManualClock
from core.settings import Settings
from quietfix.seed import seed
from tests.administration.onboarding import FILES, write
from tests.helpers import login, open_work_order

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
CONTRACT = {"customer_code": "ACME", "tier": "gold", "coverage": "24x7", "response_min": 10, "onsite_min": 75,
            "repair_h": 8, "starts_on": "2025-01-01"}


@pytest.fixture()
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[TestClient]:
    seed(conn, devices=2, technicians=1, users=True)
    conn.commit()
    app = create_app(settings)
    app.state.clock = ManualClock(NOW.timestamp())
    with TestClient(app) as c:
        yield c


def onboard(client: TestClient, admin: dict[str, str]) -> None:
    for path, body in (
            ("/api/admin/customers/ACME", {"name": "Acme Pumps", "tier": "gold"}),
            ("/api/admin/sites/ACME-RTM", {"customer_code": "ACME", "name": "Rotterdam", "lat": 51.89, "lon": 4.42}),
            ("/api/admin/assets/SN-1", {"site_code": "ACME-RTM", "equipment_type": "pump", "device_id": "acme-p1"}),
            ("/api/admin/contracts/K-ACME", CONTRACT)):
        r = client.put(path, headers=admin, json=body)
        assert r.status_code == 201, (path, r.text)


def rules(conn: psycopg.Connection, code: str) -> dict[str, bool]:
    conn.rollback()
    return dict(conn.execute("SELECT kind, pauses_sla FROM sla_pause_rules WHERE contract_code = %s", (code,)))


def pause_audits(conn: psycopg.Connection) -> list[tuple[str, str, dict[str, Any]]]:
    conn.rollback()
    return [tuple(r) for r in conn.execute(
        "SELECT target_type, target_id, details FROM audit_log WHERE action = 'admin.sla_pause_rules.updated' "
        "ORDER BY id")]


def hold(client: TestClient, conn: psycopg.Connection, kind: str) -> bool:
    """A fresh job on the contract's device put on hold by the dispatcher: whether its SLA clock stopped."""
    wo = open_work_order(conn, "acme-p1", ["mechanical"], NOW - timedelta(minutes=5))
    conn.commit()
    r = client.post(f"/api/work-orders/{wo}/hold", json={"kind": kind}, headers=login(client, "dispatcher"))
    assert r.status_code == 200, r.text
    stored = conn.execute("SELECT pauses_sla FROM work_order_pauses WHERE work_order_id = %s", (wo,)).fetchone()
    assert stored == (r.json()["sla_paused"],)
    # Room for the next job on the same device (one open incident per fault): this one is done with.
    conn.execute("UPDATE work_orders SET status = 'cancelled' WHERE id = %s", (wo,))
    conn.execute("UPDATE incidents SET status = 'closed', closed_at = %s WHERE id = (SELECT incident_id FROM "
                 "work_orders WHERE id = %s)", (NOW, wo))
    conn.commit()
    return bool(stored[0])


def test_contract_rules_by_api_win_over_the_tier_and_are_audited(client: TestClient,
                                                                 conn: psycopg.Connection) -> None:
    admin = login(client, "admin")
    onboard(client, admin)
    listed = {r["code"]: r for r in client.get("/api/admin/contracts", headers=admin).json()}["K-ACME"]
    assert (listed["pause_on_hold"], listed["pause_awaiting_parts"], listed["pause_customer_window"]) == (
        None, None, None)
    assert listed["tier_pauses"] == {"on_hold": True, "awaiting_parts": False, "customer_window": True}
    assert hold(client, conn, "awaiting_parts") is False  # gold's default: the wait for a part is ours

    r = client.put("/api/admin/contracts/K-ACME", headers=admin, json={**CONTRACT, "pause_awaiting_parts": "yes"})
    assert r.status_code == 200 and r.json()["result"] == "updated", r.text
    assert r.json()["row"]["pause_rules"] == {"awaiting_parts": True}
    assert rules(conn, "K-ACME") == {"awaiting_parts": True}
    assert pause_audits(conn) == [("contract", "K-ACME", {"before": {"awaiting_parts": None},
                                                          "after": {"awaiting_parts": True}})]
    actor = conn.execute("SELECT actor, actor_role FROM audit_log WHERE action = 'admin.sla_pause_rules.updated'"
                         ).fetchone()
    assert actor == ("admin", "admin")
    assert hold(client, conn, "awaiting_parts") is True  # the contract's own rule wins

    # The same again, or a body without the pause fields: nothing changes, nothing is audited.
    for body in ({**CONTRACT, "pause_awaiting_parts": True}, CONTRACT):
        again = client.put("/api/admin/contracts/K-ACME", headers=admin, json=body)
        assert again.json()["result"] == "unchanged", again.text
    assert rules(conn, "K-ACME") == {"awaiting_parts": True} and len(pause_audits(conn)) == 1

    # "default" (or an empty value) drops the contract's rule: the tier's applies again.
    r = client.put("/api/admin/contracts/K-ACME", headers=admin,
                   json={**CONTRACT, "pause_awaiting_parts": "default", "pause_on_hold": "no"})
    assert r.json()["result"] == "updated" and rules(conn, "K-ACME") == {"on_hold": False}
    assert pause_audits(conn)[-1][2] == {"before": {"awaiting_parts": True, "on_hold": None},
                                         "after": {"awaiting_parts": None, "on_hold": False}}
    assert hold(client, conn, "on_hold") is False
    listed = {r["code"]: r for r in client.get("/api/admin/contracts", headers=admin).json()}["K-ACME"]
    assert (listed["pause_on_hold"], listed["pause_awaiting_parts"]) == (False, None)


def test_bad_pause_rules_answer_422_and_write_nothing(client: TestClient, conn: psycopg.Connection) -> None:
    admin = login(client, "admin")
    onboard(client, admin)
    r = client.put("/api/admin/contracts/K-ACME", headers=admin,
                   json={**CONTRACT, "pause_on_hold": "maybe", "pause_customer_window": 3})
    assert r.status_code == 422
    detail = {d["field"]: d["reason"] for d in r.json()["detail"]}
    assert set(detail) == {"pause_on_hold", "pause_customer_window"}
    assert "yes (the clock stops), no (it runs) or default" in detail["pause_on_hold"]
    for tier, body, field in (("platinum", {"on_hold": "yes"}, "tier"), ("gold", {"on_hold": "default"}, "on_hold"),
                              ("gold", {"sleeping": "yes"}, "sleeping"), ("gold", {}, "rules"),
                              ("gold", {"awaiting_parts": "often"}, "awaiting_parts")):
        r = client.put(f"/api/admin/sla-pause-rules/{tier}", headers=admin, json=body)
        assert r.status_code == 422 and field in {d["field"] for d in r.json()["detail"]}, (tier, body, r.text)
    assert rules(conn, "K-ACME") == {} and pause_audits(conn) == []
    tiers = {(t, k): p for t, k, p in conn.execute(
        "SELECT tier, kind, pauses_sla FROM sla_pause_rules WHERE tier IS NOT NULL")}
    assert tiers[("gold", "on_hold")] is True and tiers[("standard", "awaiting_parts")] is True


def test_tier_defaults_by_api_admins_only(client: TestClient, conn: psycopg.Connection) -> None:
    admin = login(client, "admin")
    onboard(client, admin)
    for user in ("dispatcher", "tech01", "customer001"):
        headers = login(client, user)
        assert client.get("/api/admin/sla-pause-rules", headers=headers).status_code == 403, user
        assert client.put("/api/admin/sla-pause-rules/gold", headers=headers,
                          json={"on_hold": "no"}).status_code == 403, user
    got = client.get("/api/admin/sla-pause-rules", headers=admin).json()
    assert got["tiers"]["gold"] == {"on_hold": True, "awaiting_parts": False, "customer_window": True}
    assert got["tiers"]["bronze"]["awaiting_parts"] is True
    assert hold(client, conn, "on_hold") is True
    r = client.put("/api/admin/sla-pause-rules/gold", headers=admin, json={"on_hold": "no", "awaiting_parts": False})
    assert r.status_code == 200 and r.json() == {"result": "updated", "tier": "gold", "rules": {
        "on_hold": False, "awaiting_parts": False, "customer_window": True}}
    assert pause_audits(conn) == [("tier", "gold", {"before": {"on_hold": True}, "after": {"on_hold": False}})]
    assert client.put("/api/admin/sla-pause-rules/gold", headers=admin,
                      json={"on_hold": "no"}).json()["result"] == "unchanged"
    assert len(pause_audits(conn)) == 1
    assert hold(client, conn, "on_hold") is False  # the contract has no rule of its own: the tier's new default
    assert client.get("/api/admin/sla-pause-rules", headers=admin).json()["tiers"]["gold"]["on_hold"] is False


def test_contracts_csv_carries_pause_rules(conn: psycopg.Connection, tmp_path: Path) -> None:
    actor, at = Actor("test-import", role="admin"), NOW

    def run(folder: Path):
        report = csv_import.run_import(conn, csv_import.read_dir(folder), actor, at)
        conn.commit()
        return report

    header = "code,customer_code,tier,coverage,response_min,onsite_min,repair_h,starts_on,ends_on"
    with_rules = (f"{header},pause_on_hold,pause_awaiting_parts,pause_customer_window\n"
                  "K-ACME,ACME,gold,Mon-Sat 06:00-22:00,10,90,12,2025-01-01,2027-12-31,no,yes,\n"
                  "K-HUA,HUA,key,24x7,,,,2025-06-01,,,,default\n")
    report = run(write(tmp_path / "a", contracts_csv=with_rules))
    assert report.errors == () and report.created["contracts"] == 2
    assert rules(conn, "K-ACME") == {"on_hold": False, "awaiting_parts": True} and rules(conn, "K-HUA") == {}
    assert pause_audits(conn) == [("contract", "K-ACME", {"before": {"awaiting_parts": None, "on_hold": None},
                                                          "after": {"awaiting_parts": True, "on_hold": False}})]
    # The format without the pause columns leaves the stored rules alone (nothing to update at all).
    again = run(write(tmp_path / "b"))
    assert again.errors == () and again.unchanged["contracts"] == 2
    assert rules(conn, "K-ACME") == {"on_hold": False, "awaiting_parts": True}
    # A changed rule alone makes the contract "updated"; an empty cell means the tier's default.
    changed = run(write(tmp_path / "c", contracts_csv=with_rules.replace(",no,yes,", ",no,,")))
    assert changed.errors == () and changed.updated["contracts"] == 1 and changed.unchanged["contracts"] == 1
    assert rules(conn, "K-ACME") == {"on_hold": False}
    # A bad cell names its file, line and column; nothing of the import is written.
    bad = run(write(tmp_path / "d", contracts_csv=with_rules.replace(",no,yes,", ",sometimes,yes,")))
    assert [(e.file, e.line, e.column) for e in bad.errors] == [("contracts.csv", 2, "pause_on_hold")]
    assert rules(conn, "K-ACME") == {"on_hold": False}
    assert FILES["contracts.csv"].startswith(header)  # the base file really lacks the optional columns
