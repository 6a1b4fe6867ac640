"""The technician's phone view: today's jobs in route order and the en route / arrived / completed actions.

Actions carry an id generated on the phone. The id is recorded in the same transaction as the state change, so
an action replayed after a dead zone (or sent twice by a flaky network) is answered, not applied again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import FileResponse
from psycopg.types.json import Jsonb

from api import repository as repo
from api.auth import Principal, require_roles
from api.deps import Conn
from api.routes.board import now_of
from api.schemas import TechAction, TechActionResult
from core.events import record_timeline
from dispatch.visits import complete, mark_arrived

router = APIRouter(tags=["technician"])
STATIC = Path(__file__).resolve().parents[1] / "static"
Technician = Annotated[Principal, Depends(require_roles("technician"))]
# A phone may queue actions through a long dead zone; older timestamps are distrusted and replaced by "now".
MAX_OFFLINE = timedelta(hours=12)


@router.get("/tech", include_in_schema=False)
def tech_page() -> FileResponse:
    return FileResponse(STATIC / "tech.html")


@router.get("/tech/sw.js", include_in_schema=False)
def service_worker() -> FileResponse:
    """Served under /tech so its scope covers the page; the header allows the scope without a trailing slash."""
    return FileResponse(STATIC / "tech-sw.js", media_type="text/javascript",
                        headers={"Service-Worker-Allowed": "/tech", "Cache-Control": "no-cache"})


@router.get("/tech/manifest.webmanifest", include_in_schema=False)
def manifest() -> FileResponse:
    return FileResponse(STATIC / "tech.webmanifest", media_type="application/manifest+json")


def _tid(principal: Principal) -> int:
    if principal.technician_id is None:  # the users table forbids it; a forged claim must not widen scope
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not bound to a technician")
    return int(principal.technician_id)


@router.get("/api/tech/jobs")
def jobs(request: Request, conn: Conn, principal: Technician) -> list[dict[str, Any]]:
    """Active jobs by ETA (the route order), then jobs completed in the last day."""
    now = now_of(request)
    rows = repo.tech_jobs(conn, _tid(principal), now - timedelta(days=1))
    for row in rows:
        row["navigate"] = f"geo:{row['lat']:.6f},{row['lon']:.6f}"
        row["maps_url"] = (f"https://www.openstreetmap.org/directions?to={row['lat']:.6f}%2C{row['lon']:.6f}")
    return rows


def _when(sent: datetime | None, now: datetime) -> datetime:
    """When the tap happened: the phone's time if plausible (an offline replay arrives late), else now."""
    if sent is not None and sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    if sent is None or sent > now or now - sent > MAX_OFFLINE:
        return now
    return sent


@router.post("/api/tech/jobs/{work_order_id}/actions", response_model=TechActionResult)
def act(work_order_id: int, body: TechAction, request: Request, conn: Conn,
        principal: Technician) -> TechActionResult:
    tid = _tid(principal)
    now = now_of(request)
    at = _when(body.at, now)
    action_id = str(body.action_id)
    with conn.transaction():
        job = repo.tech_job_owner(conn, tid, work_order_id)
        if job is None:  # someone else's job or none at all: indistinguishable on purpose
            raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found")
        fresh = repo.record_action(conn, action_id=action_id, technician_id=tid, work_order_id=work_order_id,
                                   action=body.action, at=now, parts=Jsonb(body.parts_used))
        if not fresh:
            seen = repo.action_result(conn, action_id)
            if seen is None or seen["technician_id"] != tid or seen["work_order_id"] != work_order_id:
                raise HTTPException(status.HTTP_409_CONFLICT, "action id already used for another job")
            return TechActionResult(action_id=body.action_id, work_order_id=work_order_id, applied=seen["applied"],
                                    duplicate=True, status=job["status"])
        applied = _apply(conn, tid, work_order_id, body, at)
        repo.mark_action_applied(conn, action_id, applied)
        current = repo.tech_job_owner(conn, tid, work_order_id)
    conn.commit()
    return TechActionResult(action_id=body.action_id, work_order_id=work_order_id, applied=applied,
                            duplicate=False, status=current["status"] if current else job["status"])


def _apply(conn: Conn, tid: int, work_order_id: int, body: TechAction, at: datetime) -> bool:
    """Each transition is guarded by status in SQL; a step already taken (e.g. the simulator did it) is a no-op."""
    if body.action == "en_route":
        row = repo.mark_en_route(conn, tid, work_order_id)
        if row is None:
            return False
        record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=at,
                        kind="technician_en_route", summary="Technician on the way",
                        incident_id=row["incident_id"], work_order_id=work_order_id,
                        data={"eta": row["eta"].isoformat() if row["eta"] else None})
        return True
    if body.action == "arrived":
        return mark_arrived(conn, work_order_id, at)
    notes = body.notes or ""
    if body.parts_used:
        notes = (notes + "\n" if notes else "") + "Parts used: " + ", ".join(body.parts_used)
    return complete(conn, work_order_id, at, cause=body.cause, fix=body.fix, notes=notes or None) is not None
