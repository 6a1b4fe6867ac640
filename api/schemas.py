"""HTTP request/response schemas (the API's contract; domain packages never see these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str


class Device(BaseModel):
    id: str
    customer_id: int
    equipment_type: str
    name: str
    region: str
    lat: float
    lon: float
    online: bool
    last_seen: datetime | None


class Reading(BaseModel):
    signal: str
    ts: datetime
    value: float


class WindowPoint(BaseModel):
    signal: str
    bucket: datetime
    avg: float
    min: float
    max: float
    n: int


class Incident(BaseModel):
    id: int
    device_id: str
    customer_id: int
    source: str
    fault_mode: str
    detector: str
    severity: int
    status: str
    summary: str
    evidence: dict[str, Any]
    opened_at: datetime
    response_due: datetime
    onsite_due: datetime
    repair_due: datetime
    resolved_at: datetime | None
    tier: str


class WorkOrder(BaseModel):
    id: int
    incident_id: int
    device_id: str
    customer_id: int
    status: str
    required_skills: list[str]
    estimated_minutes: int
    lat: float
    lon: float
    technician_id: int | None
    technician_code: str | None
    created_at: datetime
    onsite_due: datetime
    assigned_at: datetime | None
    eta: datetime | None
    arrived_at: datetime | None
    completed_at: datetime | None


class Technician(BaseModel):
    id: int
    code: str
    name: str
    skills: list[str]
    region: str
    lat: float
    lon: float
    state: str


class TimelineEvent(BaseModel):
    id: int
    at: datetime
    kind: str
    summary: str
    incident_id: int | None
    work_order_id: int | None
    data: dict[str, Any]


class Health(BaseModel):
    status: str
    database: bool
    broker: bool | None = None
    storage: str | None = None
    counts: dict[str, int] = {}
