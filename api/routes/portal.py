"""The customer portal: their assets' health, open incidents with the technician's ETA, and the NPS question.

Customers only, and only their own rows: every query is keyed on the token's customer id, and a work order of
another customer answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import FileResponse

from api import repository as repo
from api.auth import Principal, require_roles
from api.deps import Conn, in_pool
from api.routes.board import now_of
from api.schemas import Preference, SurveyRequest, WebhookCreated, WebhookRequest
from core.events import record_timeline
from diagnostics import latest_rul_many
from i18n import Message
from planning.service import asset_contracts

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
async def assets(request: Request, principal: Customer) -> list[dict[str, Any]]:
    """Each asset with its covering contract (tier, coverage hours, warranty) for the card's header."""
    cid = _cid(principal)
    now = now_of(request)

    def load(conn: psycopg.Connection) -> list[dict[str, Any]]:
        rows = repo.portal_assets(conn, cid)
        contracts = asset_contracts(conn, cid, [r["id"] for r in rows], now)
        rul = latest_rul_many(conn, [r["id"] for r in rows])  # remaining life and its interval, per asset (#16)
        return [{**r, "contract": contracts.get(r["id"]), "rul": rul.get(r["id"])} for r in rows]

    return await in_pool(request, load)


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
                        message=Message("summary.rated", {"score": body.score}), work_order_id=body.work_order_id,
                        data={"score": body.score})
    conn.commit()
    return {"id": survey_id, "work_order_id": body.work_order_id, "score": body.score}


@router.get("/api/portal/preferences", response_model=list[Preference])
def preferences(conn: Conn, principal: Customer) -> list[dict[str, Any]]:
    """Only the rows the customer changed; anything absent is on."""
    return repo.portal_preferences(conn, _cid(principal))


@router.put("/api/portal/preferences", response_model=list[Preference])
def set_preference(body: Preference, conn: Conn, principal: Customer) -> list[dict[str, Any]]:
    cid = _cid(principal)
    repo.upsert_preference(conn, cid, body.kind, body.channel, body.enabled)
    conn.commit()
    return repo.portal_preferences(conn, cid)


@router.get("/api/portal/webhooks")
def webhooks(conn: Conn, principal: Customer) -> list[dict[str, Any]]:
    return repo.portal_webhooks(conn, _cid(principal))


def _public_host(url: str) -> bool:
    """Refuse loopback, private and link-local targets given literally, so a customer cannot point the sender at
    services inside our network. (Names resolving to such addresses are the deployment's egress policy's job.)"""
    host = (urlsplit(url).hostname or "").lower()
    if not host or host == "localhost" or host.endswith((".localhost", ".internal")):
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return True
    return ip.is_global


@router.post("/api/portal/webhooks", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED)
def add_webhook(body: WebhookRequest, conn: Conn, principal: Customer) -> WebhookCreated:
    """The signing secret is generated here and shown once; it is never returned by the list."""
    if not _public_host(body.url):
        raise HTTPException(422, "webhook host must be a public address")
    secret = "whsec_" + secrets.token_urlsafe(32)
    webhook_id = repo.insert_webhook(conn, _cid(principal), body.url, secret)
    conn.commit()
    return WebhookCreated(id=webhook_id, url=body.url, secret=secret)


@router.delete("/api/portal/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_webhook(webhook_id: int, conn: Conn, principal: Customer) -> None:
    if not repo.deactivate_webhook(conn, _cid(principal), webhook_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "webhook not found")
    conn.commit()
