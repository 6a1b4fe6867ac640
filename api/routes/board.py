"""The dispatcher's route board: map, timeline lanes, SLA-risk queue, manual intake and (re)assignment, KPIs.

Staff only. Writes happen in one transaction each and leave a timeline event, so the board, the portal and the
live stream all see the same story.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, Response

from api import repository as repo
from api.auth import Staff
from api.deps import Conn
from api.schemas import AssignRequest, AssignResult, IntakeRequest, IntakeResult, KpiRow
from api.snapshot import Body, board_version, conditional, shared_pool, shared_read, snapshots_of
from core.clock import SystemClock, to_datetime
from core.events import queue_notification, record_timeline
from diagnostics import repository as diag_repo
from diagnostics import service_targets
from dispatch import Location, StraightLineProvider
from dispatch import repository as plan_repo
from i18n import Message
from kpis import Promise
from kpis import service as kpi_service
from spares import service as spares_flow

router = APIRouter(tags=["board"])
STATIC = Path(__file__).resolve().parents[1] / "static"
_SYSTEM_CLOCK = SystemClock()


def now_of(request: Request) -> datetime:
    """The API's "now": the app's injected clock when the composition root set one (demo), else wall time."""
    return to_datetime(getattr(request.app.state, "clock", _SYSTEM_CLOCK).now())


@router.get("/board", include_in_schema=False)
def board_page() -> FileResponse:
    return FileResponse(STATIC / "board.html")


# Shared snapshot answers are JSON bytes built once per data version (api/snapshot.py), returned as a Response so
# FastAPI validates nothing per request; the schema is still documented here, with the 304 of a revalidation.
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "Not modified: the `If-None-Match` ETag is still current (no body)."}}
JSON_OBJECT: dict[str, Any] = {"content": {"application/json": {"schema": {"type": "object"}}}}


@router.get("/api/board", tags=["board"], responses={200: {
    "description": "`{now, technicians: [...], queue: [...], tile_url}`; ETag (weak: `now` is per request), "
                   "`Cache-Control: private, no-cache`, server time also in `X-Server-Now`.", **JSON_OBJECT},
    **NOT_MODIFIED})
async def board(request: Request, _: Staff) -> Response:
    """Everything the board draws, in one round trip: technicians, the active queue, server time, map tiles.

    Staff share one snapshot per data version (api/snapshot.py); only "now" is stamped per request. ``async``
    and without a request connection: a snapshot hit costs a share of one coalesced version read, no thread hop;
    only a rebuild takes a pooled connection on the thread pool. A board that already holds this version (its
    ``If-None-Match``) gets a 304; "now" then travels in ``X-Server-Now`` (also sent with every 200), which the
    page reads, because the cached body's ``now`` is as old as the body."""
    rest = await board_body(request.app)
    now = json.dumps(jsonable_encoder(now_of(request))).encode()
    return conditional(request, b'{"now":' + now + b"," + rest[1:], rest.etag, weak=True,
                       headers={"X-Server-Now": now.decode()[1:-1]})


@router.get("/api/board/kpis", response_model=list[KpiRow], responses=NOT_MODIFIED)
async def kpis(request: Request, _: Staff) -> Response:
    """Today's KPI strip by region and tier (``*`` = all), from the shared snapshot; ETag/304 like the board.
    ``response_model`` documents the rows; returning a Response skips its per-request validation (the rows are
    validated once, when the snapshot is built)."""
    body = await kpis_body(request.app, now_of(request))
    return conditional(request, body, body.etag)


async def board_body(app: Any) -> Body:
    """The board's shared snapshot (technicians, queue, tiles; without ``now``, which is per request)."""

    def build() -> dict[str, Any]:
        with shared_pool(app).connection() as conn:
            return {"technicians": repo.board_technicians(conn), "queue": repo.board_queue(conn),
                    "tile_url": app.state.settings.api.tile_url}

    return await snapshots_of(app).aget("board", await board_version(app), build)


# Counts from kpis.strip merged into each strip row: the promise (2 h, 15 min) and first-time fix, met / judged.
PROMISE_FIELDS = {"onsite_2h_met": "onsite_2h_met", "onsite_2h_judged": "onsite_2h_judged",
                  "response_15min_met": "response_met", "response_15min_judged": "response_judged",
                  "first_visit_fixed": "first_visit_fixed", "first_visit_judged": "first_visit_judged"}


