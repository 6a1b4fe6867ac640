"""SQL for live re-planning: load the planner's rows, store a plan, read the current plan, dispatcher controls.

Repositories never commit (the caller owns the transaction). Rows come back as the planner's dataclasses
(``dispatch.planner``) or plain dicts for the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from core.clock import to_datetime
from core.sql import Queries
from dispatch.models import Plan, Stop
from dispatch.planner import DepotRow, OrderRow, TechRow

Q = Queries(__file__)


@dataclass(frozen=True)
class StoredPlan:
    id: int
    created_at: datetime
    plan: Plan


def _rows(conn: psycopg.Connection, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params or {}).fetchall()


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def change_cursor(conn: psycopg.Connection, now: datetime) -> tuple[int, int]:
    row = conn.execute(Q.change_cursor, {"now": now}).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def as_dispatch_writer(conn: psycopg.Connection) -> None:
    """Mark this transaction's writes as the planner's own: they do not move the change cursor."""
    conn.execute(Q.mark_dispatch_writer)


def try_lock_planner(conn: psycopg.Connection) -> bool:
    row = conn.execute(Q.lock_planner).fetchone()
    return bool(row and row[0])


def _parse_time(text: str) -> time:
    return time.fromisoformat(text)


def load_orders(conn: psycopg.Connection) -> list[OrderRow]:
    return [OrderRow(
        id=r["id"], status=r["status"], lat=r["lat"], lon=r["lon"], required_skills=tuple(r["required_skills"]),
        estimated_minutes=r["estimated_minutes"], tier=r["tier"], severity=r["severity"],
        created_at=r["created_at"].timestamp(), onsite_due=r["onsite_due"].timestamp(),
        technician_id=r["technician_id"], assigned_at=_epoch(r["assigned_at"]), eta=_epoch(r["eta"]),
        arrived_at=_epoch(r["arrived_at"]), pinned_technician_id=r["pinned_technician_id"], locked=r["locked"],
        required_parts=r["required_parts"], kind=r["kind"], earliest_start=_epoch(r["earliest_start"]),
        latest_start=_epoch(r["latest_start"]), onsite_target=_epoch(r["onsite_target"]), region=r["region"],
        service_windows=tuple((float(a), float(b)) for a, b in r["service_windows"]) if r["service_windows"] else None)
        for r in _rows(conn, Q.active_orders)]


def emergency_arrivals(conn: psycopg.Connection, since: datetime) -> list[float]:
    """Creation times (epoch s) of emergencies since ``since``, for the preventive gate's arrival rate."""
    return [r["created_at"].timestamp() for r in _rows(conn, Q.emergency_arrivals, {"since": since})]


def load_technicians(conn: psycopg.Connection, skus: list[str], at: datetime | None = None) -> list[TechRow]:
    """Technicians as the planner sees them at ``at`` (absent ones as 'off'; default: the database's now)."""
    vans: dict[int, dict[str, int]] = {}
    if skus:
        for r in _rows(conn, Q.van_stock, {"skus": skus}):
            vans.setdefault(r["technician_id"], {})[r["sku"]] = int(r["available"])
    return [TechRow(
        id=r["id"], state=r["state"], lat=r["lat"], lon=r["lon"], home_lat=r["home_lat"], home_lon=r["home_lon"],
        skills=tuple(r["skills"]), shift_start=r["shift_start"], shift_end=r["shift_end"],
        breaks=tuple((_parse_time(b["start"]), int(b["minutes"])) for b in r["breaks"]),
        van_stock=vans.get(r["id"], {}), code=r["code"], name=r["name"], region=r["region"], timezone=r["timezone"])
        for r in _rows(conn, Q.field_technicians, {"at": at or datetime.now(UTC)})]


def load_depots(conn: psycopg.Connection, skus: list[str]) -> list[DepotRow]:
    if not skus:
        return []
    depots: dict[int, tuple[float, float, dict[str, int]]] = {}
    for r in _rows(conn, Q.depot_stock, {"skus": skus}):
        depots.setdefault(r["id"], (r["lat"], r["lon"], {}))[2][r["sku"]] = int(r["available"])
    return [DepotRow(i, lat, lon, stock) for i, (lat, lon, stock) in depots.items()]


