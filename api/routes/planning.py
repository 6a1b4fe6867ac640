"""Planning: contracts and entitlements, workload forecast, coverage map and what-ifs, escalation queues.

Thin: each route maps HTTP to a planning service call. Staff see everything; a customer sees their own
contracts; a technician escalates their own jobs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import FileResponse

from api import repository as api_repo
from api.auth import AnyUser, Staff
from api.deps import Conn
from api.planning_schemas import EscalationRequest, EscalationUpdate, WhatIfRequest
from api.routes.board import STATIC, now_of
from planning import escalation_service, service
from planning.errors import InvalidEscalation, NotFound

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
    # Technicians see it for their own jobs (the phone view shows what is billable); a customer only their own.
    if principal.role == "customer" and principal.customer_id != view["customer_id"]:
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
    return str(request.app.state.settings.dispatch.timezone)


@router.get("/api/planning/roster")
def roster(request: Request, conn: Conn, principal: Staff,
           target: float = Query(0.95, ge=0.5, le=0.999)) -> dict[str, Any]:
    """Technicians and skill mix per region and shift needed for the next operational day, vs rostered."""
    return service.roster_suggestion(conn, now_of(request), _tz(request), target)


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
    except InvalidEscalation as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from e


@router.post("/api/planning/work-orders/{work_order_id}/escalate", status_code=status.HTTP_201_CREATED)
def escalate(work_order_id: int, body: EscalationRequest, request: Request, conn: Conn,
             principal: AnyUser) -> dict[str, Any]:
    """From the phone view: the technician on the job hands it to remote technical support with evidence
    (telemetry window, photos, notes). Staff may escalate any job."""
    if principal.role == "technician" and principal.technician_id is not None:
        own: int | None = int(principal.technician_id)
    elif principal.sees_everything:
        own = None
    else:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "role not allowed")
    with _domain_errors(), conn.transaction():
        return escalation_service.escalate_work_order(
            conn, work_order_id, raised_by=principal.username, reason=body.reason, notes=body.notes,
            photos=body.photos, telemetry_minutes=body.telemetry_minutes, now=now_of(request), technician_id=own)


@router.get("/api/planning/escalations")
def escalation_queues(request: Request, conn: Conn, principal: Staff, open_only: bool = True) -> dict[str, Any]:
    """Remote support (tier 2) and engineering (tier 3) queues in response-clock order."""
    return escalation_service.escalation_queues(conn, now_of(request), open_only)


@router.get("/api/planning/escalations/{escalation_id}")
def escalation_detail(escalation_id: int, request: Request, conn: Conn, principal: AnyUser) -> dict[str, Any]:
    with _domain_errors():
        view = escalation_service.escalation_detail(conn, escalation_id, now_of(request))
    if not principal.sees_everything and not (principal.role == "technician"
                                              and principal.technician_id == view["technician_id"]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"escalation {escalation_id}")
    return view


@router.post("/api/planning/escalations/{escalation_id}")
def act_on_escalation(escalation_id: int, body: EscalationUpdate, request: Request, conn: Conn,
                      principal: Staff) -> dict[str, Any]:
    """Support or engineering acknowledges, resolves (with cause/fix for the knowledge base) or escalates."""
    with _domain_errors(), conn.transaction():
        return escalation_service.act_on_escalation(
            conn, escalation_id, body.action, by=principal.username, now=now_of(request),
            resolution=body.resolution, cause=body.cause, fix=body.fix, reason=body.reason)


@router.get("/api/planning/preventive")
def preventive(request: Request, conn: Conn, principal: Staff, days: int = Query(3, ge=1, le=14)) -> dict[str, Any]:
    """Inspections due and RUL-suggested repairs, slotted into low-load hours (windows for the optimiser)."""
    return service.preventive_plan(conn, now_of(request), _tz(request), days)
