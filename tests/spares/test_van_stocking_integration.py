"""Vans stocked from predicted failures in the running product (issue #16): a RUL forecast from diagnostics
(rul_estimates -> predicted_failures) puts its part on the van of the technician whose territory holds the asset,
through spares/stocking.py (the code bench.spares_month measures), and the nightly van refill becomes a transfer
order that, approved and received, lands the part in that van. Real database; ledger checked."""

from __future__ import annotations

import time
from datetime import timedelta

import psycopg
import pytest

from core.audit import Actor
from core.clock import to_datetime
from core.settings import SparesSettings
from quietfix.seed import seed
from spares import orders
from spares import service as flow
from spares.allocation import km
from spares.models import EquipmentType, GeoPoint, Part
from spares.repository import SparesRepository

pytestmark = pytest.mark.integration
SKU = "PRED-VAN-1"
MODE = "bearing_wear"
STAFF = Actor("test:dispatcher", role="dispatcher")


def _setup(conn: psycopg.Connection) -> dict:
    devices = seed(conn, devices=8, technicians=3, users=False, spares=True)
    repo = SparesRepository(conn)
    repo.add_part(Part(SKU, "predicted bearing kit", frozenset(EquipmentType), 10.0, 0.1))
    locs = conn.execute("SELECT id, kind, lat, lon FROM stock_locations").fetchall()
    vans = {int(i): GeoPoint(la, lo) for i, k, la, lo in locs if k == "van"}
    depots = {int(i): GeoPoint(la, lo) for i, k, la, lo in locs if k == "depot"}
    now = time.time()
    for d in depots:
        repo.receive(d, SKU, 2, now - 3600, note="test")
    dev = devices[0]
    site = GeoPoint(dev.lat, dev.lon)
    van = min(vans, key=lambda v: (km(site, vans[v]), v))
    conn.execute("INSERT INTO knowledge_base (equipment_type, fault_mode, entry) VALUES (%s, %s, %s) "
                 "ON CONFLICT (equipment_type, fault_mode) DO UPDATE SET entry = excluded.entry",
                 (dev.equipment_type, MODE, psycopg.types.json.Jsonb(
                     {"parts": [{"sku": SKU, "qty": 1}], "skills": ["mechanical"], "repair_minutes": 60})))
    conn.commit()
    return {"dev": dev, "van": van, "vans": vans, "depots": depots, "site": site, "now": now}


def _predict(conn: psycopg.Connection, dev: object, now: float, days: float, bounds: bool = True) -> None:
    at = to_datetime(now)
    lo, hi = (at + timedelta(days=days - 0.5), at + timedelta(days=days + 0.5)) if bounds else (None, None)
    conn.execute("INSERT INTO rul_estimates (device_id, estimated_at, status, signal, direction, fault_mode, "
                 "failure_at, failure_earliest_at, failure_latest_at, rul_s) VALUES (%s, %s, 'degrading', "
                 "'vibration_rms', 'up', %s, %s, %s, %s, %s)",
                 (dev.device_id, at, MODE, at + timedelta(days=days), lo, hi, days * 86_400))  # type: ignore[attr-defined]
    conn.commit()


def _van_rows(conn: psycopg.Connection, now: float, s: SparesSettings) -> dict[int, dict]:
    return {r["location_id"]: r for r in flow.replenishment(conn, now, s) if r["kind"] == "van" and r["sku"] == SKU}


def test_a_predicted_failure_is_stocked_on_its_territory_van_and_reaches_it(conn: psycopg.Connection) -> None:
    w = _setup(conn)
    s = SparesSettings()
    assert _van_rows(conn, w["now"], s) == {}  # no van carries the part before any prediction
    _predict(conn, w["dev"], w["now"], 2.0)  # due in 2 days (1.5-2.5): inside the van's 4-day horizon

    rows = _van_rows(conn, w["now"], s)
    assert list(rows) == [w["van"]]  # only the van of the technician whose territory holds the asset
    row = rows[w["van"]]
    assert row["predicted"] == pytest.approx(1.0, abs=1e-3) and row["base_stock"] >= 1 and row["on_hand"] == 0
    low = _van_rows(conn, w["now"], s.model_copy(update={"predicted_part_confidence": 0.4}))
    assert low[w["van"]]["predicted"] == pytest.approx(0.4, abs=1e-3)  # the stated probability carries through

    restock = {v["van_location_id"]: v for v in flow.van_restock(conn, w["now"], s)}
    lines = [ln for ln in restock[w["van"]]["lines"] if ln["sku"] == SKU]
    home = restock[w["van"]]["depot_location_id"]
    assert lines == [{"sku": SKU, "qty": row["base_stock"] - row["position"], "from_location_id": home}]

    created = orders.propose(conn, w["now"], STAFF, s)
    conn.commit()
    refill = [o for o in (orders.order(conn, i) for i in created)
              if o["sku"] == SKU and o["to_location_id"] == w["van"]]
    assert len(refill) == 1 and refill[0]["kind"] == "transfer" and refill[0]["from_location_id"] == home
    before = SparesRepository(conn).level(home, SKU).on_hand
    orders.decide(conn, refill[0]["id"], True, w["now"] + 60, STAFF, s)
    orders.receive(conn, refill[0]["id"], w["now"] + 3600, STAFF)
    conn.commit()
    repo = SparesRepository(conn)
    assert repo.level(w["van"], SKU).on_hand == lines[0]["qty"]
    assert repo.level(home, SKU).on_hand == before - lines[0]["qty"]
    audited = conn.execute("SELECT count(*) FROM audit_log WHERE target_type = 'replenishment_order' "
                           "AND target_id = %s", (str(refill[0]["id"]),)).fetchone()[0]
    assert audited >= 3  # proposed, approved, received: each audited
    # once in the van, the refill list asks for nothing more
    again = {v["van_location_id"]: v for v in flow.van_restock(conn, w["now"] + 3600, s)}
    assert not [ln for ln in again[w["van"]]["lines"] if ln["sku"] == SKU]


def test_van_counts_only_within_its_horizon_and_never_twice(conn: psycopg.Connection) -> None:
    w = _setup(conn)
    s = SparesSettings()
    _predict(conn, w["dev"], w["now"], 3.5, bounds=False)  # beyond the depot's 3 days, inside the van's 4
    rows = {(r["location_id"], r["kind"]): r for r in flow.replenishment(conn, w["now"], s) if r["sku"] == SKU}
    assert rows[(w["van"], "van")]["predicted"] == pytest.approx(1.0)
    assert all(r["predicted"] == 0 for (_, kind), r in rows.items() if kind == "depot")
    assert _van_rows(conn, w["now"], s.model_copy(update={"van_predict_horizon_days": 3.0})) == {}

    _predict(conn, w["dev"], w["now"], 10.0)  # the latest estimate moved a week out: off the van
    assert _van_rows(conn, w["now"], s) == {}

    _predict(conn, w["dev"], w["now"], 1.0)  # due tomorrow, but the asset already has an incident: its work
    dev = w["dev"]                          # order announces the part (at the depot), not counted twice
    at = to_datetime(w["now"])
    conn.execute("INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, summary, "
                 "opened_at, response_due, onsite_due, repair_due) VALUES (%s, %s, %s, 'test', 2, 'detected', "
                 "'test', %s, %s, %s, %s)", (dev.device_id, dev.customer_id, MODE, at, at, at, at))
    conn.commit()
    assert _van_rows(conn, w["now"], s) == {}
