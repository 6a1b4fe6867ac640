"""Spares over HTTP: catalogue, stock per location, reservations, shipments, receipts, replenishment, alerts.

Thin: each route maps HTTP to ``spares.service`` / ``spares.repository`` in one transaction. Dispatchers and
admins read and write everything; a technician reads the catalogue, their own van and the parts of their own
jobs (assigned or planned on their route); customers get 403. Someone else's van or job answers 404, the same as
one that does not exist, so ids cannot be probed. Domain errors: InsufficientStock -> 409, InvalidMovement ->
422, NotFound -> 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response

from api.auth import Principal, Staff, require_roles
from api.deps import Conn
from api.routes.board import now_of
from api.snapshot import shared_read
from api.spares_schemas import LocationIn, PartIn, ReceiptIn, ReservationIn, ShipmentIn, ShipmentStatusIn
from dispatch import repository as routes_repo
from spares import service as flow
from spares.allocation import straight_line_s
from spares.errors import InsufficientStock, InvalidMovement, NotFound, SparesError
from spares.models import EquipmentType, GeoPoint, LocationKind, Part, ShipmentStatus
from spares.repository import SparesRepository
from spares.sourcing import courier_eta

router = APIRouter(prefix="/api/spares", tags=["spares"])
Reader = Annotated[Principal, Depends(require_roles("admin", "dispatcher", "technician"))]


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except InsufficientStock as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except InvalidMovement as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except SparesError as exc:  # pragma: no cover - every subclass is mapped above
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


def _settings(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.settings.spares


def _own_van(conn: Conn, principal: Principal) -> dict[str, Any]:
    if principal.technician_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not bound to a technician")
    rows = SparesRepository(conn).rows("van_of", {"technician_id": int(principal.technician_id)})
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no van")
    return rows[0]


def _location(conn: Conn, location_id: int) -> dict[str, Any]:
    rows = SparesRepository(conn).rows("location", {"id": location_id})
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "location not found")
    return rows[0]


def _part(conn: Conn, sku: str) -> None:
    if not SparesRepository(conn).rows("get_part", {"sku": sku}):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "part not found")


# --- catalogue and locations -----------------------------------------------------------------------------------

@router.get("/parts")
def parts(conn: Conn, _: Reader) -> list[dict[str, Any]]:
    return SparesRepository(conn).rows("list_parts", {})


@router.post("/parts", status_code=status.HTTP_201_CREATED)
def add_part(body: PartIn, conn: Conn, _: Staff) -> dict[str, Any]:
    with conn.transaction():
        if SparesRepository(conn).rows("get_part", {"sku": body.sku}):
            raise HTTPException(status.HTTP_409_CONFLICT, "part exists")
        SparesRepository(conn).add_part(Part(body.sku, body.description,
                                             frozenset(EquipmentType(t) for t in body.equipment_types),
                                             body.unit_cost, body.weight_kg))
    conn.commit()
    return body.model_dump()


@router.get("/locations")
def locations(conn: Conn, _: Staff, kind: LocationKind | None = None) -> list[dict[str, Any]]:
    return SparesRepository(conn).rows("list_locations", {"kind": str(kind) if kind else None})


@router.post("/locations", status_code=status.HTTP_201_CREATED)
def add_location(body: LocationIn, conn: Conn, _: Staff) -> dict[str, Any]:
    if (body.kind == "van") != (body.technician_id is not None):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a van needs a technician_id; others none")
    with conn.transaction():
        if body.technician_id is not None and not routes_repo.technician(conn, body.technician_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "technician not found")
        if body.technician_id is not None and SparesRepository(conn).rows("van_of",
                                                                          {"technician_id": body.technician_id}):
            raise HTTPException(status.HTTP_409_CONFLICT, "technician already has a van")
        loc = SparesRepository(conn).add_location(LocationKind(body.kind), body.name, GeoPoint(body.lat, body.lon),
                                                  body.technician_id)
    conn.commit()
    return {"id": loc.id, **body.model_dump()}


# --- stock -----------------------------------------------------------------------------------------------------

@router.get("/stock")
def stock(conn: Conn, principal: Reader, location_id: int | None = None, kind: LocationKind | None = None,
          sku: str | None = Query(None, max_length=80)) -> list[dict[str, Any]]:
    """On hand / reserved / in transit / available per location and SKU. A technician sees only their van."""
    if not principal.sees_everything:
        van = _own_van(conn, principal)
        if location_id is not None and location_id != van["id"]:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "location not found")
        location_id, kind = int(van["id"]), None
    return SparesRepository(conn).rows("stock", {"location_id": location_id, "kind": str(kind) if kind else None,
                                                 "sku": sku})


@router.get("/van")
def van(conn: Conn, principal: Reader, technician_id: int | None = None) -> dict[str, Any]:
    """A van and its stock: the caller's own (technician), or any technician's (staff, ``technician_id``)."""
    if principal.sees_everything and technician_id is not None:
        rows = SparesRepository(conn).rows("van_of", {"technician_id": technician_id})
        if not rows:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no van")
        found = rows[0]
    elif principal.sees_everything:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "technician_id required")
    else:
        found = _own_van(conn, principal)
    levels = SparesRepository(conn).rows("stock", {"location_id": found["id"], "kind": None, "sku": None})
    return {"location_id": found["id"], "name": found["name"], "lat": found["lat"], "lon": found["lon"],
            "stock": levels}


@router.post("/receipts", status_code=status.HTTP_201_CREATED)
def receive(body: ReceiptIn, request: Request, conn: Conn, principal: Staff) -> dict[str, Any]:
    """Receive / restock: goods in at a location (one ledger entry)."""
    _location(conn, body.location_id)
    _part(conn, body.sku)
    with conn.transaction(), _errors():
        level = SparesRepository(conn).receive(body.location_id, body.sku, body.qty, now_of(request).timestamp(),
                                               note=body.note or f"received by {principal.username}")
    conn.commit()
    return {"location_id": level.location_id, "sku": level.sku, "on_hand": level.on_hand,
            "reserved": level.reserved, "in_transit": level.in_transit, "available": level.available}


@router.get("/ledger")
def ledger(conn: Conn, _: Staff, location_id: int | None = None, sku: str | None = Query(None, max_length=80),
           work_order_id: int | None = None, limit: int = Query(200, ge=1, le=2000)) -> list[dict[str, Any]]:
    """The stock ledger, newest first: every movement with the deltas it applied."""
    return SparesRepository(conn).rows("ledger_recent", {"location_id": location_id, "sku": sku,
                                                         "work_order_id": work_order_id, "limit": limit})


# --- reservations ----------------------------------------------------------------------------------------------

def _job_visible(conn: Conn, principal: Principal, work_order_id: int) -> None:
    if principal.sees_everything:
        return
    tid = principal.technician_id
    rows = SparesRepository(conn).rows("work_order_required", {"ids": [work_order_id]})
    if tid is None or not rows or (rows[0]["technician_id"] != tid
                                   and not routes_repo.on_route_of(conn, int(tid), work_order_id)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "work order not found")


@router.get("/work-orders/{work_order_id}/parts")
def work_order_parts(work_order_id: int, conn: Conn, principal: Reader) -> list[dict[str, Any]]:
    """What the job needs to collect and where (see ``spares.service.parts_for``)."""
    _job_visible(conn, principal, work_order_id)
    return flow.parts_for(conn, [work_order_id]).get(work_order_id, [])


@router.get("/work-orders/{work_order_id}/reservations")
def work_order_reservations(work_order_id: int, conn: Conn, _: Staff) -> list[dict[str, Any]]:
    return SparesRepository(conn).rows("reservations_detail", {"work_order_id": work_order_id})


@router.post("/reservations", status_code=status.HTTP_201_CREATED)
def reserve(body: ReservationIn, request: Request, conn: Conn, _: Staff) -> dict[str, Any]:
    """A manual hold for a work order (the plan's own holds are made by the dispatch loop)."""
    _location(conn, body.location_id)
    _part(conn, body.sku)
    found = SparesRepository(conn).rows("work_order_required", {"ids": [body.work_order_id]})
    if not found or found[0]["status"] not in ("open", "assigned", "en_route", "on_site"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "active work order not found")
    with conn.transaction(), _errors():
        res = SparesRepository(conn).reserve(body.work_order_id, body.location_id, body.sku, body.qty,
                                             now_of(request).timestamp())
    conn.commit()
    return {"id": res.id, "work_order_id": res.work_order_id, "location_id": res.location_id, "sku": res.sku,
            "qty": res.qty, "status": str(res.status)}


@router.post("/reservations/{reservation_id}/release")
def release(reservation_id: int, request: Request, conn: Conn, _: Staff) -> dict[str, Any]:
    with conn.transaction(), _errors():
        res = SparesRepository(conn).release(reservation_id, now_of(request).timestamp())
    conn.commit()
    return {"id": res.id, "work_order_id": res.work_order_id, "status": str(res.status)}


# --- shipments -------------------------------------------------------------------------------------------------

@router.get("/shipments")
def shipments(conn: Conn, _: Staff, status_: Annotated[list[ShipmentStatus] | None, Query(alias="status")] = None,
              work_order_id: int | None = None, limit: int = Query(500, ge=1, le=2000)) -> list[dict[str, Any]]:
    return SparesRepository(conn).rows("list_shipments", {
        "statuses": [str(s) for s in status_] if status_ else None, "work_order_id": work_order_id,
        "limit": limit})


@router.get("/in-transit", responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}},
                                     304: {"description": "Not modified (`If-None-Match`)."}})
