"""Cancel, reschedule, hold and resume a work order (issue #15 item 3; the domain is dispatch/lifecycle.py).

Roles: dispatchers and admins take every step; a technician may put their OWN job on "awaiting parts" (the
phone's button) and nothing else: another technician's job answers 404, as on every technician route. Each step
writes its own audit row with the reason (dispatch.lifecycle, in the step's transaction), so these routes are
listed in api.audit.EXPLICIT. Answers: 200 with ``changed`` (false: a repeated request found the job already
there and wrote nothing), 404 unknown job, 409 the job's status does not allow the step (``detail`` says why),
422 bad input (``detail: [{field, reason}]``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from api.audit import actor_of
from api.auth import Principal, Staff, require_roles
from api.deps import Conn
from api.routes.board import now_of
from api.routes.technician import tap_time  # the phone's tap time, as its job steps use
from dispatch import lifecycle
from dispatch.models import LifecycleOutcome

router = APIRouter(tags=["work-order lifecycle"])
StaffOrTechnician = Annotated[Principal, Depends(require_roles("admin", "dispatcher", "technician"))]
# The paths whose audit rows the steps write themselves (api/audit.py EXPLICIT).
PATHS = ("/api/work-orders/{work_order_id}/cancel", "/api/work-orders/{work_order_id}/reschedule",
         "/api/work-orders/{work_order_id}/hold", "/api/work-orders/{work_order_id}/resume")


class CancelRequest(BaseModel):
    reason: str = Field(max_length=64, description="A code from GET /api/work-orders/cancel-reasons.")
    note: str | None = Field(None, max_length=lifecycle.MAX_NOTE)


class RescheduleRequest(BaseModel):
    earliest_start: datetime = Field(description="The customer's window opens (ISO 8601 with zone).")
    latest_start: datetime = Field(description="Latest service start the customer accepts.")
    note: str | None = Field(None, max_length=lifecycle.MAX_NOTE)


class HoldRequest(BaseModel):
    kind: Literal["on_hold", "awaiting_parts"]
    note: str | None = Field(None, max_length=lifecycle.MAX_NOTE)
    request_id: UUID | None = Field(None, description="The phone's id for this tap (offline replay): a request "
                                                      "with an id already seen changes nothing.")
    at: datetime | None = Field(None, description="When the tap happened (a replay arrives late); used when "
                                                  "plausible (not ahead of the server, within the offline limit).")


class LifecycleResult(BaseModel):
    work_order_id: int
    action: str
    changed: bool
    status: str
    incident_closed: bool = False
    requeued_work_order_id: int | None = None
    hold_kind: str | None = None
    sla_paused: bool = False
    paused_s: float = 0.0
    onsite_due: datetime | None = None


class CancelReason(BaseModel):
    code: str
    label: str
    closes_incident: bool


@contextmanager
def _answers() -> Iterator[None]:
    """Domain outcomes to HTTP: not found 404, not allowed from this status 409, bad input 422."""
    try:
        yield
    except lifecycle.LifecycleNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "work order not found") from None
    except lifecycle.LifecycleConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, {"reason": exc.reason, "status": exc.status}) from None
    except lifecycle.LifecycleInvalid as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            [{"field": exc.field, "reason": exc.reason}]) from None


def _step(conn: Conn, step: Callable[[], LifecycleOutcome]) -> LifecycleResult:
    with _answers(), conn.transaction():
        outcome = step()
    conn.commit()
    return LifecycleResult(**outcome.__dict__)


@router.get("/api/work-orders/cancel-reasons", response_model=list[CancelReason])
def cancel_reasons(conn: Conn, principal: Staff) -> list[dict[str, Any]]:
    """The reasons a dispatcher picks from, with the incident's fate for each (closed, or re-queued)."""
    return lifecycle.cancel_reasons(conn)


@router.post("/api/work-orders/{work_order_id}/cancel", response_model=LifecycleResult)
def cancel(work_order_id: int, body: CancelRequest, request: Request, conn: Conn,
           principal: Staff) -> LifecycleResult:
    return _step(conn, lambda: lifecycle.cancel(conn, work_order_id, reason=body.reason, note=body.note,
                                                actor=actor_of(principal), at=now_of(request)))


@router.post("/api/work-orders/{work_order_id}/reschedule", response_model=LifecycleResult)
def reschedule(work_order_id: int, body: RescheduleRequest, request: Request, conn: Conn,
               principal: Staff) -> LifecycleResult:
    return _step(conn, lambda: lifecycle.reschedule(
        conn, work_order_id, earliest=body.earliest_start, latest=body.latest_start, note=body.note,
        actor=actor_of(principal), at=now_of(request)))


@router.post("/api/work-orders/{work_order_id}/hold", response_model=LifecycleResult)
def hold(work_order_id: int, body: HoldRequest, request: Request, conn: Conn,
         principal: StaffOrTechnician) -> LifecycleResult:
    """Staff: either kind on any job. A technician: 'awaiting_parts' on their own assigned or en-route job."""
    tid: int | None = None
    if principal.role == "technician":
        if principal.technician_id is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "not bound to a technician")
        if body.kind != "awaiting_parts":
            raise HTTPException(status.HTTP_403_FORBIDDEN, "a technician may only mark their job awaiting parts")
        tid = int(principal.technician_id)
    return _step(conn, lambda: lifecycle.hold(conn, work_order_id, kind=body.kind, note=body.note,
                                              actor=actor_of(principal), at=tap_time(body.at, now_of(request)),
                                              technician_id=tid, request_id=body.request_id))


@router.post("/api/work-orders/{work_order_id}/resume", response_model=LifecycleResult)
def resume(work_order_id: int, request: Request, conn: Conn, principal: Staff) -> LifecycleResult:
    return _step(conn, lambda: lifecycle.resume(conn, work_order_id, actor=actor_of(principal),
                                                at=now_of(request)))
