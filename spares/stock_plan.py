"""Replenishment advice from the live ledger: reorder point and base stock per location and SKU, depot-to-depot
transfers of true excess, and each van's end-of-day restock list (``replenishment``, ``transfers``,
``van_restock``; re-exported by spares.service). Advice only until spares/orders.py turns it into orders.

Demand comes from three sources read here: past consumption (``_history``), parts of active work orders not yet
held (``_announced``) and predicted failures from diagnostics (``forecasts``: each assigned to the van of the
technician whose territory holds the asset and to the depot nearest the asset, for spares/stocking.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from core.clock import to_datetime
from core.settings import SparesSettings
from spares.allocation import km, missing
from spares.models import GeoPoint
from spares.repository import SparesRepository
from spares.stocking import StockingForecast


def _history(conn: psycopg.Connection, now: float, days: int) -> dict[tuple[int, str], list[float]]:
    start = to_datetime(now - days * 86_400.0).date()
    rows = SparesRepository(conn).rows("daily_consumption", {"since": to_datetime(now - days * 86_400.0)})
    out: dict[tuple[int, str], list[float]] = {}
    for r in rows:
        series = out.setdefault((int(r["location_id"]), r["sku"]), [0.0] * (days + 1))
        i = (r["day"] - start).days
        if 0 <= i <= days:
            series[i] += float(r["qty"])
    return out


def covered_parts(repo: SparesRepository, work_order_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per work order, the units of each SKU already held for it or on their way to it: what its required parts
    need not be sourced for again (the out-of-stock alert and the replenishment advice count the same)."""
    covered: dict[int, dict[str, int]] = defaultdict(dict)
    for name in ("active_plan_reservations", "open_shipments_for_work_orders"):
        for r in repo.rows(name, {"work_order_ids": list(work_order_ids)}):
            covered[r["work_order_id"]][r["sku"]] = covered[r["work_order_id"]].get(r["sku"], 0) + int(r["qty"])
    return covered


def _announced(conn: psycopg.Connection, depots: Mapping[int, GeoPoint]) -> dict[int, list[Any]]:
    """Parts of active work orders not yet held or shipped, each counted at the depot nearest its site."""
    from spares.replenishment import PredictedFailure

    repo = SparesRepository(conn)
    orders = repo.rows("active_parts_orders", {})
    if not orders or not depots:
        return {}
    ids = [o["id"] for o in orders]
    covered = covered_parts(repo, ids)
    out: dict[int, list[Any]] = defaultdict(list)
    for o in orders:
        site = GeoPoint(o["lat"], o["lon"])
        depot = min(depots, key=lambda d: (km(site, depots[d]), d))
        need = {str(k): int(v) for k, v in o["required_parts"].items() if int(v) > 0}
        for sku, q in missing(need, covered.get(o["id"], {})).items():
            out[depot].append(PredictedFailure(f"work_order:{o['id']}", sku, q, 1.0))
    return out