async def kpis_body(app: Any, now: datetime) -> Body:
    """Today's KPI rows (validated once per build) as the shared snapshot of the current board version."""
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def build() -> list[dict[str, Any]]:
        settings = app.state.settings
        promise = Promise.of(settings.service)
        with shared_pool(app).connection() as conn:
            rows = repo.kpi_strip(conn, start, start + timedelta(days=1), now)
            # The promise figures (and first-time fix) come from the kpis package, the one definition the KPI
            # page, the API and bench.live_day also use; the SQL rows above keep the contract figures.
            promised = kpi_service.strip(conn, now=now, promise=promise, tz=ZoneInfo(settings.org.timezone))
        for row in rows:
            row["nps"] = round(100.0 * row["nps_net"] / row["nps_answers"], 1) if row["nps_answers"] else None
            counts = promised.get((row["region"], row["tier"]), {}).get("counts", {})
            for key, count in PROMISE_FIELDS.items():
                row[key] = counts.get(count, 0)
            row["promise_onsite_min"] = promise.onsite_min
            row["promise_response_min"] = promise.response_min
            idle = promised.get((row["region"], row["tier"]), {}).get("idle_while_waiting_min_per_technician")
            row["idle_while_waiting_min_per_technician"] = None if idle is None else round(idle, 1)
        return [KpiRow.model_validate(row).model_dump(mode="json") for row in rows]

    return await snapshots_of(app).aget(("kpis", start), await board_version(app), build)


@router.post("/api/board/incidents", response_model=IntakeResult, status_code=status.HTTP_201_CREATED)
def intake(body: IntakeRequest, request: Request, conn: Conn, principal: Staff) -> IntakeResult:
    """A customer called or wrote: same incident, work order, SLA clock and notification as a detected fault."""
    device = repo.intake_device(conn, body.device_id)
    if device is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "device not found")
    at = now_of(request)
    clocks = diag_repo.clocks_for(conn, device["id"], at, body.severity,
                                  service_targets(request.app.state.settings.service))
    assert clocks is not None  # intake_device found it in this transaction
    onsite_due = clocks.onsite_due
    with conn.transaction():
        incident_id = diag_repo.open_incident(
            conn, device_id=device["id"], customer_id=device["customer_id"], fault_mode=body.fault_mode,
            detector="manual", severity=body.severity, status="work_order", summary=body.summary,
            evidence={"reported_by": body.reported_by, "channel": body.source, "taken_by": principal.username},
            opened_at=at, response_due=clocks.response_due, onsite_due=onsite_due, repair_due=clocks.repair_due,
            response_target=clocks.response_target, onsite_target=clocks.onsite_target,
            repair_target=clocks.repair_target)
        if incident_id is None:
            raise HTTPException(status.HTTP_409_CONFLICT, "an incident with this fault is already open on the asset")
        repo.set_incident_source(conn, incident_id, body.source)
        work_order_id = diag_repo.create_work_order(
            conn, incident_id=incident_id, device_id=device["id"], customer_id=device["customer_id"],
            required_skills=body.required_skills, estimated_minutes=body.estimated_minutes, lat=device["lat"],
            lon=device["lon"], created_at=at, onsite_due=onsite_due)
        if work_order_id is None:  # the incident was opened just above: its work order cannot exist already
            raise HTTPException(status.HTTP_409_CONFLICT, "a work order for this incident is already open")
        record_timeline(conn, customer_id=device["customer_id"], device_id=device["id"], at=at,
                        kind="incident_reported",
                        message=Message("summary.reported", {"source": {"key": f"common.source.{body.source}",
                                                                        "text": body.source}, "text": body.summary}),
                        incident_id=incident_id, work_order_id=work_order_id,
                        data={"source": body.source, "reported_by": body.reported_by, "taken_by": principal.username})
        queue_notification(conn, customer_id=device["customer_id"], device_id=device["id"], incident_id=incident_id,
                           at=at, kind="incident_reported", message=Message("notify.reported", {"device": device["name"], "summary": body.summary}))
    conn.commit()  # before the response: the caller may act on the new ids at once
    return IntakeResult(incident_id=incident_id, work_order_id=work_order_id,
                        response_due=clocks.response_due, onsite_due=onsite_due)


