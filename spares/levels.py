"""Stock levels the way bench.spares_month measures quietfix (issue #16, stretch): one aggregate fill target per
location spent by value, every location topped up to its levels at each daily review.

Why a separate rule from ``service.replenishment``'s per-SKU targets: a fill target per SKU holds as much safety
stock of a 1500-euro part as of a 20-euro one, while a job counts the same whichever part it needs. The bench
measured the per-SKU rule and this one on the same month (docs/spares.md, "Fair comparison"); the live service
used the per-SKU rule, so the figure reported was not the product's. Settings: ``cost_weighted`` (on by default),
``depot_system_fill`` and ``van_system_fill`` (the bench's values).

Demand per location and SKU is the same as the per-SKU rule's (``horizon_demand_pmf``: EWMA background with its
over-dispersion, plus announced and predicted parts at the depot nearest each site); depots and the warehouse look
over lead time + review, vans over the day until their nightly refill. Predicted failures are counted through
spares/stocking.py, the code the bench measures: at the depot nearest the asset within lead time + review, and on
the van of the technician whose territory holds the asset (the van based nearest it) within
``van_predict_horizon_days``, each with P(failure by then) x ``predicted_part_confidence``; so the nightly van
restock loads the part a machine on the van's round is predicted to need. ``base_stock`` is the location's
cost-weighted level; ``reorder_point`` = base stock - 1 (order up to the level whenever the position is below it,
as the bench's nightly review does); ``order_qty`` = base stock - position.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg

from core.settings import SparesSettings
from spares.models import GeoPoint
from spares.repository import SparesRepository
from spares.stocking import Horizons, LevelTargets, location_levels, location_pmfs, predicted_by_location


def horizons_of(s: SparesSettings) -> Horizons:
    return Horizons(van_days=s.van_predict_horizon_days, van_background_days=s.review_days,
                    depot_days=s.depot_lead_time_days + s.review_days)


def replenishment_cost_weighted(conn: psycopg.Connection, now: float, s: SparesSettings,
                                location_id: int | None = None) -> list[dict[str, Any]]:
    """The rows of ``service.replenishment`` (same fields) under the cost-weighted rule."""
    from spares.stock_plan import _announced, _history, forecasts

    repo = SparesRepository(conn)
    locations = {int(r["id"]): r for r in repo.rows("list_locations", {"kind": None})}
    levels = {(int(r["location_id"]), r["sku"]): r for r in repo.rows("stock", {"location_id": location_id,
                                                                                "kind": None, "sku": None})}
    cost = {r["sku"]: float(r["unit_cost"]) or 0.01 for r in repo.rows("list_parts", {})}
    history = _history(conn, now, s.history_days)
    depots = {i: GeoPoint(r["lat"], r["lon"]) for i, r in locations.items() if r["kind"] == "depot"}
    vans = {i: GeoPoint(r["lat"], r["lon"]) for i, r in locations.items()
            if r["kind"] == "van" and r["lat"] is not None and r["lon"] is not None}
    horizons = horizons_of(s)
    predicted = predicted_by_location(forecasts(conn, depots, vans, s.predicted_part_confidence), now, horizons)
    for depot, fs in _announced(conn, depots).items():  # work orders' parts: certain, at the depot nearest
        for f in fs:
            predicted.setdefault((depot, f.sku), []).append(f)
    keys = {(loc, sku) for loc, sku in set(levels) | set(history) | set(predicted)
            if (location_id is None or loc == location_id) and loc in locations and sku in cost}
    is_van = {loc: locations[loc]["kind"] == "van" for loc, _ in keys}
    pmfs = location_pmfs(keys, is_van, history, predicted, horizons, empty_history_days=s.history_days + 1)
    stock = location_levels(pmfs, is_van, cost, LevelTargets(s.van_system_fill, s.depot_system_fill, s.van_lambda))
    out: list[dict[str, Any]] = []
    for loc in sorted(pmfs):
        where = locations[loc]
        for sku in sorted(pmfs[loc]):
            base = stock[(loc, sku)]
            lv = levels.get((loc, sku))
            on_hand, reserved, transit = (int(lv["on_hand"]), int(lv["reserved"]), int(lv["in_transit"])) if lv \
                else (0, 0, 0)
            position = on_hand + transit - reserved
            if base == 0 and position == 0 and on_hand == 0:
                continue
            pmf = pmfs[loc][sku]
            preds = predicted.get((loc, sku), ())
            out.append({"location_id": loc, "location_name": where["name"], "kind": where["kind"], "sku": sku,
                        "on_hand": on_hand, "reserved": reserved, "in_transit": transit, "position": position,
                        "mean_demand": round(float(np.dot(np.arange(len(pmf)), pmf)), 3),
                        "reorder_point": max(0, base - 1), "base_stock": base,
                        "order_qty": max(0, base - position),
                        "announced": sum(f.qty for f in preds if f.asset_id.startswith("work_order:")),
                        "predicted": round(sum(f.qty * f.probability for f in preds
                                               if not f.asset_id.startswith("work_order:")), 3)})
    return out
