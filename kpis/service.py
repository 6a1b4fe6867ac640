"""Use cases: the KPI report (page, API, CSV, bench) and today's strip on the board, from one set of facts."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from kpis import repository as repo
from kpis.definitions import on_duty
from kpis.models import Group, Promise, Tally
from kpis.tally import By, last_days, rates, tally

# At most this many days per report: 30 is the page's trend; a quarter bounds what one request may scan.
MAX_DAYS = 92


@dataclass(frozen=True)
class Report:
    now: datetime
    promise: Promise
    by: str
    rows: list[dict[str, Any]]  # one per (day, slice), oldest first
    summary: dict[str, Any]  # the whole window for all slices together


def _row(g: Group, t: Tally) -> dict[str, Any]:
    return {"day": g.day.isoformat(), "region": g.region, "tier": g.tier, "customer_id": g.customer_id,
            **rates(t)}


def report(conn: psycopg.Connection, *, now: datetime, promise: Promise, tz: ZoneInfo, days: int = 30,
           by: By = "all", customer_id: int | None = None) -> Report:
    """KPIs per day for the last ``days`` days up to ``now``, per slice; ``customer_id`` scopes to one
    customer (a customer sees only their own incidents and answers, and no technician figures). Days are the
    organisation's (``tz``, setting org.timezone): "today" starts at its midnight, and the times in the report
    carry its offset."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be 1..{MAX_DAYS}")
    now = now.astimezone(tz)
    day_list = last_days(now, days)
    start = datetime.combine(day_list[0], datetime.min.time(), tz)
    end = now + timedelta(microseconds=1)
    incidents, visits = repo.load_incidents(conn, start, end, customer_id)
    answers = repo.load_answers(conn, start, end, customer_id)
    technicians = [] if customer_id is not None else repo.load_technicians(conn)
    groups = tally(incidents, answers, technicians, visits, promise=promise, days=day_list, now=now, tz=tz, by=by)
    total = Tally()
    for t in groups.values():
        total.add(t)
    # idle minutes per technician over the window: the technicians are the same people every day
    total.technicians = len(technicians)
    rows = [_row(g, t) for g, t in sorted(groups.items(), key=lambda kv: (kv[0].day, kv[0].region, kv[0].tier,
                                                                          kv[0].customer_id or 0))]
    summary = {"from": start.isoformat(), "to": now.isoformat(), **rates(total)}
    return Report(now, promise, by, rows, summary)


def since(conn: psycopg.Connection, *, start: datetime, now: datetime, promise: Promise, tz: ZoneInfo) -> Report:
    """The report over the organisation's days from ``start``'s day to ``now`` (a run of the demo: the console's
    status line and the demo's summary read the same figures)."""
    days = (now.astimezone(tz).date() - start.astimezone(tz).date()).days + 1
    return report(conn, now=now, promise=promise, tz=tz, days=min(MAX_DAYS, days))


def strip(conn: psycopg.Connection, *, now: datetime, promise: Promise, tz: ZoneInfo) -> dict[tuple[str, str], dict]:
    """Today's KPIs per (region, tier), per region ('*' tier) and overall ('*', '*'): the board's strip. Today is
    the organisation's day (``tz``)."""
    now = now.astimezone(tz)
    day = now.date()
    start = datetime.combine(day, datetime.min.time(), tz)
    end = now + timedelta(microseconds=1)
    incidents, visits = repo.load_incidents(conn, start, end)
    answers = repo.load_answers(conn, start, end)
    technicians = repo.load_technicians(conn)
    out: dict[tuple[str, str], dict] = {}
    for by in ("all", "region", "region_tier"):
        for g, t in tally(incidents, answers, technicians, visits, promise=promise, days=[day], now=now, tz=tz,
                          by=by).items():  # type: ignore[arg-type]
            out[(g.region, g.tier)] = rates(t)
    return out


@dataclass(frozen=True)
class Duty:
    """Technicians right now: on a job (travelling or on site), on duty and free, and off duty (outside their
    shift or on a break) with nothing in hand. "Free" alone hid a night with nobody on shift behind a queue of
    waiting jobs."""

    busy: int
    free: int
    off: int


def duty_now(conn: psycopg.Connection, *, now: datetime, tz: ZoneInfo) -> Duty:
    """Who is on a job, free or off duty at ``now``, by the shifts the idle-while-waiting KPI also uses."""
    working = repo.technicians_on_a_job(conn)
    t = now.timestamp()
    busy = free = off = 0
    for tech in repo.load_technicians(conn):
        zone = ZoneInfo(tech.timezone) if tech.timezone else tz
        if tech.technician_id in working:
            busy += 1
        elif on_duty(tech, t - 1.0, t, zone):
            free += 1
        else:
            off += 1
    return Duty(busy, free, off)


CSV_COLUMNS = ("day", "region", "tier", "customer_id", "incidents", "response_15min_rate", "onsite_2h_rate",
               "onsite_contract_rate", "repair_24h_rate", "first_visit_fix_rate", "parts_at_first_visit_rate",
               "remote_fix_rate", "nps", "p90_time_to_site_min", "idle_while_waiting_min_per_technician")


def to_csv(rep: Report) -> str:
    """The report's rows as CSV (one line per day and slice; empty cell = nothing judged)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rep.rows:
        writer.writerow(["" if row[c] is None else (round(row[c], 4) if isinstance(row[c], float) else row[c])
                         for c in CSV_COLUMNS])
    return buf.getvalue()