@router.post("/api/board/work-orders/{work_order_id}/assign", response_model=AssignResult)
def assign(work_order_id: int, body: AssignRequest, request: Request, conn: Conn, principal: Staff) -> AssignResult:
    """Assign or reassign by hand; the ETA follows the technician's list (after their last active job)."""
    settings = request.app.state.settings.dispatch
    at = now_of(request)
    with conn.transaction():
        wo = repo.assignable_work_order(conn, work_order_id)
        if wo is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "work order not found")
        if wo["status"] not in ("open", "assigned", "en_route"):
            raise HTTPException(status.HTTP_409_CONFLICT, f"work order is {wo['status']}")
        tech = repo.technician_for_assignment(conn, body.technician_id)
        if tech is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "technician not found")
        if tech["state"] == "off":
            raise HTTPException(status.HTTP_409_CONFLICT, "technician is off shift")
        last = repo.technician_last_stop(conn, tech["id"], work_order_id)
        start_at, lat, lon = at, tech["lat"], tech["lon"]
        if last is not None:
            start_at, lat, lon = max(at, last["free_at"]), last["lat"], last["lon"]
        travel = StraightLineProvider(road_factor=settings.road_factor, speed_kmh=settings.speed_kmh)
        legs = travel.matrix([Location(lat, lon), Location(wo["lat"], wo["lon"])], start_at.timestamp())
        eta = start_at + timedelta(seconds=legs[0][1])
        repo.manual_assign(conn, work_order_id, tech["id"], at, eta)
        previous = wo["technician_id"] if wo["technician_id"] != tech["id"] else None
        if previous is not None:
            repo.release_technician_if_idle(conn, previous)
        repo.set_travelling(conn, tech["id"])
        record_timeline(conn, customer_id=wo["customer_id"], device_id=wo["device_id"], at=at,
                        kind="technician_reassigned" if previous else "technician_assigned",
                        message=Message("summary.assignedManual", {"technician": tech["code"],
                                                                   "by": principal.username, "eta": eta}),
                        incident_id=wo["incident_id"], work_order_id=work_order_id,
                        data={"technician_id": tech["id"], "previous_technician_id": previous,
                              "eta": eta.isoformat(), "manual": True})
        queue_notification(conn, customer_id=wo["customer_id"], device_id=wo["device_id"],
                           incident_id=wo["incident_id"], at=at, kind="technician_assigned",
                           message=Message("notify.assignedManual", {"technician": tech.get("name") or tech["code"],
                                                                     "eta": eta}))
    conn.commit()
    return AssignResult(work_order_id=work_order_id, technician_id=tech["id"], eta=eta,
                        previous_technician_id=previous)


@router.get("/api/board/routes", responses={200: {"content": {"application/json": {"schema": {
    "type": "array", "items": {"type": "object"}}}}}, **NOT_MODIFIED})
async def routes(request: Request, _: Staff) -> Response:
    """Every technician's whole planned route in order, pick-ups included, from the current plan.

    ``[{technician_id, technician_code, technician_name, stops: [{seq, kind: "job"|"pickup", work_order_id
    (null for a pick-up), for_work_order_id, eta, start, end, lat, lon, location_name, status, skus}]}]``; a
    job's ``status`` is its work order's ("assigned", "en_route", "on_site") or "planned" for a later stop not yet
    given to the technician; a job's ``parts`` is the phone's list (what to collect and where). A job the
    technician has already been sent to keeps the source chosen then even when a later plan no longer shows its
    pick-up stop (the optimiser keeps committed jobs as they are): ``parts`` still names the depot.

    Every board re-reads this on each live change, and it is the same for all staff: a shared snapshot with
    ETag/304 like ``/api/board`` (same version key; spares-only changes that leave no timeline event show within
    the snapshot's 2 s age bound).
    """
    return await shared_read(request, "routes", route_views)


def route_views(conn: Any) -> list[dict[str, Any]]:
    """``/api/board/routes``' rows (see there), read on ``conn``."""
    out: dict[int, dict[str, Any]] = {}
    stops = plan_repo.route_stops(conn)
    parts = spares_flow.parts_for(conn, sorted({r["work_order_id"] for r in stops if r["kind"] == "job"}))
    for r in stops:
        route = out.setdefault(r["technician_id"], {"technician_id": r["technician_id"],
                                                    "technician_code": r["technician_code"],
                                                    "technician_name": r["technician_name"], "stops": []})
        pickup = r["kind"] == "pickup"
        route["stops"].append({
            "seq": r["seq"], "kind": r["kind"], "work_order_id": None if pickup else r["work_order_id"],
            "for_work_order_id": r["work_order_id"], "eta": r["eta"], "start": r["start_at"], "end": r["end_at"],
            "lat": r["lat"], "lon": r["lon"], "location_name": r["location_name"],
            "stock_location_id": r["stock_location_id"], "skus": r["skus"],
            "status": "pickup" if pickup else ("planned" if r["work_order_status"] == "open"
                                               else r["work_order_status"]),
            "parts": [] if pickup else parts.get(r["work_order_id"], [])})
    return list(out.values())
