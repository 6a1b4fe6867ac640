"""Work-order lifecycle on site: arrival and completion, as the technician's app (or the field simulator) reports.

Each transition is guarded by the current status in SQL, so a report sent twice (a phone retrying on a bad
signal) changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from core.events import queue_notification, record_timeline
from core.sql import Queries
from i18n import Message
from spares import service as spares_flow

Q = Queries(__file__)


def mark_arrived(conn: psycopg.Connection, work_order_id: int, at: datetime) -> bool:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(Q.mark_arrived, {"work_order_id": work_order_id, "at": at}).fetchone()
        if row is None:
            return False
        cur.execute(Q.move_technician, {"state": "on_site", "lat": row["lat"], "lon": row["lon"],
                                        "technician_id": row["technician_id"]})
    on_time = at <= row["onsite_due"]
    record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=at, kind="technician_arrived",
                    message=Message("summary.arrived", {"late": "no" if on_time else "yes"}),
                    incident_id=row["incident_id"], work_order_id=work_order_id, data={"on_time": on_time})
    return True


def complete(conn: psycopg.Connection, work_order_id: int, at: datetime, *, cause: str | None = None,
             fix: str | None = None, notes: str | None = None,
             parts_used: Mapping[str, int] | None = None, fix_code: str | None = None,
             fault_mode: str | None = None) -> str | None:
    """Close the visit; returns the repaired device's id, or None when the order was not on site.

    ``fault_mode`` (the mode the technician found) and ``fix_code`` (from fix_codes) are the structured outcome
    the knowledge base learns from (dispatch.outcomes); ``cause``/``fix``/``notes`` are free text for people.

    The parts are booked in the same transaction (``spares.service.complete_job``): ``parts_used`` (SKU -> units)
    is what the technician reported; None means "as planned" (the work order's required parts)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(Q.complete, {"work_order_id": work_order_id, "at": at, "cause": cause, "fix": fix,
                                       "notes": notes, "fix_code": fix_code, "fault_mode": fault_mode}).fetchone()
        if row is None:
            return None
        cur.execute(Q.move_technician, {"state": "free", "lat": row["lat"], "lon": row["lon"],
                                        "technician_id": row["technician_id"]})
        cur.execute(Q.resolve_incident_onsite, {"incident_id": row["incident_id"], "at": at})
    fitted = spares_flow.complete_job(conn, work_order_id, row["technician_id"], parts_used, at.timestamp())
    record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=at, kind="work_completed",
                    message=Message("summary.completed", {"hasFix": "yes" if fix else "no", "fix": fix or ""}),
                    incident_id=row["incident_id"],
                    work_order_id=work_order_id, data={"cause": cause, "fix": fix, "parts_fitted": fitted, "fix_code": fix_code,
                          "fault_mode": fault_mode})
    queue_notification(conn, customer_id=row["customer_id"], device_id=row["device_id"],
                       incident_id=row["incident_id"], at=at, kind="work_completed",
                       message=Message("notify.completed"))
    return str(row["device_id"])


# Why a visit can end without the fix (work_orders.outcome).
UNFIXED_OUTCOMES = ("wrong_part", "wrong_diagnosis", "not_fixed")


def depart(conn: psycopg.Connection, work_order_id: int, at: datetime) -> bool:
    """The technician sets off: the job stops waiting (the KPIs' idle-while-waiting ends here)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(Q.depart, {"work_order_id": work_order_id, "at": at}).fetchone()
    if row is None:
        return False
    record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=at,
                    kind="technician_en_route", message=Message("summary.enRoute"), incident_id=row["incident_id"],
                    work_order_id=work_order_id, data={"eta": row["eta"].isoformat() if row["eta"] else None})
    return True


def complete_unfixed(conn: psycopg.Connection, work_order_id: int, at: datetime, *, outcome: str, actor: str,
                     cause: str | None = None, notes: str | None = None,
                     parts_needed: Mapping[str, int] | None = None, fault_mode: str | None = None) -> int | None:
    """End a visit that did not fix the fault and open the return visit on the same incident.

    Returns the return visit's work-order id (None when the order was not on site). The visit, the return
    visit, the timeline entries and the audit row commit together in the caller's transaction; no parts are
    booked as fitted (nothing was)."""
    if outcome not in UNFIXED_OUTCOMES:
        raise ValueError(f"outcome must be one of {UNFIXED_OUTCOMES}")
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(Q.complete_unfixed, {"work_order_id": work_order_id, "at": at, "outcome": outcome,
                                               "cause": cause, "notes": notes, "fault_mode": fault_mode}).fetchone()
        if row is None:
            return None
        cur.execute(Q.move_technician, {"state": "free", "lat": row["lat"], "lon": row["lon"],
                                        "technician_id": row["technician_id"]})
        new = cur.execute(Q.create_return_visit, {"work_order_id": work_order_id, "at": at,
                                                  "parts": Jsonb(dict(parts_needed)) if parts_needed else None}
                          ).fetchone()
    return_id = int(new["id"]) if new else None
    spares_flow.release_work_order(conn, work_order_id, at.timestamp())  # nothing was fitted: holds go back
    record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=at,
                    kind="visit_not_fixed",
                    message=Message("summary.notFixed", {"visit": row["visit_no"], "why": outcome}),
                    incident_id=row["incident_id"], work_order_id=work_order_id,
                    data={"outcome": outcome, "cause": cause, "fault_mode": fault_mode,
                          "return_work_order_id": return_id})
    if return_id is not None:
        record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=at,
                        kind="return_visit_created",
                        message=Message("summary.returnVisit", {"visit": row["visit_no"] + 1}),
                        incident_id=row["incident_id"], work_order_id=return_id,
                        data={"previous_work_order_id": work_order_id, "parts": dict(parts_needed or {})})
    conn.execute(Q.audit_visit, {"at": at, "actor": actor, "action": "work_order.not_fixed",
                                 "work_order_id": str(work_order_id),
                                 "details": Jsonb({"outcome": outcome, "return_work_order_id": return_id})})
    return return_id


def due_arrivals(conn: psycopg.Connection, now: datetime) -> list[int]:
    return [r[0] for r in conn.execute(Q.due_arrivals, {"now": now})]


def due_completions(conn: psycopg.Connection, now: datetime) -> list[int]:
    return [r[0] for r in conn.execute(Q.due_completions, {"now": now})]
