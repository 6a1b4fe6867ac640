"""The optimiser's plan and the dispatcher's controls over it: pin a job to a technician, lock it, release it.

Controls only record the dispatcher's decision on the work order (plus a timeline event for the audit trail);
the dispatch loop sees the change through its change cursor and the next re-plan respects it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.auth import AnyUser, Staff
from api.deps import Conn
from api.routes.board import JSON_OBJECT, NOT_MODIFIED, now_of
from api.snapshot import Body, board_version, conditional, shared_pool, snapshots_of
from core.events import record_timeline
from dispatch import repository as plans
from i18n import Message

router = APIRouter(tags=["plans"])


class PinRequest(BaseModel):
    technician_id: int


class ControlResult(BaseModel):
    work_order_id: int
    status: str
    action: str
    technician_id: int | None = None


@router.get("/api/plans/current", responses={200: {"description": "The current plan: `{id, created_at, trigger, "
                                                 "planner, routes: [...], dropped: [...]}`; for staff with an "
                                                 "ETag (304 on `If-None-Match`).", **JSON_OBJECT},
                                             **NOT_MODIFIED, 404: {"description": "No plan yet."}})
async def current(request: Request, principal: AnyUser) -> Any:
    """Staff see every technician's route and the dropped jobs with reasons; a technician sees their own route.

    ``async``: staff are answered from the shared snapshot without a request connection (api/snapshot.py), with
    its ETag (a board re-reading an unchanged plan gets a 304); a technician's own route is one query on the
    thread pool."""
    if principal.sees_everything:
        scope: int | None = None
    elif principal.role == "technician" and principal.technician_id is not None:
        scope = int(principal.technician_id)
    else:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "role not allowed")
    app = request.app

    def view_of(scope: int | None) -> Any:
        # Staff: a snapshot build, on the shared reads' pool; a technician's own route: the main pool.
        with (app.state.pool if scope is not None else shared_pool(app)).connection() as conn:
            return plans.plan_view(conn, scope)

    if scope is None:  # staff share one snapshot per data version (api/snapshot.py)
        body = await staff_plan_body(app)
        if body == b"null":
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no plan yet")
        return conditional(request, body, body.etag)
    view = await run_in_threadpool(view_of, scope)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no plan yet")
    return view


def _audit(conn: Conn, request: Request, row: dict[str, Any], kind: str, summary: Message,
           data: dict[str, Any]) -> None:
    """``summary`` as a catalogue message: the timeline shows it in the reader's language (migration 0821)."""
    record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=now_of(request),
                    kind=kind, message=summary, incident_id=row["incident_id"], work_order_id=row["id"], data=data)


@router.post("/api/work-orders/{work_order_id}/pin", response_model=ControlResult)
def pin(work_order_id: int, body: PinRequest, request: Request, conn: Conn, principal: Staff) -> ControlResult:
    with conn.transaction():
        tech = plans.technician(conn, body.technician_id)
        if tech is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "technician not found")
        row = plans.pin(conn, work_order_id, body.technician_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "active work order not found")
        if row["status"] in ("en_route", "on_site") and row["technician_id"] != body.technician_id:
            # Raising rolls the pin back: a technician who set off is never replaced by the planner.
            raise HTTPException(status.HTTP_409_CONFLICT, f"work order is {row['status']} with another technician")
        _audit(conn, request, row, "dispatch_pinned",
               Message("summary.pinned", {"technician": tech["code"], "by": principal.username}),
               {"technician_id": body.technician_id, "by": principal.username})
    conn.commit()
    return ControlResult(work_order_id=work_order_id, status=row["status"], action="pinned",
                         technician_id=body.technician_id)


def _control(work_order_id: int, request: Request, conn: Conn, apply: Callable[..., dict | None], kind: str,
             summary: Message, action: str, by: str) -> ControlResult:
    """Lock and release share one shape: change the order, audit it on the timeline, report the result."""
    with conn.transaction():
        row = apply(conn, work_order_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "active work order not found")
        _audit(conn, request, row, kind, summary, {"by": by})
    conn.commit()
    return ControlResult(work_order_id=work_order_id, status=row["status"], action=action,
                         technician_id=row["technician_id"])


@router.post("/api/work-orders/{work_order_id}/lock", response_model=ControlResult)
def lock(work_order_id: int, request: Request, conn: Conn, principal: Staff) -> ControlResult:
    return _control(work_order_id, request, conn, plans.lock, "dispatch_locked",
                    Message("summary.locked", {"by": principal.username}), "locked", principal.username)


@router.post("/api/work-orders/{work_order_id}/release", response_model=ControlResult)
def release(work_order_id: int, request: Request, conn: Conn, principal: Staff) -> ControlResult:
    return _control(work_order_id, request, conn, plans.release, "dispatch_released",
                    Message("summary.released", {"by": principal.username}), "released", principal.username)


async def staff_plan_body(app: Any) -> Body:
    """The current plan as staff see it (every route, the dropped jobs), shared per board version; ``null``
    before the first plan."""

    def build() -> Any:
        with shared_pool(app).connection() as conn:
            return plans.plan_view(conn, None)

    return await snapshots_of(app).aget("plan", await board_version(app), build)
