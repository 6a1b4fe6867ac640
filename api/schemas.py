"""HTTP request/response schemas (the API's contract; domain packages never see these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import available_timezones

from pydantic import BaseModel, Field, field_validator


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
    summary: str  # English, as written; summary_message renders it in the reader's language (migration 0821)
    summary_message: dict[str, Any] | None = None
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
    summary: str  # English, as written; message renders it in the reader's language (migration 0821)
    message: dict[str, Any] | None = None
    incident_id: int | None
    work_order_id: int | None
    data: dict[str, Any]


class Health(BaseModel):
    status: str
    database: bool
    broker: bool | None = None
    # The routing server (dispatch.travel_provider "osrm"): None when the straight-line estimate is used.
    travel: bool | None = None
    storage: str | None = None
    counts: dict[str, int] = {}


# --- The three faces (board, technician, portal). Appended by feat/ui. -----------------------------------------

class IntakeRequest(BaseModel):
    """An incident reported by phone or e-mail: it joins the same queue and SLA clock as detected ones."""
    device_id: str = Field(min_length=1, max_length=64)
    source: Literal["phone", "email"]
    summary: str = Field(min_length=3, max_length=500)
    fault_mode: str = Field("reported_fault", pattern=r"^[a-z][a-z0-9_]{1,40}$")
    severity: int = Field(2, ge=1, le=3)
    required_skills: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,30}$")]] = Field(
        default_factory=list, max_length=5)
    estimated_minutes: int = Field(60, ge=5, le=8 * 60)
    reported_by: str | None = Field(None, max_length=200)


class IntakeResult(BaseModel):
    incident_id: int
    work_order_id: int
    response_due: datetime
    onsite_due: datetime


class AssignRequest(BaseModel):
    technician_id: int


class AssignResult(BaseModel):
    work_order_id: int
    technician_id: int
    eta: datetime
    previous_technician_id: int | None


class TechAction(BaseModel):
    """One tap in the technician's app; ``action_id`` is generated on the phone so a replay is recognised."""
    action_id: UUID
    action: Literal["en_route", "arrived", "completed", "not_fixed", "signoff", "return_parts"]
    at: datetime | None = None
    # For "not_fixed": why the visit ended without the fix; a return visit on the same incident follows.
    outcome: Literal["wrong_part", "wrong_diagnosis", "not_fixed"] | None = None
    cause: str | None = Field(None, max_length=500)
    fix: str | None = Field(None, max_length=500)
    parts_used: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(default_factory=list,
                                                                                  max_length=30)
    notes: str | None = Field(None, max_length=2000)
    # Structured outcome ("completed", "not_fixed"): the fault mode found and a fix code from GET
    # /api/tech/fix-codes; the knowledge base learns from these (dispatch/outcomes.py).
    fault_mode: str | None = Field(None, min_length=1, max_length=60)
    fix_code: str | None = Field(None, min_length=1, max_length=40)
    # "signoff": the customer's name and signature drawn on the phone (PNG data URL; dispatch/signoff.py).
    signer_name: str | None = Field(None, max_length=200)
    signature: str | None = Field(None, max_length=90_000)
    # "return_parts": unused parts of this job from the van to a depot ("SKU" or "SKU x2" lines, as parts_used).
    depot_id: int | None = None


class TechActionResult(BaseModel):
    action_id: UUID
    work_order_id: int
    applied: bool
    duplicate: bool
    status: str


class SurveyRequest(BaseModel):
    work_order_id: int
    score: int = Field(ge=0, le=10)
    comment: str | None = Field(None, max_length=1000)


class KpiRow(BaseModel):
    region: str
    tier: str
    incidents: int
    responded_in_time: int
    response_judged: int
    onsite_in_time: int
    onsite_judged: int
    first_visit_fixes: int
    completed: int
    nps_answers: int
    nps_net: int
    nps: float | None
    # The service promise, from the kpis package (docs/kpis.md): on site within promise_onsite_min of incident
    # open, a delivered response within promise_response_min, fixed at the first visit; met / judged.
    onsite_2h_met: int = 0
    onsite_2h_judged: int = 0
    response_15min_met: int = 0
    response_15min_judged: int = 0
    first_visit_fixed: int = 0
    first_visit_judged: int = 0
    promise_onsite_min: int = 120
    promise_response_min: int = 15
    idle_while_waiting_min_per_technician: float | None = None


class Preference(BaseModel):
    """Channel on/off for one kind of message; kind '*' sets the default for every kind."""
    kind: Literal["*", "incident_detected", "incident_reported", "visit_planned", "technician_assigned",
                  "work_completed"]
    channel: Literal["email", "webhook"]
    enabled: bool


class WebhookRequest(BaseModel):
    url: str = Field(pattern=r"^https?://[^\s]{3,500}$")


class WebhookCreated(BaseModel):
    id: int
    url: str
    secret: str  # shown once; the receiver verifies X-Quietfix-Signature with it


class LocalePatch(BaseModel):
    """The signed-in user's own language (one the catalogues have) and IANA time zone; either may be left out."""

    language: Literal["en", "zh-CN"] | None = None
    timezone: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("timezone")
    @classmethod
    def _iana(cls, v: str | None) -> str | None:
        if v is not None and v not in available_timezones():
            raise ValueError(f"{v!r} is not an IANA time zone (like Asia/Shanghai)")
        return v
