from __future__ import annotations

from fastapi import APIRouter, Query, Request

from api import repository as repo
from api.auth import AnyUser
from api.deps import in_pool
from api.schemas import Incident, Technician, WorkOrder

router = APIRouter(prefix="/api", tags=["service"])


@router.get("/incidents", response_model=list[Incident])
async def incidents(request: Request, principal: AnyUser, open_only: bool = False,
                    limit: int = Query(500, ge=1, le=5000), offset: int = Query(0, ge=0)) -> list[dict]:
    return await in_pool(request, lambda conn: repo.list_incidents(conn, principal, open_only, limit, offset))


@router.get("/work-orders", response_model=list[WorkOrder])
async def work_orders(request: Request, principal: AnyUser, limit: int = Query(500, ge=1, le=5000),
                      offset: int = Query(0, ge=0)) -> list[dict]:
    return await in_pool(request, lambda conn: repo.list_work_orders(conn, principal, limit, offset))


@router.get("/technicians", response_model=list[Technician])
async def technicians(request: Request, principal: AnyUser) -> list[dict]:
    return await in_pool(request, lambda conn: repo.list_technicians(conn, principal))