async def in_transit(request: Request, _: Staff) -> Response:
    """The board's KPI: ``{count, shipments: [...]}`` of shipments picked or in transit.

    Every open board re-reads this on each live change and it is the same for all staff: one shared snapshot
    with ETag/304 (api/snapshot.py ``shared_read``; a shipment update shows within its 2 s age bound)."""
    return await shared_read(request, "in-transit", flow.in_transit)


@router.post("/shipments", status_code=status.HTTP_201_CREATED)
def create_shipment(body: ShipmentIn, request: Request, conn: Conn, _: Staff) -> dict[str, Any]:
    """A courier (to a site or a technician) or a transfer (to a location); stock moves when it is picked."""
    if sum(x is not None for x in (body.to_location_id, body.to_technician_id, body.to_site)) != 1:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "exactly one destination")
    origin = _location(conn, body.from_location_id)
    _part(conn, body.sku)
    if body.to_location_id is not None:
        _location(conn, body.to_location_id)
    if body.to_technician_id is not None and not routes_repo.technician(conn, body.to_technician_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "technician not found")
    now = now_of(request).timestamp()
    s = _settings(request)
    if body.eta is not None:
        eta, same_day = body.eta.timestamp(), body.eta - now_of(request) <= timedelta(hours=12)
    else:
        dest = (GeoPoint(body.to_site.lat, body.to_site.lon) if body.to_site is not None
                else GeoPoint(origin["lat"], origin["lon"]))
        if body.to_location_id is not None:
            d = _location(conn, body.to_location_id)
            dest = GeoPoint(d["lat"], d["lon"])
        eta, _cost, same_day = courier_eta(flow.courier_lane(s), GeoPoint(origin["lat"], origin["lon"]), dest, now,
                                       straight_line_s(s.road_factor, s.speed_kmh))
    if eta < now:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "eta in the past")
    with conn.transaction(), _errors():
        sh = SparesRepository(conn).plan_shipment(
            body.sku, body.qty, body.from_location_id, now, eta, to_location_id=body.to_location_id,
            to_technician_id=body.to_technician_id,
            to_site=GeoPoint(body.to_site.lat, body.to_site.lon) if body.to_site else None,
            work_order_id=body.work_order_id, same_day=same_day)
    conn.commit()
    return _shipment(conn, sh.id)


