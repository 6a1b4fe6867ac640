"""Knowledge base over HTTP: everyone signed in reads it, admins and dispatchers edit it.

Rows live in ``knowledge_base`` (seeded from diagnostics/knowledge_base.json); an edit bumps the row's version
and the diagnose loop picks it up on its next refresh. Learned counts (from closed work orders) are kept when
an editor changes the text fields.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from api.auth import AnyUser, Staff
from api.deps import Conn
from core.clock import to_datetime
from diagnostics import repository as repo

router = APIRouter(prefix="/api/knowledge", tags=["diagnostics"])
LEARNED = ("cause_counts", "fix_counts", "part_counts", "minutes_observed")


class PartIn(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    qty: int = Field(ge=1, le=100)


class KnowledgeIn(BaseModel):
    probable_cause: str = Field(min_length=1, max_length=500)
    diagnostic_steps: list[str] = Field(default_factory=list, max_length=20)
    remote_fix: Literal["reset", "recalibrate"] | None = None
    skills: list[str] = Field(min_length=1, max_length=10)
    parts: list[PartIn] = Field(default_factory=list, max_length=20)
    repair_minutes: int = Field(ge=1, le=24 * 60)
    severity: int = Field(ge=1, le=3)


class KnowledgeOut(KnowledgeIn):
    equipment_type: str
    fault_mode: str
    version: int
    updated_by: str
    learned: dict[str, Any] = Field(default_factory=dict)


def _out(row: dict[str, Any]) -> dict[str, Any]:
    entry = dict(row["entry"])
    learned = {k: entry.pop(k) for k in LEARNED if k in entry}
    return {**entry, "equipment_type": row["equipment_type"], "fault_mode": row["fault_mode"],
            "version": row["version"], "updated_by": row["updated_by"], "learned": learned}


def _row(conn: Conn, equipment_type: str, fault_mode: str) -> dict[str, Any] | None:
    row = repo.knowledge_get(conn, equipment_type, fault_mode)
    # First use of a fresh database: load the shipped seed. Committed with the request (a read's connection
    # commits on release; an edit commits the seed, the edit and its audit row together).
    if row is None and repo.seed_knowledge(conn):
        row = repo.knowledge_get(conn, equipment_type, fault_mode)
    return row


@router.get("", response_model=list[KnowledgeOut])
def list_knowledge(conn: Conn, principal: AnyUser) -> list[dict]:
    rows = repo.knowledge_rows(conn)
    if not rows and repo.seed_knowledge(conn):
        conn.commit()
        rows = repo.knowledge_rows(conn)
    return [_out(r) for r in rows]


@router.get("/{equipment_type}/{fault_mode}", response_model=KnowledgeOut)
def get_knowledge(equipment_type: str, fault_mode: str, conn: Conn, principal: AnyUser) -> dict:
    row = _row(conn, equipment_type, fault_mode)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no knowledge for this equipment type and fault mode")
    return _out(row)


@router.put("/{equipment_type}/{fault_mode}", response_model=KnowledgeOut)
def put_knowledge(equipment_type: str, fault_mode: str, body: KnowledgeIn, conn: Conn, principal: Staff) -> dict:
    if equipment_type not in ("pump", "chiller", "compressor"):
        raise HTTPException(422, "unknown equipment type")
    old = _row(conn, equipment_type, fault_mode)
    entry = body.model_dump()
    if old is not None:
        entry |= {k: v for k, v in old["entry"].items() if k in LEARNED}
    repo.knowledge_put(conn, equipment_type, fault_mode, entry, to_datetime(time.time()), principal.username)
    conn.commit()
    row = repo.knowledge_get(conn, equipment_type, fault_mode)
    assert row is not None
    return _out(row)
