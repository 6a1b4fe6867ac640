"""Unused parts go back: what a job took but did not fit returns to the van, and from the van to a depot.

Two steps, both through the spares ledger (spares.repository: every movement a ledger row, levels never
negative), both on the timeline and in the audit log, in the caller's transaction:

* at completion (:func:`report_unused`): ``spares.service.complete_job`` already puts parts collected at a depot
  or delivered by courier but not fitted into the van (``return``) and releases unused van holds (``release``);
  this reports those rows, so the dispatcher and the customer's history see what went back;
* later, at a depot (:func:`return_to_depot`, the phone's "Return to depot"): units of this job that went back into
  the van move to the depot (``issue`` from the van, ``return`` at the depot, both naming the work order). At most
  what this job put into the van and has not yet returned: a replayed or repeated tap cannot move more.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from core import audit
from core.events import record_timeline
from core.sql import Queries
from i18n import Message
from spares.errors import InsufficientStock
from spares.repository import SparesRepository

Q = Queries(__file__, "parts_return.sql")


class ReturnRefused(ValueError):
    """A return the job cannot make; ``field`` and ``reason`` become the API's 422."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _fmt(parts: Mapping[str, int]) -> str:
    return ", ".join(f"{q} × {sku}" for sku, q in sorted(parts.items()))


def report_unused(conn: psycopg.Connection, work_order_id: int, at: datetime, actor: audit.Actor) -> dict[str, int]:
    """After completion: the units of this job that went back into (or stayed in) the van; timeline + audit."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(Q.unused_into_van, {"work_order_id": work_order_id, "at": at}).fetchall()
        wo = cur.execute(Q.work_order_refs, {"work_order_id": work_order_id}).fetchone()
    unused = {r["sku"]: int(r["qty"]) for r in rows}
    if not unused or wo is None:
        return unused
    record_timeline(conn, customer_id=wo["customer_id"], device_id=wo["device_id"], at=at, kind="parts_returned",
                    message=Message("summary.partsToVan", {"parts": _fmt(unused)}), incident_id=wo["incident_id"],
                    work_order_id=work_order_id, data={"to": "van", "parts": unused})
    audit.record(conn, actor, "work_order.parts_returned", "work_order", str(work_order_id),
                 {"to": "van", "parts": unused}, at=at)
    return unused


def returnable(conn: psycopg.Connection, work_order_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per work order: units this job put into its technician's van and not yet returned to a depot."""
    if not work_order_ids:
        return {}
    out: dict[int, dict[str, int]] = {}
    for r in conn.execute(Q.returnable, {"ids": work_order_ids}).fetchall():
        if int(r[2]) > 0:
            out.setdefault(int(r[0]), {})[str(r[1])] = int(r[2])
    return out


def depots_near(conn: psycopg.Connection, lat: float, lon: float, limit: int = 3) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.depots_near, {"lat": lat, "lon": lon, "limit": limit}).fetchall()


def return_to_depot(conn: psycopg.Connection, work_order_id: int, technician_id: int, parts: Mapping[str, int],
                    depot_id: int | None, at: datetime, actor: audit.Actor) -> dict[str, int]:
    """Move unused units of this job from the technician's van to a depot; raises ReturnRefused."""
    if not parts:
        raise ReturnRefused("parts_used", "name at least one part to return")
    if depot_id is None:
        raise ReturnRefused("depot_id", "choose the depot the parts go back to")
    with conn.cursor(row_factory=dict_row) as cur:
        depot = cur.execute(Q.depot, {"id": depot_id}).fetchone()
        van = cur.execute(Q.van_of, {"tid": technician_id}).fetchone()
        wo = cur.execute(Q.work_order_refs, {"work_order_id": work_order_id}).fetchone()
    if depot is None:
        raise ReturnRefused("depot_id", "no such depot or warehouse")
    if van is None or wo is None:
        raise ReturnRefused("parts_used", "you have no van stock for this job")
    left = returnable(conn, [work_order_id]).get(work_order_id, {})
    for sku, qty in parts.items():
        if qty > left.get(sku, 0):
            raise ReturnRefused("parts_used", f"{sku}: this job left {left.get(sku, 0)} unit(s) to return, not {qty}")
    repo = SparesRepository(conn)
    ts = at.timestamp()
    note = f"returned to depot {depot['name']}"
    try:
        for sku, qty in sorted(parts.items()):
            repo.issue(work_order_id, int(van["id"]), sku, qty, ts, note)
            repo.return_unused(work_order_id, int(depot["id"]), sku, qty, ts)
    except InsufficientStock as exc:  # the van no longer holds them (used on another job): nothing moves
        raise ReturnRefused("parts_used", f"not in your van any more ({exc})") from None
    moved = dict(sorted(parts.items()))
    record_timeline(conn, customer_id=wo["customer_id"], device_id=wo["device_id"], at=at,
                    kind="parts_returned",
                    message=Message("summary.partsToDepot", {"depot": depot["name"], "parts": _fmt(moved)}),
                    incident_id=wo["incident_id"], work_order_id=work_order_id,
                    data={"to": "depot", "depot_id": int(depot["id"]), "parts": moved})
    audit.record(conn, actor, "work_order.parts_returned", "work_order", str(work_order_id),
                 {"to": "depot", "depot_id": int(depot["id"]), "parts": moved}, at=at)
    return moved
