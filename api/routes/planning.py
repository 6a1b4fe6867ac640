"""Planning: contracts and entitlements, workload forecast, coverage map and what-ifs, escalation queues.

Thin: each route maps HTTP to a planning service call. Staff see everything; a customer sees their own
contracts; a technician escalates their own jobs; support (tier 2) and engineering (tier 3) see and work
their escalation queues only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse

from api import repository as api_repo
from api.audit import actor_of, client_ip
from api.auth import AnyUser, EscalationDesk, Principal, Staff
from api.deps import Conn
from api.planning_schemas import EscalationRequest, EscalationUpdate, RosterApproval, WhatIfRequest
from api.routes.board import NOT_MODIFIED, STATIC, now_of
from api.snapshot import Body, conditional, shared_body
from planning import escalation, escalation_service, service
from planning import roster as roster_approval
from planning.errors import Forbidden, InvalidEscalation, InvalidPhoto, NotFound, StaleProposal

router = APIRouter(tags=["planning"])


@router.get("/planning", include_in_schema=False)
def planning_page() -> FileResponse:
    return FileResponse(STATIC / "planning.html")


@router.get("/api/planning/work-orders/{work_order_id}/contract")
def work_order_contract(work_order_id: int, conn: Conn, principal: AnyUser) -> dict[str, Any]:
    """The covering contract of a work order and its entitlement (SLA clocks, warranty, what is billable)."""
    view = service.work_order_contract(conn, work_order_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such work order")
    # Technicians see it for their own jobs (the phone view shows what is billable); a customer only their own;
    # support and engineering work from the escalation's evidence (it names the contract), not the customer's terms.
    if principal.role not in ("admin", "dispatcher", "technician", "customer") or (
            principal.role == "customer" and principal.customer_id != view["customer_id"]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such work order")
    if principal.role == "technician" and (principal.technician_id is None or api_repo.tech_job_owner(
            conn, int(principal.technician_id), work_order_id) is None):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such work order")
    return view


@router.get("/api/planning/work-orders")
def open_work_orders(conn: Conn, principal: Staff) -> list[dict[str, Any]]:
    """Every open work order with its covering contract: the board's "which contract covers it" column."""
    return service.open_work_order_contracts(conn)


@router.get("/api/planning/customers/{customer_id}/contracts")
def customer_contracts(customer_id: int, conn: Conn, principal: AnyUser) -> list[dict[str, Any]]:
    if not principal.sees_everything and principal.customer_id != customer_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not your contracts")
    return service.customer_contracts(conn, customer_id)


@router.get("/api/planning/forecast")
def forecast(request: Request, conn: Conn, principal: Staff, back_h: int = Query(24, ge=0, le=168),
             ahead_h: int = Query(24, ge=1, le=168)) -> dict[str, Any]:
    """Incidents per region and hour: forecast with 80/95 % intervals, and the actual count for past hours."""
    return service.forecast_vs_actual(conn, now_of(request), back_h, ahead_h)


def _tz(request: Request) -> str:
    """The organisation's zone: "today" and the roster's operational day are its (setting org.timezone)."""
    return str(request.app.state.settings.org.timezone)


@router.get("/api/planning/load")
def load_today(request: Request, conn: Conn, principal: Staff) -> dict[str, Any]:
    """KPI line for the board and the planning page: incidents so far today vs the forecast for the same hours,
    the day's expected total, and the next operational day's roster shortfall."""
    return {**service.load_today(conn, now_of(request), _tz(request)), "timezone": _tz(request)}


@router.get("/api/planning/roster")
def roster(request: Request, conn: Conn, principal: Staff,
           target: float = Query(0.95, ge=0.5, le=0.999)) -> dict[str, Any]:
    """Technicians and skill mix per region and shift needed for the next operational day, vs rostered."""
    return service.roster_suggestion(conn, now_of(request), _tz(request), target)


@router.get("/api/planning/roster/proposal")
def roster_proposal(request: Request, conn: Conn, principal: Staff) -> dict[str, Any]:
    """The roster suggestion with the technicians it would name per region and shift (``shifts``), the cells it
    cannot fill (``short``) and the shifts already approved for that day (``approved``); times carry the
    organisation's offset, ``timezone`` names it."""
    return roster_approval.proposal(conn, now_of(request), _tz(request))


@router.post("/api/planning/roster/approve")
def roster_approve(body: RosterApproval, request: Request, conn: Conn, principal: Staff) -> dict[str, Any]:
    """Approve the current proposal: its shifts become the named technicians' shifts for that day (dispatch
    plans with them at once), replacing an earlier approval of the day; audited. 409 if the proposal is for
    another day than ``day_start`` (reload), or there is none."""
    try:
        out = roster_approval.approve(conn, now_of(request), _tz(request), body.day_start, actor_of(principal),
                             client_ip=client_ip(request))
    except StaleProposal as e:
        conn.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from None
    conn.commit()
    return out


@router.get("/api/planning/coverage")
def coverage(request: Request, conn: Conn, principal: Staff) -> dict[str, Any]:
    """Sites reachable within 2 h by a qualified technician at each hour; uncovered key accounts flagged."""
    return service.coverage(conn, now_of(request), _tz(request))


@router.post("/api/planning/coverage/what-if")
def coverage_what_if(body: WhatIfRequest, request: Request, conn: Conn, principal: Staff) -> dict[str, Any]:
    """The coverage map with extra technicians or staffed depots, and what they would newly cover."""
    return service.coverage(conn, now_of(request), _tz(request),
                            add_technicians=[t.model_dump() for t in body.add_technicians],
                            add_depots=[d.model_dump() for d in body.add_depots])


