from __future__ import annotations

from fastapi import APIRouter, Query

from api import repository as repo
from api.auth import AnyUser
from api.deps import Conn
from api.schemas import Incident, Technician, WorkOrder

router = APIRouter(prefix="/api", tags=["service"])


@router.get("/incidents", response_model=list[Incident])
def incidents(conn: Conn, principal: AnyUser, open_only: bool = False, limit: int = Query(500, ge=1, le=5000),
              offset: int = Query(0, ge=0)) -> list[dict]:
    return repo.list_incidents(conn, principal, open_only, limit, offset)


@router.get("/work-orders", response_model=list[WorkOrder])
def work_orders(conn: Conn, principal: AnyUser, limit: int = Query(500, ge=1, le=5000),
                offset: int = Query(0, ge=0)) -> list[dict]:
    return repo.list_work_orders(conn, principal, limit, offset)


@router.get("/technicians", response_model=list[Technician])
def technicians(conn: Conn, principal: AnyUser) -> list[dict]:
    return repo.list_technicians(conn, principal)
