"""Replenishment orders over HTTP and the spares page (issue #16 item 4): propose from the current advice, approve
or reject, receive into the ledger. Thin: each route is one ``spares.orders`` call in one transaction, audited
there (spares.order.*) and by the write middleware. Dispatchers and admins only; everyone else gets 403.
Errors: an order in the wrong state or a source without the units -> 409, a bad quantity -> 422, unknown -> 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api.audit import actor_of
from api.auth import Staff
from api.deps import Conn
from api.routes.board import STATIC, now_of
from api.routes.spares import _errors
from spares import orders as flow

router = APIRouter(tags=["spares"])
OrderStatus = Literal["proposed", "approved", "rejected", "received"]


class ReceiveIn(BaseModel):
    """Goods in for an approved order; ``qty`` defaults to the ordered quantity (a purchase may arrive short)."""
    qty: int | None = Field(None, gt=0, le=100_000)


@router.get("/spares", include_in_schema=False)
def spares_page() -> FileResponse:
    return FileResponse(STATIC / "spares.html")


@router.get("/api/spares/orders")
def list_orders(conn: Conn, _: Staff, status_: Annotated[OrderStatus | None, Query(alias="status")] = None,
                limit: Annotated[int, Query(ge=1, le=2000)] = 500) -> list[dict[str, Any]]:
    """Purchase orders and transfers, open ones first."""
    return flow.orders(conn, status_, limit)


@router.post("/api/spares/orders/propose", status_code=status.HTTP_201_CREATED)
def propose(request: Request, conn: Conn, principal: Staff) -> dict[str, Any]:
    """Turn today's replenishment advice into proposed orders (an open order for the same route and part is not
    proposed again)."""
    with conn.transaction(), _errors():
        created = flow.propose(conn, now_of(request).timestamp(), actor_of(principal),
                               request.app.state.settings.spares)
    conn.commit()
    return {"created": created}


def _decide(request: Request, conn: Conn, principal: Staff, order_id: int, approve: bool) -> dict[str, Any]:
    with conn.transaction(), _errors():
        out = flow.decide(conn, order_id, approve, now_of(request).timestamp(), actor_of(principal),
                          request.app.state.settings.spares)
    conn.commit()
    return out


@router.post("/api/spares/orders/{order_id}/approve")
def approve(order_id: int, request: Request, conn: Conn, principal: Staff) -> dict[str, Any]:
    """Approve: a purchase is placed with the supplier; a transfer's shipment is picked (stock leaves its source)."""
    return _decide(request, conn, principal, order_id, True)


@router.post("/api/spares/orders/{order_id}/reject")
def reject(order_id: int, request: Request, conn: Conn, principal: Staff) -> dict[str, Any]:
    return _decide(request, conn, principal, order_id, False)


@router.post("/api/spares/orders/{order_id}/receive")
def receive(order_id: int, request: Request, conn: Conn, principal: Staff,
            body: ReceiveIn | None = None) -> dict[str, Any]:
    """Goods in: a receipt in the ledger (purchase) or the transfer's shipment delivered."""
    with conn.transaction(), _errors():
        out = flow.receive(conn, order_id, now_of(request).timestamp(), actor_of(principal),
                           body.qty if body else None)
    conn.commit()
    return out
