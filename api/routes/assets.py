"""Asset detail with its remaining useful life, and the fleet's predicted failures.

Scoped like every asset route (api.repository.get_device): staff see every asset, a customer only their own, a
technician the assets of their jobs; an asset out of scope answers 404 exactly like one that does not exist.
The estimates come from the diagnose loop (diagnostics/rul.py: trend of a wear signal extrapolated to its
failure threshold, with an interval); the fleet list reads the ``predicted_failures`` view.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel

from api import repository as api_repo
from api.auth import AnyUser
from api.deps import Conn
from api.routes.board import now_of
from api.schemas import TimelineEvent
from diagnostics import repository as repo
from planning.service import asset_contracts

router = APIRouter(tags=["diagnostics"])


class Rul(BaseModel):
    estimated_at: datetime
    status: str  # learning | healthy | degrading | at_limit
    signal: str | None = None
    direction: str | None = None
    level: float | None = None
    threshold: float | None = None
    slope_per_h: float | None = None
    rul_s: float | None = None
    rul_low_s: float | None = None
    rul_high_s: float | None = None  # null with a rul_s: the upper bound lies beyond the horizon
    failure_at: datetime | None = None
    failure_earliest_at: datetime | None = None
    failure_latest_at: datetime | None = None
    fault_mode: str | None = None
    method: str = "trend"
    signals: list[dict[str, Any]] = []


class RulPoint(BaseModel):
    estimated_at: datetime
    status: str
    signal: str | None = None
    rul_s: float | None = None
    rul_low_s: float | None = None
    rul_high_s: float | None = None
    failure_at: datetime | None = None


class AssetRul(BaseModel):
    device_id: str
    latest: Rul | None
    history: list[RulPoint]


class AssetContract(BaseModel):
    code: str
    name: str
    sla_tier: str
    coverage: str  # e.g. "Mon-Fri 07:00-19:00", "24x7"
    device_id: str | None = None  # set: an asset-level contract (warranty, add-on cover)
    starts_on: date
    ends_on: date | None = None
    warranty_until: date | None = None
    under_warranty: bool = False
    labour_included: bool
    parts_included: bool
    next_inspection: date | None = None


class TeamMember(BaseModel):
    id: int
    code: str
    name: str
    active: bool  # on a live job at this asset now
    last_visit: datetime | None = None


class OpenIncident(BaseModel):
    """An open incident on the asset (a detector's suspicion or a reported problem): shown beside the RUL,
    which is a separate estimate and can see no failure coming while a detector already suspects one."""

    id: int
    fault_mode: str
    source: str
    detector: str
    status: str
    opened_at: datetime


class Asset(BaseModel):
    id: str
    customer_id: int
    equipment_type: str
    name: str
    region: str
    lat: float
    lon: float
    online: bool
    last_seen: datetime | None = None
    rul: Rul | None = None
    customer_name: str | None = None
    customer_tier: str | None = None
    contract: AssetContract | None = None  # covering contract now; null = time and materials
    team: list[TeamMember] = []
    open_incidents: list[OpenIncident] = []


class AssetTimeline(BaseModel):
    asset: Asset
    events: list[TimelineEvent]


class PredictedFailure(BaseModel):
    device_id: str
    customer_id: int
    equipment_type: str
    device_name: str
    estimated_at: datetime
    status: str
    signal: str | None
    fault_mode: str | None
    rul_s: float | None
    failure_at: datetime | None
    failure_earliest_at: datetime | None
    failure_latest_at: datetime | None
    likely_parts: list[dict[str, Any]]
    skills: list[str]
    repair_minutes: int
    open_incident_id: int | None


def _visible(conn: Conn, principal: AnyUser, device_id: str) -> dict[str, Any]:
    device = api_repo.get_device(conn, principal, device_id)
    if device is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "device not found")
    return device


def _asset(conn: Conn, principal: AnyUser, device_id: str, at: datetime) -> dict[str, Any]:
    device = _visible(conn, principal, device_id)
    people = api_repo.asset_people(conn, device_id) or {}
    contract = asset_contracts(conn, int(device["customer_id"]), [device_id], at)[device_id]
    return {**device, "rul": repo.latest_rul(conn, device_id), "customer_name": people.get("customer_name"),
            "customer_tier": people.get("customer_tier"), "contract": contract, "team": people.get("team", []),
            "open_incidents": api_repo.asset_open_incidents(conn, device_id)}


@router.get("/api/assets/{device_id}", response_model=Asset)
def asset(device_id: str, request: Request, conn: Conn, principal: AnyUser) -> dict[str, Any]:
    """The asset with its product (equipment type), customer, covering contract (tier, coverage hours,
    warranty), the technicians who look after it, its latest remaining-useful-life estimate, and its open
    incidents (so a page never shows "no failure in sight" without saying a fault is suspected)."""
    return _asset(conn, principal, device_id, now_of(request))


@router.get("/api/assets/{device_id}/timeline", response_model=AssetTimeline)
def asset_timeline(device_id: str, request: Request, conn: Conn, principal: AnyUser,
                   limit: int = Query(200, ge=1, le=2000)) -> dict[str, Any]:
    """The asset's timeline with its header: customer, team, contract and product together."""
    header = _asset(conn, principal, device_id, now_of(request))
    return {"asset": header, "events": api_repo.device_timeline(conn, device_id, limit)}


@router.get("/api/assets/{device_id}/rul", response_model=AssetRul)
def asset_rul(device_id: str, request: Request, conn: Conn, principal: AnyUser,
              hours: float = Query(24.0, gt=0, le=24 * 31)) -> dict[str, Any]:
    """Latest estimate plus the last ``hours`` of estimates (how the prediction converged)."""
    _visible(conn, principal, device_id)
    since = now_of(request) - timedelta(hours=hours)
    return {"device_id": device_id, "latest": repo.latest_rul(conn, device_id),
            "history": repo.rul_history(conn, device_id, since)}


@router.get("/api/predicted-failures", response_model=list[PredictedFailure])
def predicted_failures(request: Request, conn: Conn, principal: AnyUser,
                       within_h: float | None = Query(None, gt=0, le=24 * 31)) -> list[dict[str, Any]]:
    """Assets whose latest estimate predicts a failure, soonest first; a customer sees only their own."""
    if principal.role == "technician":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not available to technicians")
    before = now_of(request) + timedelta(hours=within_h) if within_h is not None else None
    cid = None if principal.sees_everything else principal.customer_id
    if not principal.sees_everything and cid is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not bound to a customer")
    return repo.predicted_failures(conn, before=before, customer_id=cid)