def _shipment(conn: Conn, shipment_id: int) -> dict[str, Any]:
    rows = SparesRepository(conn).rows("shipment_view", {"id": shipment_id})
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "shipment not found")
    return rows[0]


@router.post("/shipments/{shipment_id}/status")
def advance(shipment_id: int, body: ShipmentStatusIn, request: Request, conn: Conn, _: Staff) -> dict[str, Any]:
    """Advance a shipment (picked -> in_transit -> delivered, or cancelled); the stock moves with it."""
    with conn.transaction(), _errors():
        flow.advance_shipment(conn, shipment_id, ShipmentStatus(body.status), now_of(request).timestamp())
    conn.commit()
    return _shipment(conn, shipment_id)


# --- planning --------------------------------------------------------------------------------------------------

@router.get("/replenishment")
def replenishment(request: Request, conn: Conn, _: Staff, location_id: int | None = None) -> list[dict[str, Any]]:
    """Reorder point, base stock and order quantity per location and SKU (``spares.service.replenishment``)."""
    return flow.replenishment(conn, now_of(request).timestamp(), _settings(request), location_id)


@router.get("/transfers")
def transfers(request: Request, conn: Conn, _: Staff) -> list[dict[str, Any]]:
    return flow.transfers(conn, now_of(request).timestamp(), _settings(request))


@router.get("/van-restock")
def van_restock(request: Request, conn: Conn, principal: Reader,
                technician_id: int | None = None) -> list[dict[str, Any]]:
    """End-of-day van loading lists; a technician gets only their own."""
    if not principal.sees_everything:
        _own_van(conn, principal)
        technician_id = int(principal.technician_id)  # type: ignore[arg-type]
    return flow.van_restock(conn, now_of(request).timestamp(), _settings(request), technician_id)


# --- alerts ----------------------------------------------------------------------------------------------------

@router.get("/alerts")
def alerts(conn: Conn, _: Staff, open_only: bool = True) -> list[dict[str, Any]]:
    """Parts an open incident needs that nobody within reach has (one per incident and SKU)."""
    return SparesRepository(conn).rows("list_alerts", {"open_only": open_only})


@router.post("/alerts/{alert_id}/ack")
def ack(alert_id: int, request: Request, conn: Conn, principal: Staff) -> dict[str, Any]:
    with conn.transaction():
        row = conn.execute(SparesRepository(conn).q["ack_alert"], {  # type: ignore[arg-type]
            "id": alert_id, "at": now_of(request), "by": principal.username}).fetchone()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "open alert not found")
    conn.commit()
    return {"id": alert_id, "acknowledged": True}
