"""Learned models in use: normal-model and RUL-model versions with their training window, size and metrics.

Read-only and fleet-wide (no customer's data): the people who act on detection quality see it -- staff and the
escalation desks. Training itself is `quietfix train` (diagnostics/trainer.py), never a request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.auth import Principal, require_roles
from api.deps import Conn
from diagnostics import model_versions

router = APIRouter(tags=["diagnostics"])
ModelReaders = Annotated[Principal, Depends(require_roles("admin", "dispatcher", "support", "engineering"))]


class ModelVersion(BaseModel):
    equipment_type: str
    version: int
    current: bool  # the newest version of its type: the one diagnose uses
    trained_at: datetime
    window_start: datetime | None = None
    window_end: datetime | None = None
    samples: int  # normal: healthy samples; rul: 10-minute cycles of run-to-failure history
    devices: int | None = None
    failures: int | None = None  # rul: repaired wear failures it learned from
    metrics: dict[str, Any] = {}


class EquipmentModels(BaseModel):
    equipment_type: str
    drift_detectors: bool  # on once a normal model exists
    rul_method: str  # learned | trend


class Models(BaseModel):
    normal: list[ModelVersion]
    rul: list[ModelVersion]
    equipment_types: list[EquipmentModels]


@router.get("/api/models", response_model=Models)
def models(conn: Conn, principal: ModelReaders) -> dict[str, Any]:
    """Every stored model version, newest first per equipment type, and what each type runs on now."""
    return model_versions(conn)
