"""Planning's SQL: contracts, forecast history, sites and technicians for coverage, escalations.

Every function runs in the caller's transaction; the caller commits.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from core.sql import Queries
from diagnostics import SlaDeadlines
from planning.models import Contract

Q = Queries(__file__)


def _contract(row: dict[str, Any]) -> Contract:
    return Contract(id=int(row["id"]), code=row["code"], customer_id=int(row["customer_id"]),
                    device_id=row["device_id"], name=row["name"], sla_tier=row["sla_tier"],
                    coverage_days=tuple(int(d) for d in row["coverage_days"]), coverage_start=row["coverage_start"],
                    coverage_end=row["coverage_end"], starts_on=row["starts_on"], ends_on=row["ends_on"],
                    warranty_until=row["warranty_until"], labour_included=row["labour_included"],
                    parts_included=row["parts_included"], included_parts=tuple(row["included_parts"]),
                    inspection_interval_days=row["inspection_interval_days"],
                    last_inspection_on=row["last_inspection_on"], response_min=row.get("response_min"),
                    onsite_min=row.get("onsite_min"), repair_h=row.get("repair_h"),
                    target_response_min=row.get("target_response_min"),
                    target_onsite_min=row.get("target_onsite_min"), target_repair_h=row.get("target_repair_h"))


def sla_tier_defaults(conn: psycopg.Connection) -> dict[str, SlaDeadlines]:
    """Contract deadlines per SLA tier for incidents without a contract of their own (migration 0640)."""
    return {r[0]: SlaDeadlines(int(r[1]), int(r[2]), int(r[3]) * 60) for r in conn.execute(Q.sla_tier_defaults)}


def contracts_of_customer(conn: psycopg.Connection, customer_id: int) -> list[Contract]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [_contract(r) for r in cur.execute(Q.contracts_of_customer, {"customer_id": customer_id})]


def all_contracts(conn: psycopg.Connection) -> list[Contract]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [_contract(r) for r in cur.execute(Q.all_contracts)]


def insert_contract(conn: psycopg.Connection, *, code: str, customer_id: int, name: str, sla_tier: str,
                    starts_on: date, device_id: str | None = None, coverage_days: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7),
                    coverage_start: time = time(0), coverage_end: str | time = "24:00", ends_on: date | None = None,
                    warranty_until: date | None = None, labour_included: bool = True, parts_included: bool = False,
                    included_parts: tuple[str, ...] = (), inspection_interval_days: int | None = None,
                    last_inspection_on: date | None = None) -> int:
    row = conn.execute(Q.insert_contract, {
        "code": code, "customer_id": customer_id, "device_id": device_id, "name": name, "sla_tier": sla_tier,
        "coverage_days": list(coverage_days), "coverage_start": coverage_start, "coverage_end": coverage_end,
        "starts_on": starts_on, "ends_on": ends_on, "warranty_until": warranty_until,
        "labour_included": labour_included, "parts_included": parts_included, "included_parts": list(included_parts),
        "inspection_interval_days": inspection_interval_days, "last_inspection_on": last_inspection_on}).fetchone()
    assert row is not None
    return int(row[0])


def set_contract_terms(conn: psycopg.Connection, *, customer_id: int, parts_included: bool,
                       inspection_interval_days: int | None, last_inspection_on: date | None) -> int:
    """Terms an imported customer-wide contract has no CSV column for (parts, inspection schedule); the number
    of contracts changed."""
    return conn.execute(Q.set_contract_terms, {
        "customer_id": customer_id, "parts_included": parts_included,
        "inspection_interval_days": inspection_interval_days, "last_inspection_on": last_inspection_on}).rowcount


def work_order_subject(conn: psycopg.Connection, work_order_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.work_order_subject, {"work_order_id": work_order_id}).fetchone()


def open_work_orders(conn: psycopg.Connection, limit: int = 200) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.open_work_orders, {"limit": limit}).fetchall()


def incident_counts(conn: psycopg.Connection, since: datetime, until: datetime) -> list[tuple[str, datetime, int]]:
    return [(r[0], r[1], int(r[2])) for r in conn.execute(Q.incident_counts, {"since": since, "until": until})]


def sites(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.sites).fetchall()


def technicians(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.technicians).fetchall()


def insert_escalation(conn: psycopg.Connection, *, work_order_id: int, tier: int, raised_by: str, reason: str,
                      evidence: dict[str, Any], opened_at: datetime, respond_due: datetime,
                      parent_id: int | None = None, client_key: UUID | None = None) -> int | None:
    """The new escalation's id; None when ``client_key`` was used already (or the work order is gone)."""
    row = conn.execute(Q.insert_escalation, {
        "work_order_id": work_order_id, "tier": tier, "raised_by": raised_by, "reason": reason,
        "evidence": Jsonb(evidence), "opened_at": opened_at, "respond_due": respond_due,
        "parent_id": parent_id, "client_key": client_key}).fetchone()
    return int(row[0]) if row else None


def escalation_by_key(conn: psycopg.Connection, client_key: UUID) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.escalation_by_key, {"client_key": client_key}).fetchone()


