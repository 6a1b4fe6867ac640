"""Raw facts for the KPIs, read from the tables that record them (SQL in queries.sql beside this module)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, time

import psycopg
from psycopg.rows import dict_row

from core.sql import Queries
from kpis.definitions import PERSON_ACK_SOURCES, RESPONSE_KINDS
from kpis.models import IncidentFacts, NpsAnswer, TechnicianFacts, Visit

Q = Queries(__file__)


def _visit(r: dict) -> Visit:
    return Visit(int(r["id"]), int(r["incident_id"]), r["technician_id"], r["status"], tuple(r["required_skills"]),
                 r["created_at"], r["departed_at"], r["arrived_at"], r["completed_at"], r["outcome"])


def load_visits(conn: psycopg.Connection, start: datetime, end: datetime, incident_ids: list[int]) -> list[Visit]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(Q.visits, {"start": start, "end": end, "incident_ids": incident_ids}).fetchall()
    return [_visit(r) for r in rows]


def load_incidents(conn: psycopg.Connection, start: datetime, end: datetime, customer_id: int | None = None
                   ) -> tuple[list[IncidentFacts], list[Visit]]:
    """Incidents opened in [start, end), each with its visits, plus every visit relevant to the window."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(Q.incidents, {"start": start, "end": end, "customer_id": customer_id,
                                         "response_kinds": list(RESPONSE_KINDS),
                                         "ack_sources": list(PERSON_ACK_SOURCES)}).fetchall()
    visits = load_visits(conn, start, end, [int(r["id"]) for r in rows])
    pauses, windows = load_pauses(conn, end, [int(r["id"]) for r in rows])
    by_incident: dict[int, list[Visit]] = defaultdict(list)
    for v in visits:
        by_incident[v.incident_id].append(v)
    incidents = [IncidentFacts(int(r["id"]), int(r["customer_id"]), r["region"], r["tier"], r["source"],
                               r["opened_at"], r["onsite_due"], r["resolved_at"], bool(r["remote_fix_verified"]),
                               r["responded_at"], tuple(by_incident.get(int(r["id"]), ())),
                               tuple(pauses.get(int(r["id"]), ())), tuple(windows.get(int(r["id"]), ())))
                 for r in rows]
    return incidents, visits


def load_pauses(conn: psycopg.Connection, end: datetime, incident_ids: list[int]
                ) -> tuple[dict[int, list[tuple[float, float]]], dict[int, list[tuple[float, float]]]]:
    """Per incident: the SLA pauses its contract allowed (epoch start, end; inf while running), and the windows
    its customer chose (epoch earliest, latest start)."""
    pauses: dict[int, list[tuple[float, float]]] = defaultdict(list)
    windows: dict[int, list[tuple[float, float]]] = defaultdict(list)
    if not incident_ids:
        return pauses, windows
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(Q.pauses, {"end": end, "incident_ids": incident_ids}).fetchall()
    for r in rows:
        stop = r["ended_at"].timestamp() if r["ended_at"] is not None else math.inf
        pauses[int(r["incident_id"])].append((r["started_at"].timestamp(), stop))
        if r["window_start"] is not None:
            windows[int(r["incident_id"])].append((r["window_start"].timestamp(), r["window_end"].timestamp()))
    return pauses, windows


def _breaks(raw: list[dict]) -> tuple[tuple[time, int], ...]:
    return tuple((time.fromisoformat(str(b["start"])), int(b["minutes"])) for b in raw)


def load_technicians(conn: psycopg.Connection) -> list[TechnicianFacts]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(Q.technicians).fetchall()
    return [TechnicianFacts(int(r["id"]), r["code"], r["region"], frozenset(r["skills"]), r["shift_start"],
                            r["shift_end"], _breaks(r["breaks"]), r["timezone"]) for r in rows]


def technicians_on_a_job(conn: psycopg.Connection) -> set[int]:
    return {int(r[0]) for r in conn.execute(Q.technicians_on_a_job).fetchall()}


def load_answers(conn: psycopg.Connection, start: datetime, end: datetime, customer_id: int | None = None
                 ) -> list[NpsAnswer]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(Q.nps_answers, {"start": start, "end": end, "customer_id": customer_id}).fetchall()
    return [NpsAnswer(int(r["customer_id"]), r["region"], r["tier"], int(r["score"]), r["answered_at"])
            for r in rows]
