"""Escalation use cases: a technician hands a job to remote support with evidence; tiers acknowledge, resolve
or escalate; the resolution goes onto the work order for the knowledge base. Rules in planning.escalation."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from core.events import record_timeline
from i18n import Message
from planning import escalation
from planning import repository as repo
from planning.errors import Forbidden, NotFound
from planning.service import entitled

log = logging.getLogger(__name__)


def escalate_work_order(conn: psycopg.Connection, work_order_id: int, *, raised_by: str, reason: str, notes: str,
                        photos: list[str], telemetry_minutes: int, now: datetime,
                        technician_id: int | None = None, client_key: UUID | None = None) -> dict[str, Any]:
    """A field technician hands a job to remote technical support (tier 2) with the evidence: the telemetry
    window before now, photos, notes and the incident's diagnosis. ``technician_id`` restricts to own jobs.

    ``client_key`` (generated on the phone) makes the call idempotent: a phone replaying its offline queue gets
    the first escalation back (``duplicate: true``), never a second one; a key reused for another job or by
    another user is refused. Photos sent as data: URLs are stored apart from the evidence, which lists them."""
    subject = repo.work_order_subject(conn, work_order_id)
    if subject is None:
        raise NotFound(f"work order {work_order_id}")
    owner = repo.work_order_technician(conn, work_order_id)
    if technician_id is not None and owner != technician_id:
        raise NotFound(f"work order {work_order_id}")
    if client_key is not None:
        seen = _replayed(conn, client_key, work_order_id, raised_by, now)
        if seen is not None:
            return seen
    parsed = [(p, escalation.parse_photo(p)) for p in photos]  # all checked before anything is stored
    photo_ids: list[int] = []
    meta: list[dict[str, Any]] = []
    for ref, image in parsed:
        if image is None:
            meta.append({"ref": ref})
            continue
        pid = repo.insert_escalation_photo(conn, work_order_id=work_order_id, media_type=image[0], data=image[1],
                                           at=now)
        photo_ids.append(pid)
        meta.append({"id": pid, "media_type": image[0], "bytes": len(image[1])})
    k, e = entitled(conn, subject)
    rows = repo.recent_telemetry(conn, subject["device_id"], now - timedelta(minutes=telemetry_minutes), now,
                                 escalation.TELEMETRY_WINDOW_MAX_ROWS)
    evidence = {"notes": notes, "photos": meta, "telemetry_minutes": telemetry_minutes,
                "telemetry": escalation.telemetry_evidence(rows), "contract": k.code if k else None}
    esc_id = repo.insert_escalation(conn, work_order_id=work_order_id, tier=2, raised_by=raised_by, reason=reason,
                                    evidence=evidence, opened_at=now,
                                    respond_due=escalation.respond_due(2, now, e.sla_tier), client_key=client_key)
    if esc_id is None:  # the same key committed meanwhile by a concurrent request: answer with that one
        repo.delete_escalation_photos(conn, photo_ids)
        assert client_key is not None
        seen = _replayed(conn, client_key, work_order_id, raised_by, now)
        if seen is None:
            raise NotFound(f"work order {work_order_id}")
        return seen
    record_timeline(conn, customer_id=int(subject["customer_id"]), device_id=subject["device_id"], at=now,
                    kind="escalated_tier2", message=Message("summary.escalatedTier2", {"reason": reason}),
                    incident_id=int(subject["incident_id"]), work_order_id=work_order_id,
                    data={"escalation_id": esc_id})
    log.info("job escalated", extra={"work_order_id": work_order_id, "escalation_id": esc_id, "tier": 2,
                                     "photos": len(photo_ids)})
    return escalation_view(repo.escalation(conn, esc_id), now) | {"duplicate": False}  # type: ignore[arg-type]


def _replayed(conn: psycopg.Connection, client_key: UUID, work_order_id: int, raised_by: str,
              now: datetime) -> dict[str, Any] | None:
    first = repo.escalation_by_key(conn, client_key)
    if first is None:
        return None
    if int(first["work_order_id"]) != work_order_id or first["raised_by"] != raised_by:
        raise escalation.InvalidEscalation("escalation key already used for another job")
    log.info("escalation replayed", extra={"work_order_id": work_order_id, "escalation_id": first["id"]})
    return escalation_view(repo.escalation(conn, int(first["id"])), now) | {"duplicate": True}  # type: ignore[arg-type]


def _photos(raw: Any) -> list[dict[str, Any]]:
    """Photo metadata of the evidence; escalations stored before photos moved out list plain strings."""
    return [p if isinstance(p, dict) else {"ref": str(p)} for p in (raw or [])]


def escalation_view(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    evidence = dict(row["evidence"] or {})
    evidence["photos"] = _photos(evidence.get("photos"))
    return {**row, "evidence": evidence, "tier_name": escalation.TIER_NAMES[int(row["tier"])],
            "clock": escalation.clock(row["respond_due"], row["acknowledged_at"], now)}


def escalation_queues(conn: psycopg.Connection, now: datetime, open_only: bool = True,
                      tiers: frozenset[int] = frozenset({2, 3})) -> dict[str, Any]:
    """Per tier the caller sees: the queue in response-clock order, with counts of breached and due-soon
    clocks. The telemetry window is left out (signal names only); photos are metadata (served one by one)."""
    out: dict[str, Any] = {}
    for tier in sorted(tiers):
        rows = [escalation_view(r, now) for r in repo.escalation_queue(conn, tier, open_only)]
        for r in rows:
            r["evidence"] = {k: v for k, v in r["evidence"].items() if k != "telemetry"} | {
                "signals": sorted(r["evidence"].get("telemetry", {}))}
        out[str(tier)] = {"name": escalation.TIER_NAMES[tier], "items": rows,
                          "breached": sum(1 for r in rows if r["clock"]["state"] == "breached"),
                          "due_soon": sum(1 for r in rows if r["clock"]["state"] == "due_soon")}
    return out


def visible(row: dict[str, Any], role: str, technician_id: int | None = None) -> bool:
    """Whether a caller may see this escalation: a tier their role sees, or (technician) their own job's."""
    if int(row["tier"]) in escalation.tiers_seen(role):
        return True
    return role == "technician" and technician_id is not None and row["technician_id"] == technician_id


