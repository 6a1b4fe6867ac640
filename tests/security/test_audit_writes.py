"""The audit log records overrides and configuration changes, not only sign-ins and commands.

Every successful write (POST/PUT/PATCH/DELETE) is audited by ``api.audit.AuditWrites`` with who, role, route,
target and client address; a refused or invalid write leaves no row (it changed nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.audit import EXPLICIT, EXPLICIT_PREFIXES, WRITE_METHODS
from core.clock import ManualClock, to_datetime
from core.settings import Settings
from quietfix.seed import seed
from tests.helpers import login, open_work_order
from tests.security.test_route_policy import app_routes

pytestmark = pytest.mark.integration


@pytest.fixture()
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    devices = [d.device_id for d in seed(conn, devices=2, technicians=2, users=True)]
    wo = open_work_order(conn, devices[0], ["mechanical"], to_datetime(ManualClock().now()))
    tech = conn.execute("SELECT id FROM technicians WHERE code = 'T01'").fetchone()[0]
    conn.commit()
    with TestClient(create_app(settings)) as c:
        yield c, {"work_order": wo, "technician": tech}


def audit_rows(db_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url) as c:
        return c.execute("SELECT actor, actor_role, action, target_type, target_id, details->>'route', client_ip "
                         "FROM audit_log WHERE action LIKE 'api.%' ORDER BY id").fetchall()


KNOWLEDGE = {"probable_cause": "worn bearing", "skills": ["mechanical"], "repair_minutes": 60, "severity": 2}


def test_overrides_and_configuration_changes_are_audited(client, db_url: str) -> None:
    c, w = client
    staff, customer = login(c, "dispatcher"), login(c, "customer001")
    assert c.put("/api/knowledge/pump/bearing_wear", headers=staff, json=KNOWLEDGE).status_code == 200
    r = c.post(f"/api/board/work-orders/{w['work_order']}/assign", headers=staff,
               json={"technician_id": w["technician"]})
    assert r.status_code == 200, r.text
    assert c.put("/api/portal/preferences", headers=customer,
                 json={"kind": "*", "channel": "email", "enabled": False}).status_code == 200
    rows = audit_rows(db_url)
    assert [(r[0], r[1], r[2]) for r in rows] == [("dispatcher", "dispatcher", "api.put_knowledge"),
                                                  ("dispatcher", "dispatcher", "api.assign"),
                                                  ("customer001", "customer", "api.set_preference")]
    assert rows[0][3:6] == ("equipment_type", "pump", "/api/knowledge/{equipment_type}/{fault_mode}")
    assert rows[1][3:6] == ("work_order_id", str(w["work_order"]), "/api/board/work-orders/{work_order_id}/assign")
    assert all(r[6] for r in rows)  # the client's address


def test_refused_and_invalid_writes_leave_no_audit_row(client, db_url: str) -> None:
    c, _ = client
    tech, staff = login(c, "tech01"), login(c, "dispatcher")
    assert c.put("/api/knowledge/pump/bearing_wear", headers=tech, json=KNOWLEDGE).status_code == 403
    assert c.put("/api/knowledge/pump/bearing_wear", headers=staff, json={"severity": 9}).status_code == 422
    assert c.put("/api/knowledge/pump/bearing_wear", json=KNOWLEDGE).status_code == 401
    assert c.post("/api/board/work-orders/999999/assign", headers=staff, json={"technician_id": 1}).status_code == 404
    assert audit_rows(db_url) == []


def test_every_write_route_is_audited_by_the_middleware_or_explicitly(settings: Settings) -> None:
    writes = {(m, p) for m, p in app_routes(create_app(settings)) if m in WRITE_METHODS}
    assert EXPLICIT <= writes  # the explicit list names real routes (sign-in, logout, commands)
    assert len(writes - EXPLICIT) >= 20  # the rest go through AuditWrites, which needs no per-route line


def test_every_write_route_commits_on_the_audited_connection(settings: Settings) -> None:
    """A write route's audit row is armed on its ``Conn`` (api.deps.get_conn): a route without one would only be
    audited after the fact, outside its transaction."""
    from fastapi.routing import APIRoute

    from api.deps import get_conn
    from tests.security.test_route_policy import iter_route_contexts

    def calls(dependant: object) -> set[object]:
        found = {getattr(dependant, "call", None)}
        for sub in getattr(dependant, "dependencies", ()):
            found |= calls(sub)
        return found

    writes = [(m, c.path, calls(c.original_route.dependant)) for c in iter_route_contexts(create_app(settings).routes)
              if isinstance(c.original_route, APIRoute)
              for m in set(c.methods) & WRITE_METHODS
              if (m, c.path) not in EXPLICIT and not c.path.startswith(EXPLICIT_PREFIXES)]
    assert len(writes) >= 20
    assert [(m, p) for m, p, deps in writes if get_conn not in deps] == []
