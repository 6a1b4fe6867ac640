"""An API write and its audit row are one transaction (docs/trust.md, "Audit"): a process killed before the
COMMIT leaves neither, one killed right after leaves both; a write that rolls back leaves no row; and the row
of an ordinary write is written by the very transaction that made the change (same PostgreSQL xid)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import ManualClock, to_datetime
from core.settings import PROJECT_ROOT, Settings
from quietfix.seed import seed
from tests.helpers import login, open_work_order
from tests.security.audit_kill_probe import KNOWLEDGE

pytestmark = pytest.mark.integration


@pytest.fixture()
def world(settings: Settings, conn: psycopg.Connection) -> dict[str, Any]:
    devices = [d.device_id for d in seed(conn, devices=2, technicians=2, users=True)]
    wo = open_work_order(conn, devices[0], ["mechanical"], to_datetime(ManualClock().now()))
    tech = conn.execute("SELECT id FROM technicians WHERE code = 'T01'").fetchone()[0]
    conn.commit()
    return {"work_order": wo, "technician": tech}


def _state(db_url: str) -> tuple[Any, int]:
    with psycopg.connect(db_url) as c:
        cause = c.execute("SELECT entry->>'probable_cause' FROM knowledge_base WHERE equipment_type = 'pump' "
                          "AND fault_mode = 'bearing_wear'").fetchone()
        rows = c.execute("SELECT count(*) FROM audit_log WHERE action = 'api.put_knowledge'").fetchone()[0]
    return (cause[0] if cause else None), rows


def _assigned(db_url: str, work_order: int) -> tuple[Any, int]:
    with psycopg.connect(db_url) as c:
        tech = c.execute("SELECT technician_id FROM work_orders WHERE id = %s", (work_order,)).fetchone()[0]
        rows = c.execute("SELECT count(*) FROM audit_log WHERE action = 'api.assign'").fetchone()[0]
    return tech, rows


@pytest.mark.parametrize("route", ["knowledge", "assign"])
@pytest.mark.parametrize("mode", ["before", "after"])
def test_a_process_killed_at_the_commit_keeps_write_and_audit_together(world, settings: Settings,
                                                                      db_url: str, mode: str, route: str) -> None:
    env = {**os.environ, "QUIETFIX_DATABASE_URL": db_url, "QUIETFIX_MQTT_URL": settings.mqtt_url,
           "QUIETFIX_LOG_LEVEL": "ERROR"}
    args = [mode, route, str(world["work_order"]), str(world["technician"])]
    r = subprocess.run([sys.executable, "-m", "tests.security.audit_kill_probe", *args], env=env,
                       cwd=PROJECT_ROOT, capture_output=True, text=True, check=False, timeout=120)
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr[-2000:])
    if route == "knowledge":
        cause, rows = _state(db_url)
        assert (cause == "killed mid-commit", rows) == ((False, 0) if mode == "before" else (True, 1))
    else:
        tech, rows = _assigned(db_url, world["work_order"])
        assert (tech, rows) == ((None, 0) if mode == "before" else (world["technician"], 1))


def test_write_and_audit_row_share_one_transaction(world, settings: Settings, db_url: str) -> None:
    with TestClient(create_app(settings)) as c:
        r = c.put("/api/knowledge/pump/bearing_wear", headers=login(c, "dispatcher"),
                  json={**KNOWLEDGE, "probable_cause": "same transaction"})
        assert r.status_code == 200, r.text
    with psycopg.connect(db_url) as conn:
        row_xid = conn.execute("SELECT xmin::text FROM knowledge_base WHERE equipment_type = 'pump' "
                               "AND fault_mode = 'bearing_wear'").fetchone()[0]
        audit = conn.execute("SELECT xmin::text, actor, target_id FROM audit_log "
                             "WHERE action = 'api.put_knowledge'").fetchall()
    assert audit == [(row_xid, "dispatcher", "pump")]  # xmin: the transaction that wrote the row


def test_a_write_that_rolls_back_leaves_no_audit_row(world, settings: Settings, db_url: str) -> None:
    with TestClient(create_app(settings)) as c:
        staff = login(c, "dispatcher")
        # PostgreSQL refuses the NUL character inside the route's own statement: its transaction rolls back.
        bad = {"probable_cause": "worn\u0000bearing", "skills": ["mechanical"], "repair_minutes": 60, "severity": 2}
        r = c.put("/api/knowledge/pump/bearing_wear", headers=staff, json=bad)
        assert r.status_code == 422, r.text
    assert _state(db_url)[1] == 0