@contextmanager
def _domain_errors() -> Iterator[None]:
    try:
        yield
    except NotFound as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(e)) from e
    except Forbidden as e:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(e)) from e
    except (InvalidEscalation, InvalidPhoto) as e:
        code = 422 if isinstance(e, InvalidPhoto) else status.HTTP_409_CONFLICT
        raise HTTPException(code, str(e)) from e


def _linked(view: dict[str, Any]) -> dict[str, Any]:
    """Stored photos as metadata with the URL that serves each (role-checked like the escalation itself)."""
    photos = [p | {"url": f"/api/planning/escalations/{view['id']}/photos/{p['id']}"} if "id" in p else p
              for p in view["evidence"].get("photos", [])]
    return view | {"evidence": view["evidence"] | {"photos": photos}}


def _tid(principal: Principal) -> int | None:
    return int(principal.technician_id) if principal.role == "technician" and principal.technician_id else None


@router.post("/api/planning/work-orders/{work_order_id}/escalate", status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "replay of an escalation_key already used: the first escalation"}})
def escalate(work_order_id: int, body: EscalationRequest, request: Request, response: Response, conn: Conn,
             principal: AnyUser) -> dict[str, Any]:
    """From the phone view: the technician on the job hands it to remote technical support with evidence
    (telemetry window, photos, notes). Dispatchers and admins may escalate any job; support and engineering
    work the escalations they are given, they do not open them. With ``escalation_key`` the call is
    idempotent (the phone's offline queue replays it): a replay answers 200 with the first escalation."""
    if principal.role == "technician" and principal.technician_id is not None:
        own: int | None = int(principal.technician_id)
    elif principal.sees_everything:
        own = None
    else:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "role not allowed")
    with _domain_errors(), conn.transaction():
        view = escalation_service.escalate_work_order(
            conn, work_order_id, raised_by=principal.username, reason=body.reason, notes=body.notes,
            photos=body.photos, telemetry_minutes=body.telemetry_minutes, now=now_of(request), technician_id=own,
            client_key=body.escalation_key)
    if view["duplicate"]:
        response.status_code = status.HTTP_200_OK
    return _linked(view)


@router.get("/api/planning/escalations", responses={200: {"content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": {"type": "object"}}}}}, **NOT_MODIFIED})
async def escalation_queues(request: Request, principal: EscalationDesk, open_only: bool = True) -> Response:
    """The queues of the tiers the caller sees, in response-clock order: remote support (tier 2) for support,
    tiers 2 and 3 for engineering (3 to work, 2 to read), both for dispatchers and admins.

    Every open route board re-reads this on each live change (its escalations KPI), and the answer is the same
    for everyone who sees the same tiers: a shared snapshot with ETag/304 like ``/api/board`` instead of a full
    query through the request gate per board (bench/api_load.py: ~2.3 ms CPU against 0.5 ms for a 304). Clocks
    ("breached", "due soon") are at most the snapshot's 2 s age old; a write in this process rebuilds it at once."""
    body = await escalations_body(request, principal, open_only)
    return conditional(request, body, body.etag)


async def escalations_body(request: Request, principal: Principal, open_only: bool = True) -> Body:
    """The queues of the tiers ``principal`` sees, as the snapshot shared by everyone who sees the same tiers."""
    tiers = escalation.tiers_seen(principal.role)

    def read(conn: Any) -> dict[str, Any]:
        queues = escalation_service.escalation_queues(conn, now_of(request), open_only, tiers)
        for q in queues.values():
            q["items"] = [_linked(v) for v in q["items"]]
        return queues

    return await shared_body(request.app, ("escalations", open_only, tuple(sorted(tiers))), read)


@router.get("/api/planning/escalations/{escalation_id}")
def escalation_detail(escalation_id: int, request: Request, conn: Conn, principal: AnyUser) -> dict[str, Any]:
    """One escalation with its evidence, for a tier that sees it or the technician on the job."""
    with _domain_errors():
        return _linked(escalation_service.escalation_detail(conn, escalation_id, now_of(request), principal.role,
                                                            _tid(principal)))


@router.get("/api/planning/escalations/{escalation_id}/photos/{photo_id}",
            responses={200: {"content": {"image/jpeg": {}}, "description": "the photo"}})
def escalation_photo(escalation_id: int, photo_id: int, conn: Conn, principal: AnyUser) -> Response:
    """A photo of an escalation the caller may see (same check as the escalation; only photo ids its evidence
    lists). Private to the caller's browser cache: photos never change once stored."""
    with _domain_errors():
        media_type, data = escalation_service.escalation_photo(conn, escalation_id, photo_id, principal.role,
                                                               _tid(principal))
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=86400",
                                                          "X-Content-Type-Options": "nosniff",
                                                          "Content-Security-Policy": "default-src 'none'; sandbox"})


@router.post("/api/planning/escalations/{escalation_id}")
def act_on_escalation(escalation_id: int, body: EscalationUpdate, request: Request, conn: Conn,
                      principal: EscalationDesk) -> dict[str, Any]:
    """The tier's desk acknowledges, resolves (with cause/fix for the knowledge base) or escalates: support
    acts on tier 2, engineering on tier 3, dispatchers and admins on both."""
    with _domain_errors(), conn.transaction():
        return _linked(escalation_service.act_on_escalation(
            conn, escalation_id, body.action, by=principal.username, now=now_of(request), role=principal.role,
            resolution=body.resolution, cause=body.cause, fix=body.fix, reason=body.reason))


@router.get("/api/planning/preventive")
def preventive(request: Request, conn: Conn, principal: Staff, days: int = Query(3, ge=1, le=14)) -> dict[str, Any]:
    """Inspections due and RUL-suggested repairs, slotted into low-load hours (windows for the optimiser)."""
    return service.preventive_plan(conn, now_of(request), _tz(request), days)
