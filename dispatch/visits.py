"""Work-order lifecycle on site: arrival and completion, as the technician's app (or the field simulator) reports.

Each transition is guarded by the current status in SQL, so a report sent twice (a phone retrying on a bad
signal) changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from core.events import queue_notification, record_timeline
from core.sql import Queries
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
                    summary="Technician on site" + ("" if on_time else " (after the on-site deadline)"),
                    incident_id=row["incident_id"], work_order_id=work_order_id, data={"on_time": on_time})
    return True


def complete(conn: psycopg.Connection, work_order_id: int, at: datetime, *, cause: str | None = None,
             fix: str | None = None, notes: str | None = None,
             parts_used: Mapping[str, int] | None = None) -> str | None:
    """Close the visit; returns the repaired device's id, or None when the order was not on site.

    The parts are booked in the same transaction (``spares.service.complete_job``): ``parts_used`` (SKU -> units)
    is what the technician reported; None means "as planned" (the work order's required parts)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(Q.complete, {"work_order_id": work_order_id, "at": at, "cause": cause, "fix": fix,
                                       "notes": notes}).fetchone()
        if row is None:
            return None
        cur.execute(Q.move_technician, {"state": "free", "lat": row["lat"], "lon": row["lon"],
                                        "technician_id": row["technician_id"]})
        cur.execute(Q.resolve_incident_onsite, {"incident_id": row["incident_id"], "at": at})
    fitted = spares_flow.complete_job(conn, work_order_id, row["technician_id"], parts_used, at.timestamp())
    record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=at, kind="work_completed",
                    summary=f"Repair completed{': ' + fix if fix else ''}", incident_id=row["incident_id"],
                    work_order_id=work_order_id, data={"cause": cause, "fix": fix, "parts_fitted": fitted})
    queue_notification(conn, customer_id=row["customer_id"], device_id=row["device_id"],
                       incident_id=row["incident_id"], at=at, kind="work_completed",
                       subject="Your equipment has been repaired",
                       body="The technician has completed the repair. How likely are you to recommend us (0-10)?")
    return str(row["device_id"])


def due_arrivals(conn: psycopg.Connection, now: datetime) -> list[int]:
    return [r[0] for r in conn.execute(Q.due_arrivals, {"now": now})]


def due_completions(conn: psycopg.Connection, now: datetime) -> list[int]:
    return [r[0] for r in conn.execute(Q.due_completions, {"now": now})]