def escalation_detail(conn: psycopg.Connection, escalation_id: int, now: datetime, role: str,
                      technician_id: int | None = None) -> dict[str, Any]:
    row = repo.escalation(conn, escalation_id)
    if row is None or not visible(row, role, technician_id):  # someone else's: indistinguishable from none
        raise NotFound(f"escalation {escalation_id}")
    return escalation_view(row, now)


def escalation_photo(conn: psycopg.Connection, escalation_id: int, photo_id: int, role: str,
                     technician_id: int | None = None) -> tuple[str, bytes]:
    """One photo of an escalation the caller may see; only photo ids its evidence lists are served."""
    row = repo.escalation(conn, escalation_id)
    if row is None or not visible(row, role, technician_id):
        raise NotFound(f"escalation {escalation_id}")
    if photo_id not in {p.get("id") for p in _photos((row["evidence"] or {}).get("photos"))}:
        raise NotFound(f"photo {photo_id}")
    photo = repo.escalation_photo(conn, photo_id, int(row["work_order_id"]))
    if photo is None:
        raise NotFound(f"photo {photo_id}")
    return photo


def job_escalations(conn: psycopg.Connection, work_order_ids: list[int],
                    now: datetime) -> dict[int, list[dict[str, Any]]]:
    """Escalations per job for the technician's phone: tier, status, answer clock, the answer."""
    out: dict[int, list[dict[str, Any]]] = {}
    for r in repo.job_escalations(conn, work_order_ids):
        out.setdefault(int(r["work_order_id"]), []).append(
            {**{k: v for k, v in r.items() if k != "work_order_id"}, "tier_name": escalation.TIER_NAMES[int(r["tier"])],
             "clock": escalation.clock(r["respond_due"], r["acknowledged_at"], now)})
    return out


def act_on_escalation(conn: psycopg.Connection, escalation_id: int, action: str, *, by: str, now: datetime,
                      role: str, resolution: str | None = None, cause: str | None = None, fix: str | None = None,
                      reason: str | None = None) -> dict[str, Any]:
    """Acknowledge, resolve or escalate. A resolution with a cause goes onto the work order (unless the
    technician already reported one), from where the diagnose loop counts it into the knowledge base when the
    job is completed; escalating opens the next tier's escalation with the same evidence. ``role`` must work
    the escalation's tier (support: 2, engineering: 3); a tier it only reads is Forbidden, one it cannot see is
    NotFound."""
    row = repo.escalation(conn, escalation_id)
    if row is None or not visible(row, role):
        raise NotFound(f"escalation {escalation_id}")
    if int(row["tier"]) not in escalation.tiers_worked(role):
        raise Forbidden(f"{role} does not work tier {row['tier']} escalations")
    status = escalation.next_status(row["status"], int(row["tier"]), action)
    if action == "resolve" and not resolution:
        raise escalation.InvalidEscalation("a resolution is required")
    if not repo.set_escalation_status(conn, escalation_id, status, now, resolution, cause, fix):
        raise escalation.InvalidEscalation("escalation changed meanwhile")
    new_id = None
    if action == "resolve":
        if cause:
            repo.work_order_feedback(conn, int(row["work_order_id"]), cause, fix or resolution or "")
    elif action == "escalate":
        subject = repo.work_order_subject(conn, int(row["work_order_id"]))
        sla_tier = entitled(conn, subject)[1].sla_tier if subject else "standard"
        new_id = repo.insert_escalation(
            conn, work_order_id=int(row["work_order_id"]), tier=int(row["tier"]) + 1, raised_by=by,
            reason=reason or row["reason"], evidence=row["evidence"] | {"previous_tier_notes": resolution},
            opened_at=now, respond_due=escalation.respond_due(int(row["tier"]) + 1, now, sla_tier),
            parent_id=escalation_id)
    record_timeline(conn, customer_id=int(row["customer_id"]), device_id=row["device_id"], at=now,
                    kind=f"escalation_{status}",
                    message=Message("summary.escalationStep", {
                        "tier": int(row["tier"]), "status": status,
                        "hasResolution": "yes" if action == "resolve" else "no", "resolution": resolution or ""}),
                    incident_id=int(row["incident_id"]),
                    work_order_id=int(row["work_order_id"]),
                    data={"escalation_id": escalation_id, "by": by, "next_escalation_id": new_id})
    out = escalation_view(repo.escalation(conn, escalation_id), now)  # type: ignore[arg-type]
    out["next_escalation_id"] = new_id
    return out
