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
from api.deps import Conn, in_pool
from api.routes import tech_steps
from api.routes.board import now_of
from api.schemas import TechAction, TechActionResult
from core import audit
from core.events import record_timeline
from dispatch import repository as plan_repo
from dispatch.parts_return import report_unused
from dispatch.visits import complete, complete_unfixed, mark_arrived
from i18n import Message
from planning import escalation_service
from planning import service as planning_service
from spares import service as spares_flow
from spares.allocation import parse_parts_used

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
async def jobs(request: Request, principal: Technician) -> list[dict[str, Any]]:
    """Today's jobs in route order with ETAs, then jobs completed in the last day.

    Route order is the current plan's: the job the technician was sent to ("assigned", "en_route", "on_site")
    and the later stops of their route, which stay "planned" (the work order is still open; it becomes assigned,
    with a customer notification, when it is next). Jobs assigned by hand that the plan does not hold follow by
    ETA. Each job carries ``seq`` (position on the route, null off-route), ``eta``, ``parts: [{sku, qty,
    source_kind: "van"|"depot"|"courier", location_name, lat, lon, status}]``: what to collect and where
    (``spares.service.parts_for``), and ``escalations: [{id, tier, tier_name, status, reason, respond_due,
    clock, resolution, fix, ...}]`` in the order they were raised (``planning.escalation_service``).
    """
    now = now_of(request)
    tid = _tid(principal)
    return await in_pool(request, lambda conn: _jobs(conn, tid, now))


def _jobs(conn: Conn, tid: int, now: datetime) -> list[dict[str, Any]]:
    rows = repo.tech_jobs(conn, tid, now - timedelta(days=1))
    stops = [s for s in plan_repo.route_stops(conn, tid) if s["kind"] == "job"]
    seq = {s["work_order_id"]: i for i, s in enumerate(stops)}
    planned_eta = {s["work_order_id"]: s["eta"] for s in stops}
    mine = {r["id"] for r in rows}
    later = plan_repo.route_jobs(conn, [i for i in seq if i not in mine])
    for row in later.values():
        if row["status"] == "open":  # a later stop of this technician's route, not yet given to them
            row["status"], row["eta"] = "planned", planned_eta[row["id"]]
            rows.append(row)
    done = [r for r in rows if r["status"] == "completed"]
    active = sorted((r for r in rows if r["status"] != "completed"),
                    key=lambda r: (0, seq[r["id"]], 0.0) if r["id"] in seq
                    else (1, 0, r["eta"].timestamp() if r["eta"] else float("inf")))
    rows = active + done
    parts = spares_flow.parts_for(conn, [r["id"] for r in rows])
    escalations = escalation_service.job_escalations(conn, [r["id"] for r in rows], now)
    for row in rows:
        row["escalations"] = escalations.get(row["id"], [])
        row["seq"] = seq.get(row["id"])
        row["planned_eta"] = planned_eta.get(row["id"])
        row["parts"] = parts.get(row["id"], [])
        row["navigate"] = f"geo:{row['lat']:.6f},{row['lon']:.6f}"
        row["maps_url"] = (f"https://www.openstreetmap.org/directions?to={row['lat']:.6f}%2C{row['lon']:.6f}")
    tech_steps.enrich_jobs(conn, rows, now)
    return rows


def tap_time(sent: datetime | None, now: datetime) -> datetime:
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
    at = tap_time(body.at, now)
    action_id = str(body.action_id)
    with conn.transaction():
        job = repo.tech_job_owner(conn, tid, work_order_id)
        if job is None:  # someone else's job or none at all: indistinguishable on purpose
            raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found")
        if body.action in ("completed", "not_fixed"):
            tech_steps.check_completion(conn, work_order_id, body)  # 422 before anything is written
        fresh = repo.record_action(conn, action_id=action_id, technician_id=tid, work_order_id=work_order_id,
                                   action=body.action, at=now, parts=Jsonb(body.parts_used))
        if not fresh:
            seen = repo.action_result(conn, action_id)
            if seen is None or seen["technician_id"] != tid or seen["work_order_id"] != work_order_id:
                raise HTTPException(status.HTTP_409_CONFLICT, "action id already used for another job")
            return TechActionResult(action_id=body.action_id, work_order_id=work_order_id, applied=seen["applied"],
                                    duplicate=True, status=job["status"])
        actor = audit.Actor(principal.username, principal.user_id, principal.role)
        applied = _apply(conn, tid, work_order_id, body, at, actor)
        # each step in the audit log with the business action, beside the API's generic row (not_fixed, signoff
        # and return_parts write their own, with their details, in dispatch/)
        if applied and body.action in ("en_route", "arrived", "completed"):
            audit.record(conn, actor, f"work_order.{body.action}", "work_order", str(work_order_id),
                         {"action_id": action_id, "fix_code": body.fix_code, "fault_mode": body.fault_mode}
                         if body.action == "completed" else {"action_id": action_id}, at=at)
        repo.mark_action_applied(conn, action_id, applied)
        current = repo.tech_job_owner(conn, tid, work_order_id)
    conn.commit()
    return TechActionResult(action_id=body.action_id, work_order_id=work_order_id, applied=applied,
                            duplicate=False, status=current["status"] if current else job["status"])


def _apply(conn: Conn, tid: int, work_order_id: int, body: TechAction, at: datetime, actor: audit.Actor) -> bool:
    """Each transition is guarded by status in SQL; a step already taken (e.g. the simulator did it) is a no-op."""
    if body.action == "signoff":
        return tech_steps.sign_off(conn, tid, work_order_id, body, at, actor)
    if body.action == "return_parts":
        return tech_steps.return_parts(conn, tid, work_order_id, body, at, actor)
    if body.action == "en_route":
        row = repo.mark_en_route(conn, tid, work_order_id, at)
        if row is None:
            return False
        record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=at,
                        kind="technician_en_route", message=Message("summary.enRoute"),
                        incident_id=row["incident_id"], work_order_id=work_order_id,
                        data={"eta": row["eta"].isoformat() if row["eta"] else None})
        return True
    if body.action == "arrived":
        return mark_arrived(conn, work_order_id, at)
    if body.action == "not_fixed":  # the visit ends unfixed; the return visit goes back to dispatch
        return complete_unfixed(conn, work_order_id, at, outcome=body.outcome or "not_fixed", actor=actor.name,
                                cause=body.cause, notes=body.notes, fault_mode=body.fault_mode) is not None
    notes = body.notes or ""
    if body.parts_used:
        notes = (notes + "\n" if notes else "") + "Parts used: " + ", ".join(body.parts_used)
    # Parts: the lines the technician typed ("BRG-6204", "BRG-6204 x2"); none reported = as planned.
    used = parse_parts_used(body.parts_used) or None
    if complete(conn, work_order_id, at, cause=body.cause, fix=body.fix, notes=notes or None,
                parts_used=used, fix_code=body.fix_code, fault_mode=body.fault_mode) is None:
        return False
    report_unused(conn, work_order_id, at, actor)  # what went back into the van: timeline + audit
    # A preventive repair of a predicted failure resolves the prediction now, not at the next planning run, so
    # spares stop reserving for it (a no-op for every other job).
    planning_service.resolve_predictions(conn, work_order_id)
    return True
