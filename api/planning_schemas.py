"""HTTP request schemas for the planning routes (responses are the planning service's plain dicts)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field


class EscalationRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    notes: str = Field(default="", max_length=8000)
    # Image data: URLs (stored apart, served from /api/planning/escalations/{id}/photos/{photo id}) or
    # references; a base64 photo of the planning.escalation.PHOTO_MAX_BYTES limit is 4/3 of it in characters.
    photos: list[Annotated[str, Field(max_length=2_700_000)]] = Field(default_factory=list, max_length=10)
    telemetry_minutes: int = Field(default=60, ge=0, le=24 * 60)
    # Generated on the phone, one per escalation: replaying the request (offline queue) returns the first one.
    escalation_key: UUID | None = None


class EscalationUpdate(BaseModel):
    action: str = Field(pattern="^(acknowledge|resolve|escalate)$")
    resolution: str | None = Field(default=None, max_length=8000)
    cause: str | None = Field(default=None, max_length=200)
    fix: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)


class TechnicianWhatIf(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    skills: list[str] = Field(default_factory=list, max_length=10)
    shift_start_h: int = Field(default=0, ge=0, le=23)
    shift_end_h: int = Field(default=24, ge=1, le=24)


class WhatIfRequest(BaseModel):
    add_technicians: list[TechnicianWhatIf] = Field(default_factory=list, max_length=20)
    add_depots: list[TechnicianWhatIf] = Field(default_factory=list, max_length=10)


class RosterApproval(BaseModel):
    """The proposal the dispatcher approves, named by its operational day's start (as GET .../roster/proposal
    gave it): a proposal for another day by now is refused rather than approved unseen."""

    day_start: AwareDatetime
