"""Escalation use cases: a technician hands a job to remote support with evidence; tiers acknowledge, resolve
or escalate; the resolution goes onto the work order for the knowledge base. Rules in planning.escalation."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import psycopg

from core.events import record_timeline
from planning import escalation
from planning import repository as repo
from planning.errors import NotFound
from planning.service import entitled

log = logging.getLogger(__name__)


def escalate_work_order(conn: psycopg.Connection, work_order_id: int, *, raised_by: str, reason: str, notes: str,
                        photos: list[str], telemetry_minutes: int, now: datetime,
                        technician_id: int | None = None) -> dict[str, Any]:
    """A field technician hands a job to remote technical support (tier 2) with the evidence: the telemetry
    window before now, photos, notes and the incident's diagnosis. ``technician_id`` restricts to own jobs."""
    subject = repo.work_order_subject(conn, work_order_id)
    if subject is None:
        raise NotFound(f"work order {work_order_id}")
    owner = repo.work_order_technician(conn, work_order_id)
    if technician_id is not None and owner != technician_id:
        raise NotFound(f"work order {work_order_id}")
    k, e = entitled(conn, subject)
    rows = repo.recent_telemetry(conn, subject["device_id"], now - timedelta(minutes=telemetry_minutes), now,
                                 escalation.TELEMETRY_WINDOW_MAX_ROWS)
    evidence = {"notes": notes, "photos": photos, "telemetry_minutes": telemetry_minutes,
                "telemetry": escalation.telemetry_evidence(rows), "contract": k.code if k else None}
    esc_id = repo.insert_escalation(conn, work_order_id=work_order_id, tier=2, raised_by=raised_by, reason=reason,
                                    evidence=evidence, opened_at=now,
                                    respond_due=escalation.respond_due(2, now, e.sla_tier))
    assert esc_id is not None
    record_timeline(conn, customer_id=int(subject["customer_id"]), device_id=subject["device_id"], at=now,
                    kind="escalated_tier2", summary=f"Escalated to remote technical support: {reason}",
                    incident_id=int(subject["incident_id"]), work_order_id=work_order_id,
                    data={"escalation_id": esc_id})
    log.info("job escalated", extra={"work_order_id": work_order_id, "escalation_id": esc_id, "tier": 2})
    return escalation_view(repo.escalation(conn, esc_id), now)  # type: ignore[arg-type]


def escalation_view(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {**{k: v for k, v in row.items()}, "tier_name": escalation.TIER_NAMES[int(row["tier"])],
            "clock": escalation.clock(row["respond_due"], row["acknowledged_at"], now)}


def escalation_queues(conn: psycopg.Connection, now: datetime, open_only: bool = True) -> dict[str, Any]:
    """Per tier: the queue in response-clock order, with counts of breached and due-soon clocks."""
    out: dict[str, Any] = {}
    for tier in (2, 3):
        rows = [escalation_view(r, now) for r in repo.escalation_queue(conn, tier, open_only)]
        for r in rows:
            r["evidence"] = {k: v for k, v in r["evidence"].items() if k != "telemetry"} | {
                "signals": sorted(r["evidence"].get("telemetry", {}))}
        out[str(tier)] = {"name": escalation.TIER_NAMES[tier], "items": rows,
                          "breached": sum(1 for r in rows if r["clock"]["state"] == "breached"),
                          "due_soon": sum(1 for r in rows if r["clock"]["state"] == "due_soon")}
    return out


def escalation_detail(conn: psycopg.Connection, escalation_id: int, now: datetime) -> dict[str, Any]:
    row = repo.escalation(conn, escalation_id)
    if row is None:
        raise NotFound(f"escalation {escalation_id}")
    return escalation_view(row, now)


def act_on_escalation(conn: psycopg.Connection, escalation_id: int, action: str, *, by: str, now: datetime,
                      resolution: str | None = None, cause: str | None = None, fix: str | None = None,
                      reason: str | None = None) -> dict[str, Any]:
    """Acknowledge, resolve or escalate. A resolution with a cause goes onto the work order (unless the
    technician already reported one), from where the diagnose loop counts it into the knowledge base when the
    job is completed; escalating opens the next tier's escalation with the same evidence."""
    row = repo.escalation(conn, escalation_id)
    if row is None:
        raise NotFound(f"escalation {escalation_id}")
    status = escalation.next_status(row["status"], int(row["tier"]), action)
    if action == "resolve" and not resolution:
        raise escalation.InvalidEscalation("a resolution is required")
    if not repo.set_escalation_status(conn, escalation_id, status, now, resolution, cause, fix):
        raise escalation.InvalidEscalation("escalation changed meanwhile")
    summary = f"{escalation.TIER_NAMES[int(row['tier'])]} {status} the escalation"
    new_id = None
    if action == "resolve":
        if cause:
            repo.work_order_feedback(conn, int(row["work_order_id"]), cause, fix or resolution or "")
        summary += f": {resolution}"
    elif action == "escalate":
        subject = repo.work_order_subject(conn, int(row["work_order_id"]))
        sla_tier = entitled(conn, subject)[1].sla_tier if subject else "standard"
        new_id = repo.insert_escalation(
            conn, work_order_id=int(row["work_order_id"]), tier=int(row["tier"]) + 1, raised_by=by,
            reason=reason or row["reason"], evidence=row["evidence"] | {"previous_tier_notes": resolution},
            opened_at=now, respond_due=escalation.respond_due(int(row["tier"]) + 1, now, sla_tier),
            parent_id=escalation_id)
    record_timeline(conn, customer_id=int(row["customer_id"]), device_id=row["device_id"], at=now,
                    kind=f"escalation_{status}", summary=summary, incident_id=int(row["incident_id"]),
                    work_order_id=int(row["work_order_id"]),
                    data={"escalation_id": escalation_id, "by": by, "next_escalation_id": new_id})
    out = escalation_view(repo.escalation(conn, escalation_id), now)  # type: ignore[arg-type]
    out["next_escalation_id"] = new_id
    return out
