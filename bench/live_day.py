"""Live day: the real loops on a scratch database at a speed-up; KPIs from raw timestamps vs what the product reports.

Run: QUIETFIX_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/qf_scratch QUIETFIX_API__PORT=8104 \\
     python -m bench.live_day --seed 7 --hours 12 [--policy optimiser|nearest] [--speed 240]
     [--technicians 12] [--roster day|round-the-clock]

The demo's default world (60 devices, 12 technicians, their tiers and contracts, shifts with breaks) runs through
``quietfix.demo.run_demo``: fleet → MQTT → ingest → diagnose → dispatch (the chosen policy) → notify → API, with
the field simulation that can fail (quietfix/fieldsim.py). When the simulated hours are over, the loops stop and,
while the API still serves, this script (1) reads ``GET /api/kpis`` as the dispatcher, ``at`` a fixed instant,
and (2) computes the same KPIs from the raw timestamps with its own SQL and an exact sweep for
idle-while-waiting (deliberately not the kpis package's code). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import sys
import time as wall
import urllib.parse
import urllib.request
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from core.clock import ScaledClock
from core.db import drop_database
from core.settings import Settings, load_settings
from dispatch import haversine_km
from dispatch.models import Location
from quietfix.demo import DemoOptions, run_demo
from quietfix.fieldsim import ROSTERS
from quietfix.seed import DEMO_PASSWORD

KEYS = ("onsite_2h_rate", "p90_time_to_site_min", "idle_while_waiting_min_per_technician", "first_visit_fix_rate",
        "repair_24h_rate", "response_15min_rate")
PLAN_KINDS = ("visit_planned", "technician_assigned", "eta_changed")


def _rows(conn: psycopg.Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


def _rate(outcomes: list[bool | None]) -> float | None:
    judged = [o for o in outcomes if o is not None]
    return sum(judged) / len(judged) if judged else None


def _judge(event: datetime | None, start: datetime, limit: timedelta, at: datetime) -> bool | None:
    if event is not None and event <= at:
        return event - start <= limit
    return False if at - start > limit else None


def as_of(visits: list[dict[str, Any]], at: datetime) -> list[dict[str, Any]]:
    """Visit rows as known at ``at``: a later departure, arrival or completion has not happened yet (a job
    cancelled after its technician set off later than ``at`` was still waiting unstarted at ``at``)."""
    keys = ("departed_at", "arrived_at", "completed_at")
    return [{**v, **{k: (v[k] if v[k] is not None and v[k] <= at else None) for k in keys}} for v in visits]


def measure(conn: psycopg.Connection, at: datetime, road_factor: float, tz: ZoneInfo) -> dict[str, Any]:
    """The KPIs from raw rows, as of ``at``; independent of the kpis package (same definitions, docs/kpis.md)."""
    incidents = _rows(conn, """
        SELECT i.id, i.source, i.opened_at,
               CASE WHEN i.status IN ('resolved_remote', 'resolved_onsite', 'closed')
                    THEN coalesce(i.resolved_at, i.closed_at) END AS resolved_at,
               (SELECT min(d.sent_at) FROM notifications n JOIN notification_deliveries d ON d.notification_id = n.id
                WHERE n.incident_id = i.id AND n.kind = ANY(%(kinds)s)) AS delivered_at
        FROM incidents i WHERE i.source <> 'planning' AND i.opened_at <= %(at)s""", kinds=list(PLAN_KINDS), at=at)
    visits = _rows(conn, """
        SELECT id, incident_id, technician_id, status, required_skills, created_at, departed_at, arrived_at,
               completed_at, outcome, lat, lon
        FROM work_orders WHERE kind = 'corrective' AND created_at <= %(at)s ORDER BY id""", at=at)
    visits = as_of(visits, at)
    by_inc: dict[int, list[dict[str, Any]]] = {}
    for v in visits:
        by_inc.setdefault(v["incident_id"], []).append(v)
    onsite, response, repair, ftf, to_site = [], [], [], [], []
    for inc in incidents:
        vs = [v for v in by_inc.get(inc["id"], []) if v["status"] != "cancelled"]
        # the first arrival of any visit, a later-cancelled one too: someone was on site (docs/kpis.md)
        arrived = sorted((v for v in by_inc.get(inc["id"], []) if v["arrived_at"] is not None
                          and v["arrived_at"] <= at),
                         key=lambda v: v["arrived_at"])
        first = arrived[0] if arrived else None
        if vs:
            onsite.append(_judge(first["arrived_at"] if first else None, inc["opened_at"], timedelta(hours=2), at))
            if first:
                to_site.append((first["arrived_at"] - inc["opened_at"]).total_seconds() / 60)
        if vs or inc["source"] != "telemetry":
            told = [t for t in (inc["delivered_at"], inc["opened_at"] if inc["source"] == "phone" else None) if t]
            response.append(_judge(min(told) if told else None, inc["opened_at"], timedelta(minutes=15), at))
        repair.append(_judge(inc["resolved_at"], inc["opened_at"], timedelta(hours=24), at))
        if first and first["completed_at"] is not None and first["completed_at"] <= at:
            ftf.append(first["status"] == "completed" and first["outcome"] in (None, "fixed"))
    to_site.sort()
    p90 = to_site[max(1, math.ceil(0.9 * len(to_site))) - 1] if to_site else None
    idle, km = _idle_and_km(conn, visits, at, road_factor, tz)
    return {"jobs": sum(1 for inc in incidents if any(v["status"] != "cancelled" for v in by_inc.get(inc["id"], []))),
            "onsite_2h_rate": _rate(onsite), "p90_time_to_site_min": p90,
            "idle_while_waiting_min_per_technician": idle, "km_per_job": km,
            "first_visit_fix_rate": _rate(ftf), "repair_24h_rate": _rate(repair),
            "response_15min_rate": _rate(response), "incidents": len(incidents),
            "visits": sum(1 for v in visits if v["arrived_at"] is not None and v["arrived_at"] <= at)}


def _on_duty(t: dict[str, Any], moment: datetime, tz: ZoneInfo) -> bool:
    local = moment.astimezone(tz)
    tod = local.time()
    start, end = t["shift_start"], t["shift_end"]
    if not (start == time(0) and end >= time(23, 59)):
        inside = start <= tod < end if start < end else (tod >= start or tod < end)
        if not inside:
            return False
    for b in t["breaks"]:
        b0 = datetime.combine(local.date(), time.fromisoformat(b["start"]), tz)
        for day in (-1, 0):
            s = b0 + timedelta(days=day)
            if s <= local < s + timedelta(minutes=int(b["minutes"])):
                return False
    return True


def _zone(t: dict[str, Any], fallback: ZoneInfo) -> ZoneInfo:
    """A technician's shift and breaks are times of day in their own zone (the loop's zone when unset)."""
    return ZoneInfo(t["timezone"]) if t.get("timezone") else fallback


def _edges(techs: list[dict[str, Any]], visits: list[dict[str, Any]], t0: datetime, at: datetime,
           tz: ZoneInfo) -> list[datetime]:
    """Every instant in (t0, at) at which anything idle-while-waiting depends on can change: a job created,
    started or completed, a shift or a break beginning or ending. Between two edges nothing changes, so the
    state at a segment's middle holds for the whole segment: the sweep is exact, not sampled."""
    points = {t0, at}
    for v in visits:
        points.update(x for x in (v["created_at"], v["departed_at"], v["arrived_at"], v["completed_at"]) if x)
    first, last = t0.astimezone(tz).date() - timedelta(days=1), at.astimezone(tz).date() + timedelta(days=1)
    day = first
    while day <= last:
        for t in techs:
            t_tz = _zone(t, tz)
            for tod in (t["shift_start"], t["shift_end"]):
                points.add(datetime.combine(day, tod, t_tz))
            for b in t["breaks"]:
                s = datetime.combine(day, time.fromisoformat(b["start"]), t_tz)
                points.update((s, s + timedelta(minutes=int(b["minutes"]))))
        day += timedelta(days=1)
    return sorted(p for p in points if t0 <= p <= at)


