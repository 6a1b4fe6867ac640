"""The knowledge base in the database: seeded, edited through the API (staff only), grown by closed work orders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import ManualClock, to_datetime
from core.settings import Settings
from diagnostics import load_knowledge
from diagnostics import repository as repo
from diagnostics.training import apply_work_order_feedback
from quietfix.seed import seed
from tests.dispatch.test_dispatch_integration import open_work_order
from tests.helpers import login

pytestmark = pytest.mark.integration
PATH = "/api/knowledge/pump/bearing_wear"


@pytest.fixture()
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[TestClient]:
    seed(conn, devices=3, technicians=1, users=True)
    conn.commit()
    with TestClient(create_app(settings)) as c:
        yield c


def customer_user(conn: psycopg.Connection) -> str:
    return conn.execute("SELECT username FROM users WHERE role = 'customer' ORDER BY id LIMIT 1").fetchone()[0]


def test_staff_edit_knowledge_and_the_loop_sees_it(client: TestClient, conn: psycopg.Connection) -> None:
    assert client.get(PATH).status_code == 401
    cust = login(client, customer_user(conn))
    seeded = client.get(PATH, headers=cust)
    assert seeded.status_code == 200 and seeded.json()["version"] == 1 and seeded.json()["skills"] == ["mechanical"]
    body = {**{k: seeded.json()[k] for k in ("probable_cause", "diagnostic_steps", "remote_fix", "parts",
                                                 "repair_minutes", "severity")},
            "skills": ["mechanical", "vibration_analysis"], "repair_minutes": 200}
    assert client.put(PATH, json=body, headers=cust).status_code == 403
    staff = login(client, "dispatcher")
    assert client.put(PATH, json={**body, "severity": 7}, headers=staff).status_code == 422
    r = client.put(PATH, json=body, headers=staff)
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["updated_by"], r.json()["repair_minutes"]) == (2, "dispatcher", 200)
    assert client.get("/api/knowledge/pump/no_such_mode", headers=staff).status_code == 404
    conn.rollback()
    entry = load_knowledge(repo.knowledge_doc(conn))[("pump", "bearing_wear")]
    assert entry.skills == ("mechanical", "vibration_analysis") and entry.repair_minutes == 200


def test_closed_work_orders_grow_the_knowledge_base(conn: psycopg.Connection) -> None:
    """Structured outcomes teach (#16 item 6): found fault mode, fix code, the ledger's fitted parts, minutes on
    site; the diagnosed mode learns how often it held. Free text alone teaches nothing."""
    devices = seed(conn, devices=3, technicians=1, users=False)
    repo.seed_knowledge(conn)
    pump = next(d for d in devices if d.equipment_type == "pump")
    at = to_datetime(ManualClock().now())
    reports = (("bearing_wear", "bearing_lubricated", None), ("bearing_wear", "bearing_lubricated", None),
               ("seal_leak", "seal_replaced", None), (None, None, "as diagnosed"))
    for found, code, cause in reports:
        wo = open_work_order(conn, pump.device_id, ["mechanical"], at)  # diagnosed: bearing_wear
        conn.execute("UPDATE work_orders SET status = 'completed', outcome = 'fixed', arrived_at = %s, "
                     "completed_at = %s, found_fault_mode = %s, fix_code = %s, actual_cause = %s WHERE id = %s",
                     (at, at + timedelta(minutes=40), found, code, cause, wo))
        conn.execute("UPDATE incidents SET status = 'resolved_onsite' WHERE id = "
                     "(SELECT incident_id FROM work_orders WHERE id = %s)", (wo,))
    assert apply_work_order_feedback(conn, ManualClock().now()) == 4
    assert apply_work_order_feedback(conn, ManualClock().now()) == 0  # each report counts once
    kb = load_knowledge(repo.knowledge_doc(conn))
    bearing, seal = kb[("pump", "bearing_wear")], kb[("pump", "seal_leak")]
    assert dict(bearing.found_counts) == {"bearing_wear": 2, "seal_leak": 1}
    assert bearing.confirmed_rate == pytest.approx(2 / 3)
    assert dict(bearing.fix_counts) == {"bearing_lubricated": 2} and bearing.repair_minutes == 40
    assert dict(seal.fix_counts) == {"seal_replaced": 1}  # the found mode learns the fix, not the diagnosis
    assert "as diagnosed" not in dict(bearing.cause_counts)  # free text is not learned from


def test_normal_models_are_trained_from_healthy_history_and_versioned(conn: psycopg.Connection) -> None:
    from diagnostics.normal_model import NormalModel
    from diagnostics.training import train
    from edge_agent.simulator import Equipment

    devices = seed(conn, devices=3, technicians=1, users=False)
    t0 = ManualClock().now()
    conn.execute("SELECT quietfix_ensure_partitions(%s, %s)", (to_datetime(t0), to_datetime(t0 + 86400)))
    pump = next(d for d in devices if d.equipment_type == "pump")
    eq = Equipment(pump.device_id, "pump", seed=3)
    with conn.cursor().copy("COPY telemetry (device_id, signal, ts, value) FROM STDIN") as cp:
        for i in range(400):
            for sig, v in eq.sample(t0 + 60 * i).items():
                cp.write_row((pump.device_id, sig, to_datetime(t0 + 60 * i), v))
    start, end = to_datetime(t0), to_datetime(t0 + 400 * 60)
    assert (train(conn, "pump", start, end), train(conn, "pump", start, end)) == (1, 2)
    with pytest.raises(ValueError):
        train(conn, "chiller", start, end)  # no chiller history: refused, nothing stored
    latest = repo.latest_models(conn)
    assert set(latest) == {"pump"} and latest["pump"][0] == 2
    model = NormalModel.from_bytes(latest["pump"][1])
    assert model.version == "pump-v2" and set(model.signals) == set(eq.sample(t0))
