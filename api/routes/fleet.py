from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Query, Request, status

from api import repository as repo
from api.auth import AnyUser
from api.deps import Conn, in_pool
from api.schemas import Device, Reading, TimelineEvent, WindowPoint

router = APIRouter(prefix="/api/devices", tags=["devices"])


def _visible_device(conn: Conn, principal: AnyUser, device_id: str) -> dict:
    device = repo.get_device(conn, principal, device_id)
    if device is None:  # 404, not 403: do not reveal that another customer's asset exists
        raise HTTPException(status.HTTP_404_NOT_FOUND, "device not found")
    return device


@router.get("", response_model=list[Device])
async def list_devices(request: Request, principal: AnyUser, limit: int = Query(500, ge=1, le=5000),
                       offset: int = Query(0, ge=0)) -> list[dict]:
    return await in_pool(request, lambda conn: repo.list_devices(conn, principal, limit, offset))


@router.get("/{device_id}", response_model=Device)
async def get_device(device_id: str, request: Request, principal: AnyUser) -> dict:
    return await in_pool(request, lambda conn: _visible_device(conn, principal, device_id))


@router.get("/{device_id}/telemetry/latest", response_model=list[Reading])
async def latest(device_id: str, request: Request, principal: AnyUser) -> list[dict]:
    def work(conn: Conn) -> list[dict]:
        _visible_device(conn, principal, device_id)
        return repo.latest_telemetry(conn, device_id)

    return await in_pool(request, work)


@router.get("/{device_id}/telemetry", response_model=list[WindowPoint])
async def window(device_id: str, request: Request, principal: AnyUser, start: datetime, end: datetime,
                 bucket_s: int = Query(60, ge=1, le=86400)) -> list[dict]:
    start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))  # naive means UTC
    if end <= start or end - start > timedelta(days=31):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "window must be positive and at most 31 days")

    def work(conn: Conn) -> list[dict]:
        _visible_device(conn, principal, device_id)
        return repo.telemetry_window(conn, device_id, start, end, timedelta(seconds=bucket_s))

    return await in_pool(request, work)


@router.get("/{device_id}/timeline", response_model=list[TimelineEvent])
async def timeline(device_id: str, request: Request, principal: AnyUser,
                   limit: int = Query(200, ge=1, le=2000)) -> list[dict]:
    def work(conn: Conn) -> list[dict]:
        _visible_device(conn, principal, device_id)
        return repo.device_timeline(conn, device_id, limit)

    return await in_pool(request, work)
