"""Problems customers report themselves from the portal: the same incident queue and clocks as the others.

A report becomes an incident (source 'portal') with a work order, exactly like a phoned-in one, with deadlines
from the contract covering the asset at that moment: the contract's own response / on-site / repair columns,
else the per-tier defaults (migration 0640), starting when the contract's coverage hours next open.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import psycopg

from administration import repository as repo
from administration.errors import NotFound, Rejected
from administration.models import Actor
from administration.reasons import field_error
from administration.service import audit
from core.events import queue_notification, record_timeline
from diagnostics import ServiceTargets
from diagnostics import repository as diag_repo
from i18n import Message

PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")  # what browsers show inline; no SVG (script inside)
MAX_PHOTO_BYTES = 5 * 1024 * 1024  # a phone photo, resized by the page; bigger uploads are refused
SEVERITY = 2  # a customer's report starts as "major"; the dispatcher may change it on the board
ESTIMATED_MINUTES = 60


@dataclass(frozen=True)
class Deadlines:
    contract: str | None
    clock_start: datetime
    response_due: datetime
    onsite_due: datetime
    repair_due: datetime


def _magic_ok(media_type: str, data: bytes) -> bool:
    """The bytes are what the declared type says (a renamed HTML file is not a photo)."""
    return ((media_type == "image/jpeg" and data[:3] == b"\xff\xd8\xff")
            or (media_type == "image/png" and data[:8] == b"\x89PNG\r\n\x1a\n")
            or (media_type == "image/webp" and data[:4] == b"RIFF" and data[8:12] == b"WEBP"))


def _opens(days: list[int], start: time, end: time, at: datetime) -> datetime:
    """When coverage next opens at or after ``at`` (``at`` itself when inside coverage). An end of 24:00 is read
    as 23:59:59.999999 (queries.sql)."""
    for ahead in range(8):
        day = at.date() + timedelta(days=ahead)
        if day.isoweekday() not in days:
            continue
        opens = datetime.combine(day, start, tzinfo=at.tzinfo)
        closes = datetime.combine(day, end, tzinfo=at.tzinfo)
        if opens <= at < closes:
            return at
        if opens >= at:
            return opens
    return at  # no coverage days at all: do not invent a delay


def deadlines(conn: psycopg.Connection, device_id: str, customer_tier: str, at: datetime) -> Deadlines:
    k = repo.one(conn, "covering_contract", {"device_id": device_id, "day": at.date()})
    tier = k["sla_tier"] if k else customer_tier
    d = repo.one(conn, "tier_defaults", {"tier": tier}) or {"response_min": 15, "onsite_min": 120, "repair_h": 24}
    response = (k and k["response_min"]) or d["response_min"]
    onsite = (k and k["onsite_min"]) or d["onsite_min"]
    repair = (k and k["repair_h"]) or d["repair_h"]
    start = _opens(list(k["coverage_days"]), k["coverage_start"], k["coverage_end"], at) if k else at
    return Deadlines(k["code"] if k else None, start, start + timedelta(minutes=response),
                     start + timedelta(minutes=onsite), start + timedelta(hours=repair))


def report_problem(conn: psycopg.Connection, customer_id: int, asset: str, summary: str,
                   photo: tuple[str, bytes] | None, actor: Actor, at: datetime) -> dict[str, Any]:
    """Open the incident and its work order; a second report of an asset already open answers Conflict-free
    with the open incident (the customer sees it is being handled)."""
    summary = summary.strip()
    errors = []
    if not 3 <= len(summary) <= 1000:
        errors.append(field_error("summary", "describeProblem", lo=3, hi=1000))
    if photo is not None:
        media_type, data = photo
        if media_type not in PHOTO_TYPES or not _magic_ok(media_type, data):
            errors.append(field_error("photo", "photoType", types=", ".join(PHOTO_TYPES)))
        elif len(data) > MAX_PHOTO_BYTES:
            errors.append(field_error("photo", "photoSize", mb=MAX_PHOTO_BYTES // (1024 * 1024)))
    if errors:
        raise Rejected(errors)
    device = repo.one(conn, "portal_asset", {"asset": asset, "customer_id": customer_id})
    if device is None:
        raise NotFound("asset not found")  # another customer's asset answers the same as a missing one
    due = deadlines(conn, device["device_id"], device["tier"], at)
    # The service targets (issue #14) beside those deadlines: what dispatch aims at (organisation defaults with
    # the contract's overrides; the settings' service.* are not passed down here yet).
    clocks = diag_repo.clocks_for(conn, device["device_id"], at, SEVERITY, ServiceTargets())
    targets = ({"response_target": clocks.response_target, "onsite_target": clocks.onsite_target,
                "repair_target": clocks.repair_target} if clocks is not None else {})
    incident_id = diag_repo.open_incident(
        conn, device_id=device["device_id"], customer_id=customer_id, fault_mode="customer_report",
        detector="portal", severity=SEVERITY, status="work_order", summary=summary[:500],
        evidence={"channel": "portal", "reported_by": actor.name, "text": summary, "contract": due.contract,
                  "asset_serial": device["serial"]},
        opened_at=at, response_due=due.response_due, onsite_due=due.onsite_due, repair_due=due.repair_due,
        **targets)
    if incident_id is None:
        raise Rejected([field_error("asset", "alreadyReported")])
    conn.execute(repo.Q.mark_portal_source, {"incident_id": incident_id})
    work_order_id = diag_repo.create_work_order(
        conn, incident_id=incident_id, device_id=device["device_id"], customer_id=customer_id, required_skills=[],
        estimated_minutes=ESTIMATED_MINUTES, lat=device["lat"], lon=device["lon"], created_at=at,
        onsite_due=due.onsite_due)
    photo_id = None
    if photo is not None:
        media_type, data = photo
        row = repo.one(conn, "insert_incident_photo", {
            "incident_id": incident_id, "media_type": media_type, "data": data, "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "at": at})
        photo_id = int(row["id"]) if row else None
    record_timeline(conn, customer_id=customer_id, device_id=device["device_id"], at=at, kind="incident_reported",
                    message=Message("summary.reportedPortal", {"text": summary[:200]}), incident_id=incident_id,
                    work_order_id=work_order_id, data={"source": "portal", "reported_by": actor.name,
                                                       "photo_id": photo_id})
    queue_notification(conn, customer_id=customer_id, device_id=device["device_id"], incident_id=incident_id,
                       at=at, kind="incident_reported", message=Message("notify.reported", {"device": device["name"], "summary": summary[:200]}))
    audit(conn, actor, at, "portal.problem_reported", "incident", str(incident_id),
          {"before": None, "after": {"device_id": device["device_id"], "work_order_id": work_order_id,
                                     "photo_id": photo_id, "contract": due.contract}})
    return {"incident_id": incident_id, "work_order_id": work_order_id, "contract": due.contract,
            "response_due": due.response_due, "onsite_due": due.onsite_due, "repair_due": due.repair_due,
            "photo_id": photo_id}