def idle_while_waiting_min(techs: list[dict[str, Any]], visits: list[dict[str, Any]], at: datetime,
                           tz: ZoneInfo) -> float:
    """Idle-while-waiting minutes per technician up to ``at`` by an exact sweep over the instants where the state
    can change (the kpis package integrates interval unions; this walks segments with its own predicates)."""
    if not techs or not visits:
        return 0.0
    t0 = min(v["created_at"] for v in visits)
    mine = {t["id"]: [v for v in visits if v["technician_id"] == t["id"]] for t in techs}
    idle_s = 0.0
    for a, b in itertools.pairwise(_edges(techs, visits, t0, at, tz)):
        sample = a + (b - a) / 2  # the state is constant on (a, b)
        waiting = [set(v["required_skills"]) for v in visits
                   if v["created_at"] <= sample and not (v["status"] == "cancelled" and v["departed_at"] is None
                                                         and v["arrived_at"] is None)
                   and sample < min(v["departed_at"] or v["arrived_at"] or at, at)]
        if not waiting:
            continue
        for t in techs:
            busy = any((v["departed_at"] or v["arrived_at"]) is not None
                       and (v["departed_at"] or v["arrived_at"]) <= sample < min(v["completed_at"] or at, at)
                       for v in mine[t["id"]])
            if not busy and any(w <= set(t["skills"]) for w in waiting) and _on_duty(t, sample, _zone(t, tz)):
                idle_s += (b - a).total_seconds()
    return idle_s / 60.0 / len(techs)


def _idle_and_km(conn: psycopg.Connection, visits: list[dict[str, Any]], at: datetime, road_factor: float,
                 tz: ZoneInfo) -> tuple[float | None, float | None]:
    """Idle-while-waiting (``idle_while_waiting_min``) and kilometres driven: home → each site in order of
    arrival, haversine × road factor, per visit made."""
    techs = _rows(conn, "SELECT id, skills, shift_start, shift_end, breaks, home_lat, home_lon, timezone "
                        "FROM technicians")
    if not techs or not visits:
        return (0.0 if techs else None), None
    km, made = 0.0, 0
    for t in techs:
        here = Location(t["home_lat"], t["home_lon"])
        for v in sorted((v for v in visits if v["technician_id"] == t["id"] and v["arrived_at"] is not None
                         and v["arrived_at"] <= at), key=lambda v: v["arrived_at"]):
            there = Location(v["lat"], v["lon"])
            km += haversine_km(here, there) * road_factor
            here, made = there, made + 1
    return idle_while_waiting_min(techs, visits, at, tz), (km / made if made else None)