def insert_escalation_photo(conn: psycopg.Connection, *, work_order_id: int, media_type: str, data: bytes,
                            at: datetime) -> int:
    row = conn.execute(Q.insert_escalation_photo, {
        "work_order_id": work_order_id, "media_type": media_type, "data": data, "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(), "at": at}).fetchone()
    assert row is not None
    return int(row[0])


def delete_escalation_photos(conn: psycopg.Connection, ids: list[int]) -> None:
    if ids:
        conn.execute(Q.delete_escalation_photos, {"ids": ids})


def escalation_photo(conn: psycopg.Connection, photo_id: int, work_order_id: int) -> tuple[str, bytes] | None:
    row = conn.execute(Q.escalation_photo, {"id": photo_id, "work_order_id": work_order_id}).fetchone()
    return (str(row[0]), bytes(row[1])) if row else None


def job_escalations(conn: psycopg.Connection, work_order_ids: list[int]) -> list[dict[str, Any]]:
    if not work_order_ids:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.job_escalations, {"ids": work_order_ids}).fetchall()


def escalation(conn: psycopg.Connection, escalation_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.escalation, {"id": escalation_id}).fetchone()


def escalation_queue(conn: psycopg.Connection, tier: int | None, open_only: bool = True,
                     limit: int = 200) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.escalation_queue, {"tier": tier, "open_only": open_only, "limit": limit}).fetchall()


def set_escalation_status(conn: psycopg.Connection, escalation_id: int, status: str, at: datetime,
                          resolution: str | None = None, cause: str | None = None, fix: str | None = None) -> bool:
    row = conn.execute(Q.set_escalation_status, {"id": escalation_id, "status": status, "at": at,
                                                 "resolution": resolution, "cause": cause, "fix": fix}).fetchone()
    return row is not None


def recent_telemetry(conn: psycopg.Connection, device_id: str, since: datetime, until: datetime,
                     limit: int = 2000) -> list[tuple[datetime, str, float]]:
    return [(r[0], r[1], float(r[2])) for r in conn.execute(
        Q.recent_telemetry, {"device_id": device_id, "since": since, "until": until, "limit": limit})]


def watching_by_region(conn: psycopg.Connection) -> dict[str, int]:
    return {r[0]: int(r[1]) for r in conn.execute(Q.watching_by_region)}


def work_order_technician(conn: psycopg.Connection, work_order_id: int) -> int | None:
    row = conn.execute(Q.work_order_technician, {"id": work_order_id}).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def work_order_feedback(conn: psycopg.Connection, work_order_id: int, cause: str, fix: str) -> None:
    conn.execute(Q.work_order_feedback, {"id": work_order_id, "cause": cause, "fix": fix})


def watching_incidents(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.watching_incidents).fetchall()


# --- preventive work orders ------------------------------------------------------------------------------------

def try_lock_preventive(conn: psycopg.Connection) -> bool:
    row = conn.execute(Q.preventive_lock).fetchone()
    return bool(row and row[0])


def preventive_keys(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute(Q.preventive_keys).fetchall()}


def completed_rul_visits(conn: psycopg.Connection) -> dict[tuple[str, str], int]:
    return {(r[0], r[1]): int(r[2]) for r in conn.execute(Q.completed_rul_visits).fetchall()}


def device_site(conn: psycopg.Connection, device_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.device_site, {"device_id": device_id}).fetchone()


def insert_preventive(conn: psycopg.Connection, *, device_id: str, customer_id: int, lat: float, lon: float,
                      fault_mode: str, summary: str, summary_message: dict[str, Any] | None,
                      evidence: dict[str, Any], at: datetime,
                      earliest_start: datetime, latest_start: datetime, skills: list[str], minutes: int,
                      parts: dict[str, int], key: str,
                      windows: list[tuple[float, float]] | None = None) -> tuple[int, int] | None:
    """Incident + work order of one preventive visit; None when the asset already has an open visit of this
    kind (its incident is still open)."""
    row = conn.execute(Q.insert_preventive_incident, {
        "device_id": device_id, "customer_id": customer_id, "fault_mode": fault_mode, "summary": summary,
        "summary_message": Jsonb(summary_message) if summary_message is not None else None,
        "evidence": Jsonb(evidence), "at": at, "latest_start": latest_start}).fetchone()
    if row is None:
        return None
    incident_id = int(row[0])
    wo = conn.execute(Q.insert_preventive_work_order, {
        "incident_id": incident_id, "device_id": device_id, "customer_id": customer_id, "skills": skills,
        "minutes": minutes, "lat": lat, "lon": lon, "at": at, "latest_start": latest_start,
        "parts": Jsonb(parts) if parts else None, "earliest_start": earliest_start, "key": key,
        "windows": Jsonb([list(w) for w in windows]) if windows else None}).fetchone()
    assert wo is not None
    return incident_id, int(wo[0])


def inspections_done(conn: psycopg.Connection) -> int:
    return len(conn.execute(Q.inspections_done).fetchall())


def resolve_predictions(conn: psycopg.Connection, work_order_id: int | None = None) -> list[tuple[str, datetime]]:
    return [(r[0], r[1]) for r in conn.execute(Q.resolve_predictions, {"work_order_id": work_order_id})]
