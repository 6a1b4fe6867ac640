"""Stock levels the way bench.spares_month measures quietfix (issue #16, stretch): one aggregate fill target per
location spent by value, every location topped up to its levels at each daily review.

Why a separate rule from ``service.replenishment``'s per-SKU targets: a fill target per SKU holds as much safety
stock of a 1500-euro part as of a 20-euro one, while a job counts the same whichever part it needs. The bench
measured the per-SKU rule and this one on the same month (docs/spares.md, "Fair comparison"); the live service
used the per-SKU rule, so the figure reported was not the product's. Settings: ``cost_weighted`` (on by default),
``depot_system_fill`` and ``van_system_fill`` (the bench's values).

Demand per location and SKU is the same as the per-SKU rule's (``horizon_demand_pmf``: EWMA background with its
over-dispersion, plus announced and predicted parts at the depot nearest each site); depots and the warehouse look
over lead time + review, vans over the day until their nightly refill. ``base_stock`` is the location's
cost-weighted level; ``reorder_point`` = base stock - 1 (order up to the level whenever the position is below it,
as the bench's nightly review does); ``order_qty`` = base stock - position.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import psycopg

from core.settings import SparesSettings
from spares.models import GeoPoint
from spares.replenishment import cost_weighted_base_stock, horizon_demand_pmf
from spares.repository import SparesRepository

DAY_S = 86_400.0


def replenishment_cost_weighted(conn: psycopg.Connection, now: float, s: SparesSettings,
                                location_id: int | None = None) -> list[dict[str, Any]]:
    """The rows of ``service.replenishment`` (same fields) under the cost-weighted rule."""
    from spares.service import _announced, _history, _predicted

    repo = SparesRepository(conn)
    locations = {int(r["id"]): r for r in repo.rows("list_locations", {"kind": None})}
    levels = {(int(r["location_id"]), r["sku"]): r for r in repo.rows("stock", {"location_id": location_id,
                                                                                "kind": None, "sku": None})}
    cost = {r["sku"]: float(r["unit_cost"]) or 0.01 for r in repo.rows("list_parts", {})}
    history = _history(conn, now, s.history_days)
    depots = {i: GeoPoint(r["lat"], r["lon"]) for i, r in locations.items() if r["kind"] == "depot"}
    announced = _announced(conn, depots)
    predicted = _predicted(conn, depots, now + (s.depot_lead_time_days + s.review_days) * DAY_S)
    keys = (set(levels) | set(history) | {(d, f.sku) for d, fs in announced.items() for f in fs}
            | {(d, f.sku) for d, fs in predicted.items() for f in fs})
    pmfs: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
    for loc, sku in keys:
        if (location_id is not None and loc != location_id) or loc not in locations or sku not in cost:
            continue
        hist = history.get((loc, sku), [0.0] * (s.history_days + 1))
        if locations[loc]["kind"] == "van":
            pmfs[loc][sku] = horizon_demand_pmf(sku, hist, s.review_days)
        else:
            pmfs[loc][sku] = horizon_demand_pmf(sku, hist, s.depot_lead_time_days + s.review_days,
                                                [*announced.get(loc, ()), *predicted.get(loc, ())])
    out: list[dict[str, Any]] = []
    for loc in sorted(pmfs):
        where = locations[loc]
        fill = s.van_system_fill if where["kind"] == "van" else s.depot_system_fill
        stock = cost_weighted_base_stock(pmfs[loc], cost, fill)
        for sku in sorted(pmfs[loc]):
            base = stock[sku]
            lv = levels.get((loc, sku))
            on_hand, reserved, transit = (int(lv["on_hand"]), int(lv["reserved"]), int(lv["in_transit"])) if lv \
                else (0, 0, 0)
            position = on_hand + transit - reserved
            if base == 0 and position == 0 and on_hand == 0:
                continue
            pmf = pmfs[loc][sku]
            out.append({"location_id": loc, "location_name": where["name"], "kind": where["kind"], "sku": sku,
                        "on_hand": on_hand, "reserved": reserved, "in_transit": transit, "position": position,
                        "mean_demand": round(float(np.dot(np.arange(len(pmf)), pmf)), 3),
                        "reorder_point": max(0, base - 1), "base_stock": base,
                        "order_qty": max(0, base - position),
                        "announced": sum(f.qty for f in announced.get(loc, ()) if f.sku == sku),
                        "predicted": round(sum(f.qty * f.probability for f in predicted.get(loc, ())
                                               if f.sku == sku), 3)})
    return out