def _forecast_rows(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """diagnostics' predicted failures with a site and a time, parsed: asset, site, times, parts, handled."""
    from diagnostics import predicted_failures

    out = []
    for r in predicted_failures(conn):
        if r["failure_at"] is None or r["lat"] is None or r["lon"] is None:
            continue
        parts: dict[str, int] = defaultdict(int)
        for p in r["likely_parts"] or []:
            parts[str(p["sku"])] += int(p.get("qty", 1))
        out.append({"asset_id": f"asset:{r['device_id']}", "site": GeoPoint(r["lat"], r["lon"]),
                    "failure_at": r["failure_at"].timestamp(),
                    "earliest": r["failure_earliest_at"].timestamp() if r["failure_earliest_at"] else None,
                    "latest": r["failure_latest_at"].timestamp() if r["failure_latest_at"] else None,
                    "parts": dict(parts), "handled": r["open_incident_id"] is not None})
    return out


def _nearest(site: GeoPoint, points: Mapping[int, GeoPoint]) -> int | None:
    return min(points, key=lambda i: (km(site, points[i]), i)) if points else None


def forecasts(conn: psycopg.Connection, depots: Mapping[int, GeoPoint], vans: Mapping[int, GeoPoint],
              confidence: float) -> list[StockingForecast]:
    """Predicted failures for spares/stocking.py: each on the van whose base is nearest the asset (the
    technician whose territory holds it, as bench.spares_month assigns assets) and on the depot nearest the asset
    (where its work order's parts are counted too), with ``confidence`` that the listed parts are the right ones."""
    return [StockingForecast(r["asset_id"], _nearest(r["site"], vans), _nearest(r["site"], depots),
                             r["failure_at"], r["parts"], r["earliest"], r["latest"], confidence, r["handled"])
            for r in _forecast_rows(conn)]


def _predicted(conn: psycopg.Connection, depots: Mapping[int, GeoPoint], end: float) -> dict[int, list[Any]]:
    """Parts of predicted failures (diagnostics' RUL forecasts) likely to happen by ``end``, each counted at the
    depot nearest the asset (the same rule as work orders' parts), weighted by the chance it falls by ``end``.
    Assets with an open incident are skipped: their parts come with the work order, not counted twice.
    (The per-SKU rule; the cost-weighted levels use ``forecasts`` and spares/stocking.py.)"""
    from spares.replenishment import FailureForecast, forecast_demand

    if not depots:
        return {}
    out: dict[int, list[Any]] = defaultdict(list)
    for r in _forecast_rows(conn):
        forecast = FailureForecast(r["asset_id"], r["failure_at"], r["earliest"], r["latest"], r["parts"],
                                   r["handled"])
        demand = forecast_demand(forecast, end)
        if demand:
            out[_nearest(r["site"], depots)].extend(demand)  # type: ignore[index]
    return out


def replenishment(conn: psycopg.Connection, now: float, settings: SparesSettings | None = None,
                  location_id: int | None = None) -> list[dict[str, Any]]:
    """Reorder point and base stock per location and SKU, and what to order now.

    Demand = background (EWMA of the location's past daily consumption, ``history_days``) + announced demand
    (the parts of active work orders not yet held, at the depot nearest each site, probability 1) + predicted
    failures (diagnostics' RUL forecasts without an open incident: the knowledge base's parts for the likely fault
    mode, at the depot nearest the asset, each with the probability the failure falls within lead time + review;
    ``predicted`` = their expected units). Depots and the
    warehouse use the fill-rate target over lead time + review; vans (refilled nightly, lead time 0) the cycle
    service level over one day. ``order_qty`` = base stock - position when the position is at or below the
    reorder point, else 0 (an (s, S) policy). That is the per-SKU rule (``cost_weighted=False``); by default the
    levels are the cost-weighted ones bench.spares_month measures (spares/levels.py)."""
    from spares.replenishment import plan_target

    s = settings or SparesSettings()
    if s.cost_weighted:  # the rule bench.spares_month measures (spares/levels.py)
        from spares.levels import replenishment_cost_weighted

        return replenishment_cost_weighted(conn, now, s, location_id)
    repo = SparesRepository(conn)
    locations = {int(r["id"]): r for r in repo.rows("list_locations", {"kind": None})}
    levels = {(int(r["location_id"]), r["sku"]): r for r in repo.rows("stock", {"location_id": location_id,
                                                                                "kind": None, "sku": None})}
    history = _history(conn, now, s.history_days)
    depots = {i: GeoPoint(r["lat"], r["lon"]) for i, r in locations.items() if r["kind"] == "depot"}
    announced = _announced(conn, depots)
    predicted = _predicted(conn, depots, now + (s.depot_lead_time_days + s.review_days) * 86_400.0)
    keys = (set(levels) | set(history) | {(d, f.sku) for d, fs in announced.items() for f in fs}
            | {(d, f.sku) for d, fs in predicted.items() for f in fs})
    out: list[dict[str, Any]] = []
    for loc, sku in sorted(keys):
        if location_id is not None and loc != location_id:
            continue
        where = locations.get(loc)
        if where is None:
            continue
        hist = history.get((loc, sku), [0.0] * (s.history_days + 1))
        if where["kind"] == "van":
            target = plan_target(loc, sku, hist, 0.0, s.review_days, fill_target=s.van_service_level,
                                 measure="cycle")
        else:
            target = plan_target(loc, sku, hist, s.depot_lead_time_days, s.review_days,
                                 [*announced.get(loc, ()), *predicted.get(loc, ())], fill_target=s.fill_target)
        lv = levels.get((loc, sku))
        on_hand, reserved, transit = (int(lv["on_hand"]), int(lv["reserved"]), int(lv["in_transit"])) if lv \
            else (0, 0, 0)
        position = on_hand + transit - reserved
        order = target.base_stock - position if position <= target.reorder_point else 0
        if target.base_stock == 0 and position == 0 and on_hand == 0:
            continue
        out.append({"location_id": loc, "location_name": where["name"], "kind": where["kind"], "sku": sku,
                    "on_hand": on_hand, "reserved": reserved, "in_transit": transit, "position": position,
                    "mean_demand": round(target.mean_demand, 3), "reorder_point": target.reorder_point,
                    "base_stock": target.base_stock, "order_qty": max(0, order),
                    "announced": sum(f.qty for f in announced.get(loc, ()) if f.sku == sku),
                    "predicted": round(sum(f.qty * f.probability for f in predicted.get(loc, ()) if f.sku == sku),
                                       3)})
    return out


def transfers(conn: psycopg.Connection, now: float, settings: SparesSettings | None = None) -> list[dict[str, Any]]:
    """Depot-to-depot moves of true excess (position above base stock) to deficits, nearest source first; never
    more than the source has on the shelf unreserved."""
    from spares.replenishment import suggest_transfers

    rows = [r for r in replenishment(conn, now, settings) if r["kind"] == "depot"]
    repo = SparesRepository(conn)
    locations = {int(r["id"]): r for r in repo.rows("list_locations", {"kind": "depot"})}
    positions = {(r["location_id"], r["sku"]): r["position"] for r in rows}
    targets = {(r["location_id"], r["sku"]): r["base_stock"] for r in rows}
    shelf = {(r["location_id"], r["sku"]): r["on_hand"] - r["reserved"] for r in rows}

    def distance(a: int, b: int) -> float:
        pa, pb = locations[a], locations[b]
        return km(GeoPoint(pa["lat"], pa["lon"]), GeoPoint(pb["lat"], pb["lon"]))

    out = []
    for t in suggest_transfers(positions, targets, distance):
        qty = min(t.qty, shelf.get((t.from_location_id, t.sku), 0))
        if qty <= 0:
            continue
        shelf[(t.from_location_id, t.sku)] -= qty
        out.append({"from_location_id": t.from_location_id, "from_name": locations[t.from_location_id]["name"],
                    "to_location_id": t.to_location_id, "to_name": locations[t.to_location_id]["name"],
                    "sku": t.sku, "qty": qty,
                    "distance_km": round(distance(t.from_location_id, t.to_location_id), 1)})
    return out


def van_restock(conn: psycopg.Connection, now: float, settings: SparesSettings | None = None,
                technician_id: int | None = None) -> list[dict[str, Any]]:
    """End-of-day list per van: what to load at its home depot (the depot nearest the van's base) to bring the
    van back to its targets (the van rows of ``replenishment``), limited to what the depot can give."""
    from spares.replenishment import van_restock_list

    repo = SparesRepository(conn)
    locations = repo.rows("list_locations", {"kind": None})
    depots = [r for r in locations if r["kind"] == "depot"]
    vans = [r for r in locations if r["kind"] == "van"
            and (technician_id is None or r["technician_id"] == technician_id)]
    if not vans or not depots:
        return []
    plan = replenishment(conn, now, settings)
    targets: dict[int, dict[str, int]] = defaultdict(dict)
    for r in plan:
        if r["kind"] == "van":
            targets[r["location_id"]][r["sku"]] = r["base_stock"]
    stock = repo.rows("stock", {"location_id": None, "kind": None, "sku": None})
    avail: dict[int, dict[str, int]] = defaultdict(dict)
    for r in stock:
        avail[int(r["location_id"])][r["sku"]] = int(r["available"])
    out = []
    for v in vans:
        base = GeoPoint(v["lat"], v["lon"])
        home = min(depots, key=lambda d: (km(base, GeoPoint(d["lat"], d["lon"])), d["id"]))
        lines = van_restock_list(avail.get(int(v["id"]), {}), targets.get(int(v["id"]), {}), int(home["id"]),
                                 avail.get(int(home["id"]), {}))
        out.append({"technician_id": v["technician_id"], "van_location_id": v["id"], "van_name": v["name"],
                    "depot_location_id": home["id"], "depot_name": home["name"],
                    "lines": [{"sku": ln.sku, "qty": ln.qty, "from_location_id": ln.from_location_id}
                              for ln in lines]})
    return out


