"""Roster approval: the forecast's roster proposal, approved by a dispatcher, becomes shifts dispatch plans with.

``roster_suggestion`` (planning.service) says how many technicians, with which skill pairs, each region needs
per shift of the next operational day. Until issue #16 item 4 that stayed advice. Now a dispatcher approves it:
``proposal`` names technicians for each cell (same region, skill pairs of the mix first, nobody absent during
the shift, at most one shift each per day), and ``approve`` writes them as ``roster_shifts`` (migration 0810),
audited, replacing an earlier approval of the same day. Dispatch reads a technician's approved shift in place
of their weekly pattern (dispatch/queries.sql ``field_technicians``), and the change counter's trigger makes it
re-plan at once. A cell with fewer technicians than needed is approved short and says so (``short``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from core import audit
from core.audit import Actor
from core.sql import Queries
from planning.capacity import SHIFTS
from planning.errors import StaleProposal

Q = Queries(__file__)


@dataclass(frozen=True)
class RosterShift:
    technician_id: int
    code: str
    region: str
    shift: str
    starts_at: datetime
    ends_at: datetime


def shift_span(day_start: datetime, shift: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The shift's instants on the operational day starting at ``day_start`` (local wall-clock hours)."""
    s = next(x for x in SHIFTS if x.name == shift)
    midnight = datetime.combine(day_start.astimezone(tz).date(), datetime.min.time(), tz)
    return (midnight + timedelta(hours=s.start_h)).astimezone(tz), (midnight + timedelta(hours=s.end_h)).astimezone(tz)


def assign(rows: Sequence[Mapping[str, Any]], technicians: Sequence[Mapping[str, Any]],
           absent: Mapping[int, Sequence[tuple[datetime, datetime]]], day_start: datetime,
           tz: ZoneInfo) -> tuple[list[RosterShift], list[dict[str, Any]]]:
    """Technicians for each proposal row (pure). Per cell: one technician per skill pair of the mix holding both
    skills, then anyone of the region; never someone absent during the shift or already on a shift that day.
    Returns the shifts and the cells left short."""
    taken: set[int] = set()
    shifts: list[RosterShift] = []
    short: list[dict[str, Any]] = []
    for row in sorted(rows, key=lambda r: (r["region"], [s.name for s in SHIFTS].index(r["shift"]))):
        a, b = shift_span(day_start, row["shift"], tz)
        pool = [t for t in technicians if t["region"] == row["region"] and int(t["id"]) not in taken
                and not any(x < b and a < y for x, y in absent.get(int(t["id"]), ()))]
        chosen: list[Mapping[str, Any]] = []
        for pair, n in sorted(row.get("skill_mix", {}).items()):
            need = set(pair.split("+"))
            chosen += [t for t in pool if need <= set(t["skills"]) and t not in chosen][:n]
        chosen += [t for t in pool if t not in chosen][:max(0, int(row["technicians_needed"]) - len(chosen))]
        chosen = chosen[:int(row["technicians_needed"])]
        for t in chosen:
            taken.add(int(t["id"]))
            shifts.append(RosterShift(int(t["id"]), t["code"], row["region"], row["shift"], a, b))
        if len(chosen) < int(row["technicians_needed"]):
            short.append({"region": row["region"], "shift": row["shift"], "needed": int(row["technicians_needed"]),
                          "assigned": len(chosen)})
    return shifts, short


def _view(s: RosterShift) -> dict[str, Any]:
    return {"technician_id": s.technician_id, "code": s.code, "region": s.region, "shift": s.shift,
            "starts_at": s.starts_at, "ends_at": s.ends_at}


def proposal(conn: psycopg.Connection, now: datetime, tz: str) -> dict[str, Any]:
    """The roster suggestion with named technicians, and what is already approved for that day."""
    from planning.service import roster_suggestion

    zone = ZoneInfo(tz)
    sug = roster_suggestion(conn, now, tz)
    day_start = sug["day_start"]
    with conn.cursor(row_factory=dict_row) as cur:
        techs = cur.execute(Q.roster_technicians).fetchall()
        absent: dict[int, list[tuple[datetime, datetime]]] = {}
        for r in cur.execute(Q.roster_absences, {"from": day_start, "to": day_start + timedelta(days=1, hours=6)}):
            absent.setdefault(int(r["technician_id"]), []).append((r["starts_at"], r["ends_at"]))
        approved = cur.execute(Q.approved_shifts, {"day": day_start.astimezone(zone).date()}).fetchall()
    shifts, short = assign(sug["rows"], techs, absent, day_start, zone)
    return {"day_start": day_start, "timezone": tz, "rows": sug["rows"], "reason": sug.get("reason"),
            "shifts": [_view(s) for s in shifts], "short": short, "approved": approved}


def approve(conn: psycopg.Connection, now: datetime, tz: str, day_start: datetime, actor: Actor, *,
            client_ip: str | None = None) -> dict[str, Any]:
    """Write the current proposal for the day starting at ``day_start`` as shifts (replacing an earlier approval of
    that day), audited. ``day_start`` is the proposal the dispatcher looked at: another day is refused (stale).
    Caller commits."""
    p = proposal(conn, now, tz)
    if not p["rows"]:
        raise StaleProposal(p.get("reason") or "no roster proposal to approve (no forecast)")
    if abs((p["day_start"] - day_start).total_seconds()) > 1:
        raise StaleProposal(f"the proposal is for the day starting {p['day_start'].isoformat()}, not "
                            f"{day_start.isoformat()}: reload the planning page")
    day = p["day_start"].astimezone(ZoneInfo(tz)).date()
    replaced = conn.execute(Q.delete_day_shifts, {"day": day}).rowcount
    with conn.cursor() as cur:
        cur.executemany(Q.insert_shift, [
            {"technician_id": s["technician_id"], "day": day, "region": s["region"], "shift": s["shift"],
             "starts_at": s["starts_at"], "ends_at": s["ends_at"], "by": actor.name, "at": now} for s in p["shifts"]])
    audit.record(conn, actor, "planning.roster.approved", "roster", day.isoformat(), {
        "day_start": p["day_start"].isoformat(), "timezone": tz, "replaced": replaced, "short": p["short"],
        "shifts": [{"code": s["code"], "shift": s["shift"], "starts_at": s["starts_at"].isoformat(),
                    "ends_at": s["ends_at"].isoformat()} for s in p["shifts"]]}, client_ip=client_ip, at=now)
    return {"day": day, "day_start": p["day_start"], "created": len(p["shifts"]), "replaced": replaced,
            "short": p["short"], "shifts": p["shifts"]}


def rostered_on(conn: psycopg.Connection, day_start: datetime, tz: str) -> dict[int, list[tuple[datetime, datetime]]]:
    """Approved shifts of the operational day, per technician: the roster's "rostered" count reads these in
    place of the weekly pattern for the technicians they name."""
    out: dict[int, list[tuple[datetime, datetime]]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for r in cur.execute(Q.approved_shifts, {"day": day_start.astimezone(ZoneInfo(tz)).date()}):
            out.setdefault(int(r["technician_id"]), []).append((r["starts_at"], r["ends_at"]))
    return out
