"""Visits of an incident and the time each spent travelling and on site, for the phone and the board.

Why per visit: a return visit is a second work order on the same incident (dispatch.visits.complete_unfixed).
The technician arriving for visit 2 needs to know why visit 1 failed, and the dispatcher needs to see that a job
is a return visit; both read it from here. Durations are computed from the timestamps the lifecycle records
(``departed_at`` "on my way", ``arrived_at``, ``completed_at``), never stored twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from core.sql import Queries

Q = Queries(__file__, "visit_history.sql")

# Why a visit ended without the fix, in words (work_orders.outcome).
OUTCOME_TEXT = {"fixed": "fixed", "wrong_part": "the part needed was not at hand",
                "wrong_diagnosis": "the fault was not the one diagnosed",
                "not_fixed": "the fault could not be fixed on that visit"}


def minutes_between(start: datetime | None, end: datetime | None) -> float | None:
    """Whole-visit spans in minutes (one decimal); None when either end is unknown or they are out of order."""
    if start is None or end is None or end < start:
        return None
    return round((end - start).total_seconds() / 60.0, 1)


def durations(row: dict[str, Any], now: datetime) -> dict[str, float | None]:
    """Travel (set off -> arrived) and on site (arrived -> completed, or -> now while still there)."""
    on_site_end = row.get("completed_at") or (now if row.get("arrived_at") else None)
    travel_end = row.get("arrived_at") or (now if row.get("departed_at") and row.get("status") == "en_route"
                                           else None)
    return {"travel_min": minutes_between(row.get("departed_at"), travel_end),
            "onsite_min": minutes_between(row.get("arrived_at"), on_site_end)}


def visits_of(conn: psycopg.Connection, incident_ids: list[int], now: datetime) -> dict[int, list[dict[str, Any]]]:
    """Incident -> its visits in order: {work_order_id, visit_no, status, outcome, outcome_text, departed_at,
    arrived_at, completed_at, travel_min, onsite_min, technician_code, found_fault_mode, fix_code}."""
    if not incident_ids:
        return {}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(Q.visits_of, {"ids": sorted(set(incident_ids))}).fetchall()
    out: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        r["outcome_text"] = OUTCOME_TEXT.get(r["outcome"]) if r["outcome"] else None
        r.update(durations(r, now))
        out.setdefault(int(r.pop("incident_id")), []).append(r)
    return out


def annotate(conn: psycopg.Connection, jobs: list[dict[str, Any]], now: datetime) -> None:
    """Give each job (a dict with ``id`` and ``incident_id``) its ``visit_no``, ``visits`` on the incident,
    ``previous_visit`` (the one before it, with why it failed) and its own ``travel_min``/``onsite_min``."""
    visits = visits_of(conn, [int(j["incident_id"]) for j in jobs], now)
    for j in jobs:
        mine = visits.get(int(j["incident_id"]), [])
        own = next((v for v in mine if v["work_order_id"] == j["id"]), None)
        j["visit_no"] = own["visit_no"] if own else 1
        j["visits"] = len(mine)
        earlier = [v for v in mine if v["visit_no"] < j["visit_no"]]
        j["previous_visit"] = earlier[-1] if earlier else None
        j["travel_min"] = own["travel_min"] if own else None
        j["onsite_min"] = own["onsite_min"] if own else None
