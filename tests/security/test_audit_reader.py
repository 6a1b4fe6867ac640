"""The audit log beyond API writes, and its reader (docs/trust.md, "Audit"): the optimiser's assignments and
the CLI's credential changes are audited; admins (only) read the log through GET /api/audit with filters."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core import audit
from core.clock import ManualClock, to_datetime
from core.settings import DispatchSettings, Settings
from dispatch import DispatchLoop
from quietfix import cli
from quietfix.seed import seed
from tests.helpers import login, open_work_order
from tests.security.conftest import OwnBroker

pytestmark = pytest.mark.integration


def test_optimiser_assignments_are_audited_with_the_assignment(db_url: str, conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=4, technicians=3, users=False)
    clock = ManualClock()
    orders = [open_work_order(conn, d.device_id, ["mechanical"], to_datetime(clock.now())) for d in devices[:2]]
    conn.commit()
    settings = DispatchSettings(replan_budget_s=0.5, min_replan_interval_s=0.0, solve_in_subprocess=False)
    with psycopg.connect(db_url, autocommit=True) as c:
        assigned = DispatchLoop(lambda: c, settings, clock).tick(c)
    assert assigned >= 1
    rows = audit.search(conn, actor="process:dispatch", action="dispatch.assign")
    given = dict(conn.execute("SELECT id::text, technician_id FROM work_orders WHERE technician_id IS NOT NULL"))
    assert sorted(r["target_id"] for r in rows) == sorted(given) and set(given) <= {str(o) for o in orders}


def test_cli_provision_and_revoke_are_audited(own_broker: OwnBroker, db_url: str) -> None:
    settings = own_broker.settings(database_url=db_url)
    assert cli.cmd_provision(settings, argparse.Namespace(device_ids=["audit-dev-1"])) == 0
    assert cli.cmd_revoke(settings, argparse.Namespace(device_ids=["audit-dev-1"])) == 0
    with psycopg.connect(db_url) as conn:
        rows = audit.search(conn, target_type="device", target_id="audit-dev-1")
    assert [r["action"] for r in rows] == ["device.revoke", "device.provision"]
    assert all(r["actor"].startswith("cli:") for r in rows)


def test_admins_read_the_audit_log_with_filters(settings: Settings, conn: psycopg.Connection) -> None:
    seed(conn, devices=1, technicians=1, users=True)
    old = datetime(2026, 1, 1, tzinfo=UTC)
    audit.record(conn, audit.Actor("process:dispatch"), "dispatch.assign", "work_order", "7", {"t": 1}, at=old)
    audit.record(conn, audit.Actor("cli:ops"), "device.revoke", "device", "d-1", at=old + timedelta(hours=1))
    conn.commit()
    with TestClient(create_app(settings)) as c:
        admin = login(c, "admin")
        for who in ("dispatcher", "tech01", "customer001"):
            assert c.get("/api/audit", headers=login(c, who)).status_code == 403
        assert c.get("/api/audit").status_code == 401

        def read(**params: str) -> list[tuple[str, str]]:
            r = c.get("/api/audit", headers=admin, params=params)
            assert r.status_code == 200, r.text
            return [(e["actor"], e["action"]) for e in r.json()]

        everything = read()
        assert ("dispatcher", "auth.login") in everything and ("cli:ops", "device.revoke") in everything
        assert read(actor="cli:ops") == [("cli:ops", "device.revoke")]
        assert read(action="dispatch.") == [("process:dispatch", "dispatch.assign")]
        assert read(target_type="work_order", target_id="7") == [("process:dispatch", "dispatch.assign")]
        assert read(since="2026-01-01T00:30:00Z", until="2026-01-02T00:00:00Z") == [("cli:ops", "device.revoke")]
        assert read(action="auth.login", limit="1") == [("customer001", "auth.login")]  # newest first
        assert c.get("/api/audit", headers=admin, params={"limit": "100000"}).status_code == 422
