"""The audit log, read by admins: who did what, when, to what, with filters (core/audit.py writes it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel

from api.auth import Principal, require_roles
from api.deps import Conn
from api.routes.board import STATIC
from core import audit
from core.audit import MAX_PAGE

router = APIRouter(tags=["audit"])
Admin = Annotated[Principal, Depends(require_roles("admin"))]


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_user_id: int | None
    actor_role: str | None
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    client_ip: str | None


@router.get("/audit", include_in_schema=False)
def audit_page() -> FileResponse:
    return FileResponse(STATIC / "audit.html")


@router.get("/api/audit", response_model=list[AuditEntry])
def read_audit(conn: Conn, principal: Admin,
               actor: str | None = Query(None, max_length=200, description="exact actor (username, cli:…, process:…)"),
               action: str | None = Query(None, max_length=200, description="exact action, or a prefix ending in '.'"),
               target_type: str | None = Query(None, max_length=100),
               target_id: str | None = Query(None, max_length=200),
               since: Annotated[datetime | None, Query(description="from this time on (inclusive)")] = None,
               until: Annotated[datetime | None, Query(description="before this time")] = None,
               limit: int = Query(100, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0, le=1_000_000)) -> list[dict]:
    """Newest first. ``action=command.`` (trailing dot) matches every command action."""
    prefix = action if action and action.endswith(".") else None
    return audit.search(conn, actor=actor, action=None if prefix else action, action_prefix=prefix,
                        target_type=target_type, target_id=target_id, since=since, until=until, limit=limit,
                        offset=offset)