def current_plan(conn: psycopg.Connection) -> StoredPlan | None:
    """The current plan as a dispatch ``Plan`` (for warm starts and the dropped-reason history)."""
    head = _rows(conn, Q.current_plan)
    if not head:
        return None
    h = head[0]
    routes: dict[str, list[Stop]] = {}
    for r in _rows(conn, Q.plan_stops, {"plan_id": h["id"], "tid": None}):
        skus = tuple(sorted((k, int(v)) for k, v in r["skus"].items()))
        routes.setdefault(str(r["technician_id"]), []).append(Stop(
            r["kind"], str(r["work_order_id"]),
            str(r["stock_location_id"]) if r["stock_location_id"] is not None else None, skus,
            r["eta"].timestamp(), r["start_at"].timestamp(), r["end_at"].timestamp()))
    dropped = {str(r["work_order_id"]): r["reason"] for r in _rows(conn, Q.plan_drops, {"plan_id": h["id"]})}
    plan = Plan({k: tuple(v) for k, v in routes.items()}, dropped, h["objective"] or 0.0, h["kpis"])
    return StoredPlan(h["id"], h["created_at"], plan)


def save_plan(conn: psycopg.Connection, plan: Plan, *, at: datetime, trigger: str, planner: str,
              inputs: dict[str, Any], solve_seconds: float, keep_s: float) -> int:
    """Store ``plan`` as the one current plan; plans older than ``keep_s`` are pruned."""
    conn.execute(Q.retire_current_plan)
    objective = plan.objective if plan.objective != float("inf") else None
    row = conn.execute(Q.insert_plan, {
        "created_at": at, "trigger": trigger, "planner": planner, "objective": objective,
        "kpis": Jsonb(dict(plan.kpis)), "inputs": Jsonb(inputs), "solve_seconds": solve_seconds}).fetchone()
    assert row is not None
    plan_id = int(row[0])
    stops = [{"plan_id": plan_id, "technician_id": int(tech_id), "seq": seq, "kind": s.kind,
              "work_order_id": int(s.job_id) if s.job_id is not None else None,
              "stock_location_id": int(s.depot_id) if s.depot_id is not None else None,
              "skus": Jsonb(dict(s.skus)), "eta": to_datetime(s.eta), "start_at": to_datetime(s.start),
              "end_at": to_datetime(s.end)}
             for tech_id, route in plan.routes.items() for seq, s in enumerate(route)]
    with conn.cursor() as cur:
        if stops:
            cur.executemany(Q.insert_plan_stop, stops)
        drops = [{"plan_id": plan_id, "work_order_id": int(j), "reason": r} for j, r in plan.dropped.items()]
        if drops:
            cur.executemany(Q.insert_plan_drop, drops)
    conn.execute(Q.prune_plans, {"before": to_datetime(at.timestamp() - keep_s)})
    return plan_id


def order_for_notice(conn: psycopg.Connection, work_order_id: int) -> dict[str, Any] | None:
    rows = _rows(conn, Q.order_for_notice, {"work_order_id": work_order_id})
    return rows[0] if rows else None


def assign(conn: psycopg.Connection, work_order_id: int, technician_id: int, eta: datetime, at: datetime) -> bool:
    cur = conn.execute(Q.plan_assign, {"work_order_id": work_order_id, "technician_id": technician_id, "eta": eta,
                                       "at": at})
    return cur.rowcount == 1


def retime(conn: psycopg.Connection, work_order_id: int, eta: datetime) -> None:
    conn.execute(Q.plan_retime, {"work_order_id": work_order_id, "eta": eta})


def unassign(conn: psycopg.Connection, work_order_id: int) -> bool:
    return conn.execute(Q.plan_unassign, {"work_order_id": work_order_id}).rowcount == 1


