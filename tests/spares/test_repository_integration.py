"""Against a real PostgreSQL: a scratch database per module with only 0400_spares.sql applied."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from spares.errors import InsufficientStock, InvalidMovement, NotFound
from spares.models import EquipmentType, GeoPoint, LocationKind, Part, ShipmentStatus, StockLevel
from spares.repository import SparesRepository

pytestmark = pytest.mark.integration

ADMIN_URL = os.environ.get("QUIETFIX_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MIGRATION = Path(__file__).resolve().parents[2] / "core" / "migrations" / "0400_spares.sql"
T0 = 1_767_225_600.0
PART = Part("SEAL-01", "mechanical seal", frozenset({EquipmentType.PUMP}), 120.0, 0.4)


@pytest.fixture(scope="module")
def db_url() -> Iterator[str]:
    name = f"quietfix_spares_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(ADMIN_URL, dbname=name)
    try:
        with psycopg.connect(url) as conn:
            conn.execute(MIGRATION.read_text().encode())
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def seed_depot(url: str, units: int) -> int:
    with psycopg.connect(url) as conn:
        repo = SparesRepository(conn)
        if repo.conn.execute("SELECT 1 FROM parts WHERE sku = %s", (PART.sku,)).fetchone() is None:
            repo.add_part(PART)
        loc = repo.add_location(LocationKind.DEPOT, f"depot-{uuid.uuid4().hex[:6]}", GeoPoint(52.0, 4.0)).id
        if units:
            repo.receive(loc, PART.sku, units, T0)
    return loc


def test_two_transactions_race_for_the_last_unit(db_url: str) -> None:
    loc = seed_depot(db_url, 1)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(work_order_id: int) -> None:
        with psycopg.connect(db_url) as conn:
            repo = SparesRepository(conn)
            barrier.wait()
            try:
                with conn.transaction():
                    repo.reserve(work_order_id, loc, PART.sku, 1, T0 + 1)
                    # Hold the row lock a moment so the other transaction has to queue behind this one.
                    threading.Event().wait(0.3)
                result = "ok"
            except InsufficientStock:
                result = "refused"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(wo,)) for wo in (101, 102)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]
    with psycopg.connect(db_url) as conn:
        repo = SparesRepository(conn)
        assert repo.level(loc, PART.sku) == StockLevel(loc, PART.sku, 1, 1, 0)
        held = repo.reservations_for(101) + repo.reservations_for(102)
        assert len(held) == 1
        assert [r[2] for r in repo.ledger(loc, PART.sku)] == ["receipt", "reserve"]


def test_reserve_consume_return_round_trip(db_url: str) -> None:
    loc = seed_depot(db_url, 3)
    with psycopg.connect(db_url) as conn:
        repo = SparesRepository(conn)
        res = repo.reserve(7, loc, PART.sku, 2, T0 + 10)
        assert repo.level(loc, PART.sku).available == 1
        with pytest.raises(InsufficientStock):
            repo.reserve(8, loc, PART.sku, 2, T0 + 11)
        assert [r.id for r in repo.reservations_for(8)] == []  # refused hold leaves no reservation row
        repo.consume(res.id, T0 + 20)
        with pytest.raises(NotFound):
            repo.consume(res.id, T0 + 21)  # consumed once only
        repo.return_unused(7, loc, PART.sku, 1, T0 + 30)
        assert repo.level(loc, PART.sku) == StockLevel(loc, PART.sku, 2, 0, 0)
        rows = repo.ledger(loc, PART.sku)
        assert [r[2] for r in rows] == ["receipt", "reserve", "consume", "return"]
        assert sum(r[4] for r in rows) == 2 and sum(r[5] for r in rows) == 0
        conn.commit()


def test_release_frees_the_unit(db_url: str) -> None:
    loc = seed_depot(db_url, 1)
    with psycopg.connect(db_url) as conn:
        repo = SparesRepository(conn)
        res = repo.reserve(9, loc, PART.sku, 1, T0)
        repo.release(res.id, T0 + 5)
        assert repo.reserve(10, loc, PART.sku, 1, T0 + 6).work_order_id == 10


def test_database_check_refuses_over_reservation(db_url: str) -> None:
    loc = seed_depot(db_url, 1)
    with psycopg.connect(db_url) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE stock_levels SET reserved = 2 WHERE location_id = %s", (loc,))
        conn.rollback()
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE stock_levels SET on_hand = -1, reserved = 0 WHERE location_id = %s", (loc,))


def test_shipment_to_van_moves_stock_through_transit(db_url: str) -> None:
    depot = seed_depot(db_url, 2)
    with psycopg.connect(db_url) as conn:
        repo = SparesRepository(conn)
        van = repo.add_location(LocationKind.VAN, "van 1", GeoPoint(52.1, 4.1), technician_id=int(depot) + 5000).id
        ship = repo.plan_shipment(PART.sku, 2, depot, T0, T0 + 3600, to_location_id=van, same_day=True)
        assert repo.level(depot, PART.sku).on_hand == 2
        repo.advance_shipment(ship.id, ShipmentStatus.PICKED, T0 + 60)
        assert repo.level(depot, PART.sku).on_hand == 0
        assert repo.level(van, PART.sku).in_transit == 2
        with pytest.raises(InvalidMovement):
            repo.advance_shipment(ship.id, ShipmentStatus.PLANNED, T0 + 61)
        repo.advance_shipment(ship.id, ShipmentStatus.IN_TRANSIT, T0 + 120)
        repo.advance_shipment(ship.id, ShipmentStatus.DELIVERED, T0 + 3500)
        assert repo.level(van, PART.sku) == StockLevel(van, PART.sku, 2, 0, 0)


def test_cancelled_shipment_returns_stock(db_url: str) -> None:
    depot = seed_depot(db_url, 1)
    with psycopg.connect(db_url) as conn:
        repo = SparesRepository(conn)
        ship = repo.plan_shipment(PART.sku, 1, depot, T0, T0 + 7200, to_site=GeoPoint(52.3, 4.3), work_order_id=77)
        repo.advance_shipment(ship.id, ShipmentStatus.PICKED, T0 + 60)
        assert repo.level(depot, PART.sku).on_hand == 0
        repo.advance_shipment(ship.id, ShipmentStatus.CANCELLED, T0 + 120)
        assert repo.level(depot, PART.sku).on_hand == 1



def test_migration_names_its_constraints_and_indexes(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        constraints = {r[0] for r in conn.execute(
            "SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace").fetchall()}
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert {"stock_levels_on_hand_ck", "stock_levels_reserved_ck", "stock_levels_reserved_le_on_hand_ck",
            "stock_levels_in_transit_ck", "stock_locations_van_owner_ck", "shipments_one_destination_ck",
            "stock_ledger_level_fk", "reservations_status_ck"} <= constraints
    assert {"stock_levels_pk", "stock_locations_van_technician_uq", "stock_ledger_level_ix",
            "reservations_work_order_ix", "shipments_open_ix"} <= indexes
    # No generated names: every constraint and index follows <table>_<what>_<kind>.
    assert all(name.endswith(("_pk", "_fk", "_ck", "_uq", "_ix")) for name in constraints | indexes)
