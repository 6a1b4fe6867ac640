"""The customer portal: their assets' health, open incidents with the technician's ETA, and the NPS question.

Customers only, and only their own rows: every query is keyed on the token's customer id, and a work order of
another customer answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import FileResponse

from api import repository as repo
from api.auth import Principal, require_roles
from api.deps import Conn
from api.routes.board import now_of
from api.schemas import SurveyRequest
from core.events import record_timeline

router = APIRouter(tags=["portal"])
STATIC = Path(__file__).resolve().parents[1] / "static"
Customer = Annotated[Principal, Depends(require_roles("customer"))]


def _cid(principal: Principal) -> int:
    if principal.customer_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not bound to a customer")
    return int(principal.customer_id)


@router.get("/portal", include_in_schema=False)
def portal_page() -> FileResponse:
    return FileResponse(STATIC / "portal.html")


@router.get("/api/portal/assets")
def assets(conn: Conn, principal: Customer) -> list[dict[str, Any]]:
    return repo.portal_assets(conn, _cid(principal))


@router.get("/api/portal/surveys/pending")
def pending_surveys(conn: Conn, principal: Customer) -> list[dict[str, Any]]:
    return repo.portal_pending_surveys(conn, _cid(principal))


@router.post("/api/portal/surveys", status_code=status.HTTP_201_CREATED)
def answer_survey(body: SurveyRequest, request: Request, conn: Conn, principal: Customer) -> dict[str, Any]:
    """One answer per completed work order of the caller; a second answer is 409, never an overwrite."""
    cid = _cid(principal)
    at = now_of(request)
    with conn.transaction():
        wo = repo.survey_work_order(conn, cid, body.work_order_id)
        if wo is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "work order not found")
        if wo["status"] != "completed":
            raise HTTPException(status.HTTP_409_CONFLICT, "the visit is not completed yet")
        survey_id = repo.insert_survey(conn, customer_id=cid, work_order_id=body.work_order_id, score=body.score,
                                       comment=body.comment, at=at)
        if survey_id is None:
            raise HTTPException(status.HTTP_409_CONFLICT, "already answered")
        record_timeline(conn, customer_id=cid, device_id=wo["device_id"], at=at, kind="survey_answered",
                        summary=f"Customer rated the visit {body.score}/10", work_order_id=body.work_order_id,
                        data={"score": body.score})
    conn.commit()
    return {"id": survey_id, "work_order_id": body.work_order_id, "score": body.score}