def suspend_visit(conn: psycopg.Connection, work_order_id: int, technician_id: int, lat: float,
                  lon: float) -> dict[str, Any] | None:
    """Pull a technician off a preventive visit (preemption): the visit is open again, the technician free where
    they are. None when the visit is no longer theirs (completed or re-assigned meanwhile)."""
    rows = _rows(conn, Q.suspend_visit, {"work_order_id": work_order_id, "technician_id": technician_id})
    if not rows:
        return None
    conn.execute(Q.free_technician_at, {"technician_id": technician_id, "lat": lat, "lon": lon})
    return rows[0]


def sync_technician_states(conn: psycopg.Connection) -> None:
    conn.execute(Q.sync_technician_states)


# --- Dispatcher controls and the plan read model (api/routes/plans.py) -------------------------------------

def technician(conn: psycopg.Connection, technician_id: int) -> dict[str, Any] | None:
    rows = _rows(conn, Q.technician_exists, {"technician_id": technician_id})
    return rows[0] if rows else None


def pin(conn: psycopg.Connection, work_order_id: int, technician_id: int) -> dict[str, Any] | None:
    rows = _rows(conn, Q.pin_work_order, {"work_order_id": work_order_id, "technician_id": technician_id})
    return rows[0] if rows else None


def lock(conn: psycopg.Connection, work_order_id: int) -> dict[str, Any] | None:
    rows = _rows(conn, Q.lock_work_order, {"work_order_id": work_order_id})
    return rows[0] if rows else None


def release(conn: psycopg.Connection, work_order_id: int) -> dict[str, Any] | None:
    rows = _rows(conn, Q.release_work_order, {"work_order_id": work_order_id})
    return rows[0] if rows else None


def plan_view(conn: psycopg.Connection, technician_id: int | None) -> dict[str, Any] | None:
    """The current plan for the API: header, routes (one technician's when ``technician_id`` is given), drops."""
    head = _rows(conn, Q.current_plan)
    if not head:
        return None
    h = head[0]
    routes: dict[int, dict[str, Any]] = {}
    for r in _rows(conn, Q.plan_stops, {"plan_id": h["id"], "tid": technician_id}):
        route = routes.setdefault(r["technician_id"], {"technician_id": r["technician_id"],
                                                       "technician_code": r["technician_code"],
                                                       "technician_name": r["technician_name"], "stops": []})
        route["stops"].append({
            "seq": r["seq"], "kind": r["kind"], "work_order_id": r["work_order_id"],
            "work_order_status": r["status"], "device_id": r["device_id"],
            "stock_location_id": r["stock_location_id"], "depot_name": r["depot_name"], "skus": r["skus"],
            "lat": r["depot_lat"] if r["kind"] == "pickup" else r["lat"],
            "lon": r["depot_lon"] if r["kind"] == "pickup" else r["lon"],
            "eta": r["eta"], "start": r["start_at"], "end": r["end_at"]})
    drops = _rows(conn, Q.plan_drops, {"plan_id": h["id"]}) if technician_id is None else []
    return {"id": h["id"], "created_at": h["created_at"], "trigger": h["trigger"], "planner": h["planner"],
            "objective": h["objective"], "kpis": h["kpis"], "inputs": h["inputs"],
            "solve_seconds": h["solve_seconds"], "routes": list(routes.values()), "dropped": drops}


# --- Whole routes for the board and the phone -----------------------------------------------------------------

def route_stops(conn: psycopg.Connection, technician_id: int | None = None) -> list[dict[str, Any]]:
    """Every stop of the current plan (one technician's when given), in route order."""
    return _rows(conn, Q.route_stops, {"tid": technician_id})


def route_jobs(conn: psycopg.Connection, work_order_ids: list[int]) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in _rows(conn, Q.route_jobs, {"ids": work_order_ids})} if work_order_ids else {}


def on_route_of(conn: psycopg.Connection, technician_id: int, work_order_id: int) -> bool:
    return bool(_rows(conn, Q.on_route_of, {"tid": technician_id, "work_order_id": work_order_id}))
