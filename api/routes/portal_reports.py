"""Customers report a problem from the portal (asset, text, optional photo): it joins the same incident queue,
with the covering contract's deadlines, as detected faults and phoned-in reports (administration.reports)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response

from administration import reports, repository
from api.auth import AnyUser, Principal, require_roles
from api.deps import Conn, in_pool
from api.routes.admin import _errors, actor_of
from api.routes.board import now_of

router = APIRouter(tags=["portal"])
Customer = Annotated[Principal, Depends(require_roles("customer"))]


@router.post("/api/portal/problems", status_code=status.HTTP_201_CREATED)
async def report_problem(request: Request, principal: Customer, asset: Annotated[str, Form(max_length=64)],
                         summary: Annotated[str, Form(max_length=2000)],
                         photo: Annotated[UploadFile | None, File()] = None) -> dict[str, Any]:
    if principal.customer_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not bound to a customer")
    picture = None
    if photo is not None and photo.filename:
        picture = (photo.content_type or "", await photo.read(reports.MAX_PHOTO_BYTES + 1))
    actor, at, cid = actor_of(principal, request), now_of(request), int(principal.customer_id)

    def work(conn: Any) -> dict[str, Any]:
        with _errors(), conn.transaction():
            out = reports.report_problem(conn, cid, asset.strip(), summary, picture, actor, at)
        conn.commit()
        return out

    return jsonable_encoder(await in_pool(request, work))


@router.get("/api/incident-photos/{photo_id}")
def incident_photo(photo_id: int, conn: Conn, principal: AnyUser) -> Response:
    """A reported photo: staff see any, a customer only their own (others' answer 404)."""
    if principal.role not in ("admin", "dispatcher", "customer"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "role not allowed")
    row = repository.one(conn, "incident_photo", {
        "id": photo_id, "customer_id": None if principal.sees_everything else principal.customer_id or -1})
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "photo not found")
    return Response(bytes(row["data"]), media_type=row["media_type"],
                    headers={"Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff"})
