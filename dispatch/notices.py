"""Telling a customer the planned arrival of a visit that is not yet its technician's next stop.

Why: the response promise (15 minutes from incident open, docs/kpis.md) is kept by a plan with a time that
reached the customer. The loop told a customer only when their job became a technician's *next* stop
(``technician_assigned``), so a job planned third on a route had an arrival time in the plan for an hour or more
while its customer heard nothing: in ``bench.live_day --hours 24`` (round-the-clock roster) the response rate
was 0.49, and most misses were queued jobs. A dispatcher would call at once: "a technician will be with you at
about 15:40; we confirm when they set off". This module is that call, and the correction when the plan slips.

Only a slip *later* is told, by more than the threshold and at most once an hour: a stop several hours down a
queue moves with every re-plan, both ways (the first version, which re-told any move over 30 min, sent 272
notices for 35 work orders in a 24-hour live day, 24 to one customer). An earlier arrival needs no message:
the customer hears the technician's name and ETA when they set off (``technician_assigned``).
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from core.clock import to_datetime
from core.events import queue_notification, record_timeline
from core.sql import Queries
from dispatch.models import Plan
from i18n import Message

Q = Queries(__file__)
KIND = "visit_planned"


def planned_arrivals(plan: Plan) -> dict[int, tuple[str, float]]:
    """Work order -> (technician, planned arrival) for every job stop of the plan. Those the loop assigned in
    the same transaction are no longer open, so the notice query leaves them out: what remains are later stops
    and first stops of technicians whose shift has not started (planner.may_send)."""
    out: dict[int, tuple[str, float]] = {}
    for tech_id, stops in plan.routes.items():
        for s in stops:
            if s.kind == "job" and s.job_id is not None and s.job_id.isdigit():
                out[int(s.job_id)] = (tech_id, s.eta)
    return out


# At most one correction of a planned time per work order in this long.
MIN_UPDATE_GAP_S = 3600.0


def needs_notice(told: datetime | None, told_at: datetime | None, eta: float, now: float,
                 threshold_s: float) -> bool:
    """Tell once; then again only when the plan slipped later than what was told by more than ``threshold_s``,
    and not within an hour of the last message."""
    if told is None:
        return True
    recent = told_at is not None and now - told_at.timestamp() < MIN_UPDATE_GAP_S
    return eta - told.timestamp() > threshold_s and not recent


def tell_planned(conn: psycopg.Connection, plan: Plan, now: float, threshold_s: float) -> int:
    """Queue a ``visit_planned`` notification (and timeline event) for each work order the plan serves that is
    still open after the assignments (a later stop, or a technician's first before their shift) and whose customer
    has not been told this arrival yet. Call it after the assignments. Returns how many were told."""
    arrivals = planned_arrivals(plan)
    if not arrivals:
        return 0
    at = to_datetime(now)
    told = 0
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(Q.planned_notice_rows, {"ids": list(arrivals)}).fetchall()
    for row in rows:
        tech_id, eta_s = arrivals[int(row["id"])]
        if not needs_notice(row["planned_eta_told"], row["planned_told_at"], eta_s, now, threshold_s):
            continue
        eta = to_datetime(eta_s)
        update = "yes" if row["planned_eta_told"] is not None else "no"
        record_timeline(conn, customer_id=row["customer_id"], device_id=row["device_id"], at=at, kind=KIND,
                        message=Message("summary.visitPlanned", {"eta": eta, "update": update}),
                        incident_id=row["incident_id"], work_order_id=row["id"],
                        data={"technician_id": int(tech_id), "eta": eta.isoformat(),
                              "previous_eta": row["planned_eta_told"].isoformat()
                              if row["planned_eta_told"] else None})
        queue_notification(conn, customer_id=row["customer_id"], device_id=row["device_id"],
                           incident_id=row["incident_id"], at=at, kind=KIND,
                           message=Message("notify.visitPlanned", {"eta": eta, "device": row["device_name"],
                                                                   "update": update}))
        conn.execute(Q.set_planned_eta_told, {"eta": eta, "at": at, "work_order_id": row["id"]})
        told += 1
    return told
