"""Spares use cases in the live flow: reserve what the dispatch plan uses, consume on completion, alert dispatchers.

The caller owns the transaction (the dispatch loop applies a plan and its reservations in one transaction, so a
plan is never stored without the parts it relies on being held, nor the other way round). Every stock change goes
through ``SparesRepository`` and so is a ledger entry checked by the database (no level ever goes negative).

Rules (docs/spares.md, "Live flow"):

* a job with a pick-up stop on its route reserves at that depot ("depot"); a job without one reserves in its
  technician's van ("van"); when that location cannot back the parts (the plan visits without parts, or another
  job took the last unit), the parts go by courier to the site from the nearest depot or warehouse that has them
  ("courier": a hold at the origin plus a planned shipment; picking the shipment turns the hold into a ship-out);
* a re-plan that changes a job's technician or source releases the old holds and reserves again; a hold that
  still matches is left alone (no ledger churn on every re-plan); a committed job (assigned, en route, on site)
  keeps its hold while its technician is unchanged; a courier shipment already picked is never recalled;
* holds of work orders that are no longer active (cancelled, completed) are released; a dispatcher's manual
  hold (``POST /api/spares/reservations``, no ``source_kind``) counts as covering the part and is never moved;
* on completion the technician's parts-used report is consumed from the holds (unused parts collected at a depot
  or delivered to the site go back into the van; unused van holds are released);
* a part that an active work order needs and no location within ``reach_km`` holds raises one alert per
  incident and SKU (``spares_alerts`` plus a ``parts_unavailable`` timeline event).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from core.clock import to_datetime
from core.events import record_timeline
from core.settings import SparesSettings
from i18n import Message
from spares.allocation import PlannedParts, km, missing, nearest_with_stock, straight_line_s
from spares.errors import InsufficientStock, NotFound
from spares.models import SHIPMENT_STEPS, GeoPoint, ShipmentStatus
from spares.repository import SparesRepository
from spares.sourcing import CourierLane, courier_eta
from spares.stock_plan import (  # re-exported: advice lives there
    _history,
    covered_parts,
    replenishment,
    transfers,
    van_restock,
)

log = logging.getLogger(__name__)

OPEN_SHIPMENT = ("planned", "picked", "in_transit")


@dataclass
class FlowResult:
    """What one ``apply_plan`` pass did (counts for logs and tests)."""

    reserved: int = 0
    released: int = 0
    kept: int = 0
    couriers: int = 0
    unavailable: int = 0
    alerts: list[int] = field(default_factory=list)


def courier_lane(s: SparesSettings) -> CourierLane:
    return CourierLane(handling_s=s.courier_handling_s, same_day_cutoff_s=s.courier_same_day_cutoff_s,
                       next_day_delivery_s=s.courier_next_day_delivery_s, cost_same_day=0.0, cost_next_day=0.0,
                       speed_factor=s.courier_speed_factor)


# --- shipments -------------------------------------------------------------------------------------------------

def advance_shipment(conn: psycopg.Connection, shipment_id: int, status: ShipmentStatus, at: float) -> ShipmentStatus:
    """One step forward; a courier hold for a work order is released first when the units leave (or never will).

    The hold keeps the depot's units for the job until the courier picks them; SHIP_OUT takes only unreserved
    units, so the hold is released in the same transaction just before (two ledger entries: release, ship_out).
    """
    repo = SparesRepository(conn)
    if status in (ShipmentStatus.PICKED, ShipmentStatus.CANCELLED):
        for r in repo.rows("shipment_reservations", {"shipment_id": shipment_id}):
            repo.release(int(r["id"]), at)
    return repo.advance_shipment(shipment_id, status, at)


def deliver_to_site(conn: psycopg.Connection, shipment_id: int, current: str, at: float) -> None:
    """Walk a site shipment forward to delivered (the technician has it in hand)."""
    state = ShipmentStatus(current)
    for nxt in (ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERED):
        if nxt in SHIPMENT_STEPS[state]:
            advance_shipment(conn, shipment_id, nxt, at)
            state = nxt


def _drop_hold(repo: SparesRepository, hold: Mapping[str, Any], at: float) -> None:
    """Release a hold; a courier hold cancels its (still planned) shipment, which releases the hold."""
    if hold["source_kind"] == "courier" and hold["shipment_id"] is not None:
        advance_shipment(repo.conn, int(hold["shipment_id"]), ShipmentStatus.CANCELLED, at)
    else:
        repo.release(int(hold["id"]), at)


# --- applying a plan -------------------------------------------------------------------------------------------

def release_orphans(conn: psycopg.Connection, at: float) -> int:
    """Holds of work orders no longer active (cancelled or closed without consuming) go back on the shelf."""
    repo = SparesRepository(conn)
    rows = repo.rows("orphan_reservations", {})
    for r in rows:
        _drop_hold(repo, {"id": r["id"], "shipment_id": r["shipment_id"],
                          "source_kind": "courier" if r["shipment_id"] is not None else None}, at)
    return len(rows)


def apply_plan(conn: psycopg.Connection, jobs: Sequence[PlannedParts], now: float,
               settings: SparesSettings | None = None) -> FlowResult:
    """Make the holds match the plan (see the module docstring); returns what changed."""
    s = settings or SparesSettings()
    repo = SparesRepository(conn)
    result = FlowResult()
    result.released += release_orphans(conn, now)
    ids = [j.work_order_id for j in jobs]
    if not ids:
        return result
    active = {r["id"] for r in repo.rows("still_active", {"work_order_ids": ids})}
    jobs = [j for j in jobs if j.work_order_id in active]  # completed or cancelled meanwhile: not re-held
    ids = [j.work_order_id for j in jobs]
    holds: dict[int, list[dict[str, Any]]] = defaultdict(list)
    inflight: dict[int, dict[str, int]] = defaultdict(dict)  # covered whatever the plan says
    for r in repo.rows("active_plan_reservations", {"work_order_ids": ids}):
        if r["source_kind"] is None:  # a dispatcher's manual hold: their decision stands
            inflight[r["work_order_id"]][r["sku"]] = inflight[r["work_order_id"]].get(r["sku"], 0) + int(r["qty"])
        else:
            holds[r["work_order_id"]].append(r)
    for r in repo.rows("open_shipments_for_work_orders", {"work_order_ids": ids}):
        inflight[r["work_order_id"]][r["sku"]] = inflight[r["work_order_id"]].get(r["sku"], 0) + int(r["qty"])
    known = {r["sku"] for r in repo.rows("part_exists", {"skus": sorted({k for j in jobs for k in j.needs})})}
    vans: dict[int, int | None] = {}
    for job in jobs:
        needs = {k: q for k, q in job.needs.items() if k in known}
        want = missing(needs, inflight.get(job.work_order_id, {}))
        mine = holds.get(job.work_order_id, [])
        for hold in [h for h in mine if h["sku"] not in want]:  # no longer needed (or already on its way)
            _drop_hold(repo, hold, now)
            result.released += 1
        if job.source is None:  # not in the plan: holds stand, nothing new is taken
            result.kept += sum(1 for h in mine if h["sku"] in want)
            continue
        van = None
        if job.technician_id is not None:
            if job.technician_id not in vans:
                found = repo.rows("van_of", {"technician_id": job.technician_id})
                vans[job.technician_id] = int(found[0]["id"]) if found else None
            van = vans[job.technician_id]
        for sku, qty in sorted(want.items()):
            held = [h for h in mine if h["sku"] == sku]
            if _keep(repo, job, van, sku, qty, held):
                result.kept += len(held)
                continue
            for hold in held:
                _drop_hold(repo, hold, now)
                result.released += 1
            _source(repo, job, van, sku, qty, now, s, result)
    return result


def _desired(repo: SparesRepository, job: PlannedParts, van: int | None, sku: str, qty: int,
             held: Sequence[Mapping[str, Any]]) -> tuple[str, int | None]:
    """(kind, location) the plan asks for this SKU; a van that cannot back it means courier."""
    if job.source == "depot" and job.depot_location_id is not None:
        return "depot", job.depot_location_id
    if van is not None:
        mine = sum(int(h["qty"]) for h in held if h["location_id"] == van and h["source_kind"] == "van")
        if repo.level(van, sku).available + mine >= qty:
            return "van", van
    return "courier", None


def _keep(repo: SparesRepository, job: PlannedParts, van: int | None, sku: str, qty: int,
          held: Sequence[Mapping[str, Any]]) -> bool:
    if not held or sum(int(h["qty"]) for h in held) != qty:
        return False
    if job.committed and all(h["technician_id"] == job.technician_id or h["source_kind"] == "courier"
                             for h in held):
        return True  # the technician has been sent: the pick-up or shipment chosen then stands
    kind, loc = _desired(repo, job, van, sku, qty, held)
    if kind == "courier":
        return all(h["source_kind"] == "courier" for h in held)
    return all(h["source_kind"] == kind and h["location_id"] == loc and h["technician_id"] == job.technician_id
               for h in held)


def _source(repo: SparesRepository, job: PlannedParts, van: int | None, sku: str, qty: int, now: float,
            s: SparesSettings, result: FlowResult) -> None:
    kind, loc = _desired(repo, job, van, sku, qty, ())
    if loc is not None:
        try:
            res = repo.reserve(job.work_order_id, loc, sku, qty, now)
            repo.tag_reservation(res.id, kind, job.technician_id, None)
            result.reserved += 1
            return
        except InsufficientStock:
            log.info("planned source cannot back the part; trying a courier",
                     extra={"work_order_id": job.work_order_id, "sku": sku, "source": kind, "location_id": loc})
    points = [(int(r["id"]), GeoPoint(r["lat"], r["lon"]), int(r["available"]))
              for r in repo.rows("stock_points", {"skus": [sku]})]
    origin = nearest_with_stock(job.site, points, qty, s.reach_km)
    if origin is not None:
        try:
            res = repo.reserve(job.work_order_id, origin, sku, qty, now)
        except InsufficientStock:  # pragma: no cover - only under a concurrent writer between read and reserve
            origin = None
        else:
            point = next(p for i, p, _ in points if i == origin)
            eta, _, same_day = courier_eta(courier_lane(s), point, job.site, now,
                                           straight_line_s(s.road_factor, s.speed_kmh))
            shipment = repo.plan_shipment(sku, qty, origin, now, max(eta, now), to_site=job.site,
                                          work_order_id=job.work_order_id, same_day=same_day)
            repo.tag_reservation(res.id, "courier", job.technician_id, shipment.id)
            result.reserved += 1
            result.couriers += 1
            log.info("courier planned", extra={"work_order_id": job.work_order_id, "sku": sku, "qty": qty,
                                               "from_location_id": origin, "shipment_id": shipment.id})
            return
    result.unavailable += 1  # the alert scan (scan_alerts) tells the dispatchers


# --- alerts ----------------------------------------------------------------------------------------------------

def scan_alerts(conn: psycopg.Connection, now: float, settings: SparesSettings | None = None) -> list[int]:
    """Alert once per incident and SKU when an active work order's part is neither held, nor on its way, nor
    available anywhere within reach. Jobs are taken most urgent first; earlier jobs claim stock first."""
    from spares.replenishment import out_of_stock_alerts

    s = settings or SparesSettings()
    repo = SparesRepository(conn)
    orders = repo.rows("active_parts_orders", {})
    if not orders:
        return []
    ids = [o["id"] for o in orders]
    covered = covered_parts(repo, ids)
    known = {r["sku"] for r in repo.rows("part_exists", {"skus": sorted({k for o in orders
                                                                           for k in o["required_parts"]})})}
    wanted = {o["id"]: missing({k: int(v) for k, v in o["required_parts"].items() if k in known and int(v) > 0},
                               covered.get(o["id"], {})) for o in orders}
    skus = sorted({k for w in wanted.values() for k in w})
    if not skus:
        return []
    stock = repo.rows("all_available", {"skus": skus})
    points = {int(r["id"]): GeoPoint(r["lat"], r["lon"]) for r in stock}
    available = {(int(r["id"]), r["sku"]): int(r["available"]) for r in stock}
    by_id = {o["id"]: o for o in orders}
    jobs = [(o["id"], wanted[o["id"]],
             [loc for loc, p in points.items() if km(GeoPoint(o["lat"], o["lon"]), p) <= s.reach_km])
            for o in orders if wanted[o["id"]]]
    created: list[int] = []
    at = to_datetime(now)
    for alert in out_of_stock_alerts(jobs, available):
        o = by_id[alert.work_order_id]
        row = conn.execute(repo.q["insert_alert"], {  # type: ignore[arg-type]
            "incident_id": o["incident_id"], "work_order_id": o["id"], "sku": alert.sku, "needed": alert.needed,
            "available": alert.available_within_reach, "at": at}).fetchone()
        if row is None:
            continue  # this incident and SKU were already reported
        created.append(int(row[0]))
        record_timeline(conn, customer_id=o["customer_id"], device_id=o["device_id"], at=at,
                        kind="parts_unavailable",
                        message=Message("summary.partOutOfStock", {
                            "sku": alert.sku, "needed": alert.needed, "available": alert.available_within_reach}),
                        incident_id=o["incident_id"], work_order_id=o["id"],
                        data={"sku": alert.sku, "needed": alert.needed, "alert_id": int(row[0]),
                              "available_within_reach": alert.available_within_reach, "audience": "dispatcher"})
        log.warning("part out of stock within reach", extra={"work_order_id": o["id"], "sku": alert.sku,
                                                             "needed": alert.needed})
    return created


# --- completion ------------------------------------------------------------------------------------------------

def complete_job(conn: psycopg.Connection, work_order_id: int, technician_id: int | None,
                 used: Mapping[str, int] | None, at: float) -> dict[str, int]:
    """Book the parts of a finished visit; returns SKU -> units booked as fitted.

    ``used`` is the technician's report (SKU -> units); None means "as planned" (the work order's required
    parts: the field simulator and a phone that reports nothing). Unused parts collected at a depot or delivered
    to the site go back into the technician's van; unused van holds are released; a courier that never left is
    cancelled. A part used beyond every hold is issued from the van when the van has it, else only logged (stock
    never goes negative; the count will show it).
    """
    repo = SparesRepository(conn)
    wo = repo.rows("work_order_for_parts", {"work_order_id": work_order_id})
    if not wo:
        raise NotFound(f"no work order {work_order_id}")
    if used is None:
        used = {str(k): int(v) for k, v in (wo[0]["required_parts"] or {}).items() if int(v) > 0}
    known = {r["sku"] for r in repo.rows("part_exists", {"skus": sorted(used)})}
    left = {k: q for k, q in used.items() if k in known}
    fitted: dict[str, int] = defaultdict(int)
    van_rows = repo.rows("van_of", {"technician_id": technician_id}) if technician_id is not None else []
    van = int(van_rows[0]["id"]) if van_rows else None
    note = f"work order {work_order_id}"
    for hold in repo.rows("active_plan_reservations", {"work_order_ids": [work_order_id]}):
        sku, qty, loc = hold["sku"], int(hold["qty"]), int(hold["location_id"])
        if hold["source_kind"] == "courier":
            _drop_hold(repo, hold, at)  # never picked: the technician did without it
            continue
        u = min(left.get(sku, 0), qty)
        left[sku] = left.get(sku, 0) - u
        if loc == van or van is None:
            if u == qty:
                repo.consume(int(hold["id"]), at)
            else:
                repo.release(int(hold["id"]), at)
                if u:
                    repo.issue(work_order_id, loc, sku, u, at, note)
        else:  # collected at a depot on the way: fitted, and the rest travels on in the van
            repo.consume(int(hold["id"]), at)
            if qty - u:
                repo.return_unused(work_order_id, van, sku, qty - u, at)
        fitted[sku] += u
    for ship in repo.rows("work_order_shipments", {"work_order_id": work_order_id}):
        if ship["status"] == "planned":
            continue  # its hold was handled above (cancelled)
        deliver_to_site(conn, int(ship["id"]), ship["status"], at)
        u = min(left.get(ship["sku"], 0), int(ship["qty"]))
        left[ship["sku"]] = left.get(ship["sku"], 0) - u
        fitted[ship["sku"]] += u
        if int(ship["qty"]) - u and van is not None:
            repo.return_unused(work_order_id, van, ship["sku"], int(ship["qty"]) - u, at)
    for sku, q in sorted(left.items()):
        if q <= 0:
            continue
        take = min(q, repo.level(van, sku).available) if van is not None else 0
        if take:
            repo.issue(work_order_id, van, sku, take, at, note)  # type: ignore[arg-type]
            fitted[sku] += take
        if q - take:
            log.warning("part used but not in the van or held for the job",
                        extra={"work_order_id": work_order_id, "sku": sku, "qty": q - take})
    return dict(fitted)


def release_work_order(conn: psycopg.Connection, work_order_id: int, at: float) -> int:
    """Drop every hold of a work order (cancelled, or parts no longer needed)."""
    repo = SparesRepository(conn)
    holds = repo.rows("active_plan_reservations", {"work_order_ids": [work_order_id]})
    for hold in holds:
        _drop_hold(repo, hold, at)
    return len(holds)


# --- read models -----------------------------------------------------------------------------------------------

def parts_for(conn: psycopg.Connection, work_order_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Per work order: ``[{sku, qty, source_kind, location_name, lat, lon, status, ...}]``, what to collect and
    where. source_kind is van | depot | courier; for a courier, location_name is the origin and lat/lon the site
    (where the technician receives it). Needs of an active job that nothing covers are listed with status
    "unavailable" and source_kind/location/lat/lon null."""
    ids = list(work_order_ids)
    if not ids:
        return {}
    repo = SparesRepository(conn)
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    got: dict[int, dict[str, int]] = defaultdict(dict)
    for r in repo.rows("work_order_parts", {"ids": ids}):
        wo = r.pop("work_order_id")
        out[wo].append(r)
        got[wo][r["sku"]] = got[wo].get(r["sku"], 0) + int(r["qty"])
    for w in repo.rows("work_order_required", {"ids": ids}):
        if w["status"] not in ("open", "assigned", "en_route", "on_site"):
            continue
        needs = {str(k): int(v) for k, v in (w["required_parts"] or {}).items() if int(v) > 0}
        for sku, q in sorted(missing(needs, got.get(w["id"], {})).items()):
            out[w["id"]].append({"sku": sku, "qty": q, "source_kind": None, "location_id": None,
                                 "location_name": None, "lat": None, "lon": None, "status": "unavailable",
                                 "shipment_id": None, "eta": None, "reservation_id": None})
    return out


def in_transit(conn: psycopg.Connection, limit: int = 500) -> dict[str, Any]:
    """Shipments picked or on their way (the board's KPI): count and list, soonest ETA first."""
    rows = SparesRepository(conn).rows("list_shipments", {"statuses": ["picked", "in_transit"],
                                                          "work_order_id": None, "limit": limit})
    return {"count": len(rows), "shipments": rows}

__all__ = ["FlowResult", "_history", "advance_shipment", "apply_plan", "complete_job", "courier_lane",
           "deliver_to_site", "in_transit", "parts_for", "release_orphans", "release_work_order", "replenishment",
           "scan_alerts", "transfers", "van_restock"]
