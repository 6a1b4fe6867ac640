"""PostgreSQL persistence for spares (psycopg 3). SQL lives in ``queries.sql``, loaded once.

Repositories take a connection and never commit: the caller owns the transaction (CONVENTIONS 6). Every stock
change runs the pure ledger rules first (``spares.ledger.deltas``) and then one conditional UPDATE whose WHERE
clause repeats the table's CHECKs, so a refused movement raises ``InsufficientStock`` without aborting the
caller's transaction, and two transactions racing for the last unit cannot both get it.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from core.clock import to_datetime
from spares.errors import InsufficientStock, InvalidMovement, NotFound
from spares.ledger import deltas
from spares.models import (
    SHIPMENT_STEPS,
    GeoPoint,
    LocationKind,
    Movement,
    MovementKind,
    Part,
    Reservation,
    ReservationStatus,
    Shipment,
    ShipmentStatus,
    StockLevel,
    StockLocation,
)

log = logging.getLogger(__name__)

QUERIES_PATH = Path(__file__).with_name("queries.sql")
_NAME_RE = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, str]:
    """Split ``-- name: x`` blocks into {name: sql}; comment lines inside a block are dropped."""
    queries: dict[str, str] = {}
    matches = list(_NAME_RE.finditer(text))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = "\n".join(line for line in text[m.end():end].splitlines() if not line.lstrip().startswith("--"))
        if m.group(1) in queries:
            raise ValueError(f"query {m.group(1)!r} defined twice")
        queries[m.group(1)] = body.strip().rstrip(";")
    return queries


@cache
def queries() -> dict[str, str]:
    return parse_queries(QUERIES_PATH.read_text())


def _ts(at: float) -> datetime:
    return to_datetime(at)


class SparesRepository:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.q = queries()

    def _one(self, name: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        return self.conn.execute(self.q[name], params).fetchone()  # type: ignore[arg-type]

    # catalogue and locations -------------------------------------------------------------------------------
    def add_part(self, part: Part) -> None:
        self.conn.execute(self.q["insert_part"], {  # type: ignore[arg-type]
            "sku": part.sku, "description": part.description,
            "equipment_types": sorted(str(t) for t in part.equipment_types),
            "unit_cost": part.unit_cost, "weight_kg": part.weight_kg})

    def add_location(self, kind: LocationKind, name: str, point: GeoPoint,
                     technician_id: int | None = None) -> StockLocation:
        StockLocation(0, kind, name, point, technician_id)  # validate before touching the database
        row = self._one("insert_location", {"kind": str(kind), "name": name, "lat": point.lat, "lon": point.lon,
                                            "technician_id": technician_id})
        assert row is not None
        return StockLocation(int(row[0]), kind, name, point, technician_id)

    # levels and the ledger ---------------------------------------------------------------------------------
    def level(self, location_id: int, sku: str) -> StockLevel:
        row = self._one("get_level", {"location_id": location_id, "sku": sku})
        return StockLevel(location_id, sku) if row is None else StockLevel(*row)

    def levels_for_sku(self, sku: str) -> list[StockLevel]:
        return [StockLevel(*r) for r in self.conn.execute(self.q["levels_for_sku"],  # type: ignore[arg-type]
                                                          {"sku": sku}).fetchall()]

    def post(self, movement: Movement, *, reservation_id: int | None = None) -> StockLevel:
        """Apply one movement and append its ledger row; raise InsufficientStock if the rules refuse it."""
        d_on, d_res, d_tr = deltas(movement)
        key = {"location_id": movement.location_id, "sku": movement.sku}
        self.conn.execute(self.q["ensure_level"], key)  # type: ignore[arg-type]
        row = self._one("apply_deltas", {**key, "d_on_hand": d_on, "d_reserved": d_res, "d_in_transit": d_tr,
                                         "at": _ts(movement.at)})
        if row is None:
            raise InsufficientStock(f"{movement.kind} {movement.qty} x {movement.sku} at location "
                                    f"{movement.location_id} refused")
        self._one("insert_ledger", {**key, "at": _ts(movement.at), "kind": str(movement.kind), "qty": movement.qty,
                                    "d_on_hand": d_on, "d_reserved": d_res, "d_in_transit": d_tr,
                                    "work_order_id": movement.work_order_id, "reservation_id": reservation_id,
                                    "shipment_id": movement.shipment_id, "note": movement.note})
        return StockLevel(*row)

    def receive(self, location_id: int, sku: str, qty: int, at: float, note: str = "") -> StockLevel:
        return self.post(Movement(MovementKind.RECEIPT, location_id, sku, qty, at, note=note))

    def ledger(self, location_id: int, sku: str) -> list[tuple[Any, ...]]:
        """(id, at, kind, qty, d_on_hand, d_reserved, d_in_transit, work_order_id) rows, oldest first."""
        return self.conn.execute(self.q["ledger_for_level"],  # type: ignore[arg-type]
                                 {"location_id": location_id, "sku": sku}).fetchall()

    # reservations ------------------------------------------------------------------------------------------
    def reserve(self, work_order_id: int, location_id: int, sku: str, qty: int, at: float) -> Reservation:
        """Hold ``qty`` units for a work order; safe under concurrency (see apply_deltas in queries.sql)."""
        mv = Movement(MovementKind.RESERVE, location_id, sku, qty, at, work_order_id)
        deltas(mv)  # refuse a bad quantity before the reservation row exists
        row = self._one("insert_reservation", {"work_order_id": work_order_id, "location_id": location_id,
                                               "sku": sku, "qty": qty, "at": _ts(at)})
        assert row is not None
        res_id = int(row[0])
        try:
            self.post(mv, reservation_id=res_id)
        except InsufficientStock:
            # The reservation row must not survive a refused hold; the caller's transaction stays usable.
            self.conn.execute(self.q["delete_reservation"], {"id": res_id})  # type: ignore[arg-type]
            raise
        log.info("part reserved", extra={"work_order_id": work_order_id, "sku": sku, "qty": qty})
        return Reservation(res_id, work_order_id, location_id, sku, qty)

    def _close(self, reservation_id: int, status: ReservationStatus, kind: MovementKind, at: float) -> Reservation:
        row = self._one("close_reservation", {"id": reservation_id, "status": str(status), "at": _ts(at)})
        if row is None:
            raise NotFound(f"no active reservation {reservation_id}")
        _, wo, loc, sku, qty = row
        self.post(Movement(kind, loc, sku, qty, at, wo), reservation_id=reservation_id)
        return Reservation(reservation_id, wo, loc, sku, qty, status)

    def release(self, reservation_id: int, at: float) -> Reservation:
        return self._close(reservation_id, ReservationStatus.RELEASED, MovementKind.RELEASE, at)

    def consume(self, reservation_id: int, at: float) -> Reservation:
        """The reserved parts were fitted on job completion."""
        return self._close(reservation_id, ReservationStatus.CONSUMED, MovementKind.CONSUME, at)

    def return_unused(self, work_order_id: int, location_id: int, sku: str, qty: int, at: float) -> StockLevel:
        """Parts taken for a job but not fitted go back on the shelf (or into the van)."""
        return self.post(Movement(MovementKind.RETURN, location_id, sku, qty, at, work_order_id))

    def reservations_for(self, work_order_id: int) -> list[Reservation]:
        rows = self.conn.execute(self.q["reservations_for_work_order"],  # type: ignore[arg-type]
                                 {"work_order_id": work_order_id}).fetchall()
        return [Reservation(r[0], r[1], r[2], r[3], r[4], ReservationStatus(r[5])) for r in rows]

    # shipments ---------------------------------------------------------------------------------------------
    def plan_shipment(self, sku: str, qty: int, from_location_id: int, shipped_at: float, eta: float, *,
                      to_location_id: int | None = None, to_technician_id: int | None = None,
                      to_site: GeoPoint | None = None, work_order_id: int | None = None,
                      same_day: bool = False) -> Shipment:
        """Record a planned shipment; stock moves only when it is picked."""
        shipment = Shipment(0, sku, qty, from_location_id, ShipmentStatus.PLANNED, shipped_at, eta,
                            to_location_id, to_technician_id, to_site, work_order_id, same_day)
        row = self._one("insert_shipment", {
            "sku": sku, "qty": qty, "from_location_id": from_location_id, "to_location_id": to_location_id,
            "to_technician_id": to_technician_id, "to_lat": to_site.lat if to_site else None,
            "to_lon": to_site.lon if to_site else None, "work_order_id": work_order_id, "same_day": same_day,
            "shipped_at": _ts(shipped_at), "eta": _ts(eta)})
        assert row is not None
        return Shipment(int(row[0]), *[getattr(shipment, f) for f in (
            "sku", "qty", "from_location_id", "status", "shipped_at", "eta", "to_location_id", "to_technician_id",
            "to_site", "work_order_id", "same_day")])

    def advance_shipment(self, shipment_id: int, status: ShipmentStatus, at: float) -> ShipmentStatus:
        """Move a shipment one step forward, with the stock movements the step implies.

        picked: the units leave the source (ship_out) and, for a stock-location destination, show as in transit
        there; delivered: in transit becomes on hand at the destination; cancelled after picking: the units go
        back to the source and the destination's in-transit is dropped.
        """
        row = self._one("get_shipment", {"id": shipment_id})
        if row is None:
            raise NotFound(f"no shipment {shipment_id}")
        sku, qty, src, current, to_loc, wo = row[1], row[2], row[3], ShipmentStatus(row[4]), row[7], row[11]
        if status not in SHIPMENT_STEPS[current]:
            raise InvalidMovement(f"shipment {shipment_id}: {current} -> {status} not allowed")
        picked = current in (ShipmentStatus.PICKED, ShipmentStatus.IN_TRANSIT)
        moves: list[Movement] = []
        if status is ShipmentStatus.PICKED:
            moves.append(Movement(MovementKind.SHIP_OUT, src, sku, qty, at, wo, shipment_id))
            if to_loc is not None:
                moves.append(Movement(MovementKind.TRANSIT_IN, to_loc, sku, qty, at, wo, shipment_id))
        elif status is ShipmentStatus.DELIVERED and to_loc is not None:
            moves.append(Movement(MovementKind.DELIVER, to_loc, sku, qty, at, wo, shipment_id))
        elif status is ShipmentStatus.CANCELLED and picked:
            moves.append(Movement(MovementKind.RECEIPT, src, sku, qty, at, wo, shipment_id, "shipment cancelled"))
            if to_loc is not None:
                moves.append(Movement(MovementKind.TRANSIT_CANCEL, to_loc, sku, qty, at, wo, shipment_id))
        for mv in moves:
            self.post(mv)
        self.conn.execute(self.q["set_shipment_status"],  # type: ignore[arg-type]
                          {"id": shipment_id, "status": str(status), "at": _ts(at)})
        return status

    # the live flow (needs 0410_spares_flow.sql) -----------------------------------------------------------
    def rows(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """A named query's rows as dicts (read models for the service and the API)."""
        with self.conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(self.q[name], params).fetchall()  # type: ignore[arg-type]

    def tag_reservation(self, reservation_id: int, source_kind: str, technician_id: int | None,
                        shipment_id: int | None) -> None:
        self.conn.execute(self.q["tag_reservation"], {  # type: ignore[arg-type]
            "id": reservation_id, "source_kind": source_kind, "technician_id": technician_id,
            "shipment_id": shipment_id})

    def issue(self, work_order_id: int | None, location_id: int, sku: str, qty: int, at: float,
              note: str = "") -> StockLevel:
        """An unreserved unit fitted or handed over (e.g. a part used on a job that nobody reserved)."""
        return self.post(Movement(MovementKind.ISSUE, location_id, sku, qty, at, work_order_id, note=note))