def reported(settings: Settings, at: datetime, days: int) -> dict[str, Any]:
    """What the product itself says: GET /api/kpis as the dispatcher, as of ``at``."""
    base = f"http://{settings.api.host}:{settings.api.port}"
    req = urllib.request.Request(f"{base}/api/auth/token", method="POST", headers={"Content-Type": "application/json"},
                                 data=json.dumps({"username": "dispatcher", "password": DEMO_PASSWORD}).encode())
    with urllib.request.urlopen(req, timeout=30) as r:
        token = json.load(r)["access_token"]
    query = urllib.parse.urlencode({"days": days, "at": at.isoformat()})
    req = urllib.request.Request(f"{base}/api/kpis?{query}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)["summary"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--policy", choices=("optimiser", "nearest"), default="optimiser")
    # 240x: 12 simulated hours in 3 real minutes; the dispatch loop's 1 s poll is 4 simulated minutes.
    ap.add_argument("--speed", type=float, default=240.0)
    # The world is the demo's (12 technicians on day shifts); these change it for capacity questions
    # (how many technicians keep the promise round the clock), and the first line says what ran.
    ap.add_argument("--technicians", type=int, default=DemoOptions.technicians)
    ap.add_argument("--roster", choices=ROSTERS, default=DemoOptions.roster)
    ap.add_argument("--replenishment", action="store_true",
                    help="run the daily replenishment review and a simulated stores clerk (vans refilled)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = load_settings(log_json=False)
    dbname = urllib.parse.urlparse(settings.database_url).path.lstrip("/")
    if dbname in ("", "quietfix"):
        ap.error("set QUIETFIX_DATABASE_URL to a scratch database: the run resets it")
    settings.dispatch.planner = args.policy
    # A fresh database per run: the demo's reset keeps the diagnose loop's progress through ingest batches, so a
    # second run on the same database would skip its first batches (and a previous run's rows could leak in).
    drop_database(settings.database_url)
    out: dict[str, Any] = {}
    started = wall.perf_counter()

    def read_back(clock: ScaledClock) -> None:
        at = datetime.fromtimestamp(clock.now(), UTC).replace(microsecond=0)
        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute("SELECT min(opened_at) FROM incidents").fetchone()
            first = (row[0] if row else None) or at
        org = ZoneInfo(settings.org.timezone)  # the KPIs' days are the organisation's
        days = (at.astimezone(org).date() - first.astimezone(org).date()).days + 1
        out["reported"] = {k: v for k, v in reported(settings, at, days).items() if k in KEYS}
        with psycopg.connect(settings.database_url) as conn:
            out["measured"] = measure(conn, at, settings.dispatch.road_factor, ZoneInfo(settings.dispatch.timezone))

    options = DemoOptions(seconds=args.hours * 3600 / args.speed, speed=args.speed, seed=args.seed,
                          before_api_stop=read_back, id_prefix=f"ld{args.seed}{args.policy[0]}-",
                          technicians=args.technicians, roster=args.roster, replenishment=args.replenishment)
    print(f"live_day: seed {args.seed}, {args.hours} h at {args.speed}x, policy {args.policy}, "
          f"{args.technicians} technicians on the {args.roster} roster, "
          f"replenishment {'on' if args.replenishment else 'off'}, db {dbname}", file=sys.stderr)
    demo = run_demo(settings, options)
    measured = out["measured"]
    diffs = {k: (None if measured[k] is None or out["reported"].get(k) is None
                 else round(abs(measured[k] - out["reported"][k]), 4)) for k in KEYS}
    print(f"demo: {demo}", file=sys.stderr)
    print(f"measured: {measured}", file=sys.stderr)
    print(f"reported - measured: {diffs} (real time {wall.perf_counter() - started:.0f} s)", file=sys.stderr)
    result = {"policy": args.policy, "seed": args.seed, "hours": args.hours, "speed": args.speed,
              "technicians": args.technicians, "roster": args.roster, "replenishment": args.replenishment,
              **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in measured.items()},
              "failed_visits": demo.get("failed_visits"),
              "reported": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out["reported"].items()},
              "abs_diff": diffs}
    if not demo.get("readings_stored") or not measured["incidents"]:
        # A day in which nothing reached the database measures the wiring, not dispatch (a broker down: every
        # KPI None and idle 0.0 looked like a quiet day). Say so in the JSON line and fail.
        result["error"] = (f"nothing to measure: {demo.get('readings_stored', 0)} readings stored, "
                           f"{measured['incidents']} incidents (is the broker up? `make setup` starts it)")
    print(json.dumps(result))
    if "error" in result:
        sys.exit(1)


if __name__ == "__main__":
    main()
