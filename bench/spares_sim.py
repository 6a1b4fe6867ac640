"""One policy over one simulated month (bench.spares_month): nightly restocking, and each job's part found on the
van, at a depot on the way, by courier, or on a second visit. The ledger keeps every movement honest.

Policies:

* ``static``: min/max per location and SKU from the average daily demand of a 60-day history (textbook rule:
  min = ceil(d(L+R) + z sqrt(d(L+R))), z = 1.65, max = min + round(7 d) at depots, max = min on vans, restocked
  nightly); a technician fixes on the first visit only with a part from the van, else a part is expedited for a
  second visit.
* ``static_sourcing``: static stock levels with quietfix's sourcing (spares.sourcing at each job).
* ``quietfix``: the levels the live product computes (spares.stocking: EWMA of unannounced consumption +
  predicted failures counted on the territory van and its depot with their probability; one aggregate fill
  target per location spent by value), and spares.sourcing at each job (van, depot pick-up on the way, same-day
  courier) within the 2-hour promise. ``Config.cost_weighted = False``: the earlier per-SKU targets.
* ``quietfix_no_signals`` (ablation): quietfix without the RUL signals (consumption forecast + sourcing only).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from bench.spares_world import (
    COURIER,
    DAY,
    DEPOT_LEAD_DAYS,
    SLA_S,
    WAREHOUSE,
    Config,
    Failure,
    Signal,
    World,
    _pt,
    travel,
)
from spares.ledger import Ledger
from spares.models import GeoPoint, Movement, MovementKind
from spares.replenishment import PredictedFailure, plan_target, suggest_transfers, van_restock_list
from spares.sourcing import Job, PartNeed, SourceKind, StockPoint, TechnicianState, propose_sources
from spares.stocking import (
    Horizons,
    LevelTargets,
    StockingForecast,
    location_levels,
    location_pmfs,
    predicted_by_location,
)


class Sim:
    """Runs one policy over the month; the ledger keeps every movement honest (never negative)."""

    def __init__(self, cfg: Config, world: World, policy: str, failures: list[Failure], signals: list[Signal],
                 history: dict[tuple[int, str], list[float]], static: dict[tuple[int, str], tuple[int, int]],
                 start: float) -> None:
        self.cfg, self.w, self.policy, self.start = cfg, world, policy, start
        self.failures, self.signals, self.history, self.static = failures, signals, history, static
        self.book = Ledger()
        self.inbound: list[tuple[float, int, str, int]] = []
        self.m: defaultdict[str, float] = defaultdict(float)
        self.values: list[float] = []
        self.consumed_unannounced: dict[tuple[int, str], list[float]] = defaultdict(list)

    def _mv(self, kind: MovementKind, loc: int, sku: str, qty: int, at: float) -> None:
        self.book.post(Movement(kind, loc, sku, qty, at))

    def avail(self, loc: int, sku: str) -> int:
        return self.book.level(loc, sku).available

    def forecasts(self, now: float) -> list[StockingForecast]:
        """The live signals as the product's stocking sees predicted failures: on the asset's territory van and
        that van's depot, with the signal's stated probability; a part already failed is handled."""
        if self.policy == "quietfix_no_signals":
            return []
        out = []
        for s in self.signals:
            if s.issued > now:
                continue
            van = int(self.w.asset_van[s.asset])
            half = 2.0 * self.cfg.rul_noise_days * DAY if self.cfg.signal_bounds else None
            out.append(StockingForecast(str(s.asset), van, self.w.vans[van][1], s.est_t, {s.sku: s.qty},
                                        s.est_t - half if half else None, s.est_t + half if half else None,
                                        confidence=s.probability, handled=(s.asset, s.sku) in self._done))
        return out

    def targets(self, now: float) -> dict[tuple[int, str], int]:
        if self.policy in ("static", "static_sourcing"):
            return {k: v[1] for k, v in self.static.items()}
        horizons = Horizons(van_days=self.cfg.predict_horizon_days, van_background_days=1.0,
                            depot_days=DEPOT_LEAD_DAYS + 1.0)
        pred = predicted_by_location(self.forecasts(now), now, horizons)
        keys = set(self.history) | set(pred)
        history = {k: self.history.get(k, []) + self.consumed_unannounced.get(k, []) for k in keys}
        if self.cfg.cost_weighted:
            is_van = {loc: loc in self.w.vans for loc, _ in keys}
            pmfs = location_pmfs(keys, is_van, history, pred, horizons)
            return location_levels(pmfs, is_van, self.w.cost,
                                   LevelTargets(self.cfg.van_system_fill, self.cfg.depot_system_fill,
                                                self.cfg.van_lambda, self.cfg.depot_lambda))
        out = {}
        for key in keys:
            hist = history[key]
            preds: list[PredictedFailure] = pred.get(key, [])
            if key[0] in self.w.vans:
                tgt = plan_target(key[0], key[1], hist, 0, 1, preds, fill_target=self.cfg.van_cycle_level,
                                  measure="cycle")
            else:
                tgt = plan_target(key[0], key[1], hist, DEPOT_LEAD_DAYS, 1, preds, fill_target=self.cfg.depot_fill)
            out[key] = tgt.base_stock
        return out

    def night(self, day: int) -> None:
        """After hours: receive depot orders, restock vans from their depot, order depots up from the warehouse."""
        now = self.start + day * DAY + 23 * 3600.0
        for due, loc, sku, q in [x for x in self.inbound if x[0] <= now]:
            self._mv(MovementKind.DELIVER, loc, sku, q, now)
        self.inbound = [x for x in self.inbound if x[0] > now]
        tg = self.targets(now)
        static = self.policy in ("static", "static_sourcing")
        for van, (_, depot) in self.w.vans.items():
            stock = {sku: self.avail(van, sku) for sku in self.w.skus}
            want = {sku: tg.get((van, sku), 0) for sku in self.w.skus}
            if static:  # min/max: only lines at or below min are brought up to max
                want = {s: (want[s] if stock[s] <= self.static.get((van, s), (0, 0))[0] else stock[s]) for s in want}
            else:  # quietfix takes back what the van no longer needs (false alarms, passed predictions)
                for sku, q in stock.items():
                    if q > want[sku]:
                        self._mv(MovementKind.ISSUE, van, sku, q - want[sku], now)
                        self._mv(MovementKind.RECEIPT, depot, sku, q - want[sku], now)
            depot_avail = {sku: self.avail(depot, sku) for sku in self.w.skus}
            for line in van_restock_list(stock, want, depot, depot_avail):
                self._mv(MovementKind.SHIP_OUT, depot, line.sku, line.qty, now)
                self._mv(MovementKind.RECEIPT, van, line.sku, line.qty, now)
        if not static and self.cfg.depot_transfers:
            self.transfer(tg, now)
        for depot in self.w.depots:
            for sku in self.w.skus:
                pos = self.book.level(depot, sku).position
                lo_hi = self.static.get((depot, sku), (0, 0))
                target = tg.get((depot, sku), 0)
                if static and pos > lo_hi[0]:
                    continue
                if target > pos:
                    self._mv(MovementKind.TRANSIT_IN, depot, sku, target - pos, now)
                    self.inbound.append((now + DEPOT_LEAD_DAYS * DAY, depot, sku, target - pos))
        self.values.append(self.value())

    def transfer(self, tg: dict[tuple[int, str], int], now: float) -> None:
        """Depot excess to depot deficits overnight (spares.stock_plan.transfers' rule: never more than the
        source's shelf)."""
        keys = [(d, sku) for d in self.w.depots for sku in self.w.skus]
        positions = {k: self.book.level(*k).position for k in keys}
        shelf = {k: self.avail(*k) for k in keys}
        for t in suggest_transfers(positions, {k: tg.get(k, 0) for k in keys},
                                   lambda a, b: travel(self.w.depots[a], self.w.depots[b])):
            qty = min(t.qty, shelf[(t.from_location_id, t.sku)])
            if qty > 0:
                shelf[(t.from_location_id, t.sku)] -= qty
                self._mv(MovementKind.SHIP_OUT, t.from_location_id, t.sku, qty, now)
                self._mv(MovementKind.RECEIPT, t.to_location_id, t.sku, qty, now)
                self.m["transfers"] += 1

    def value(self) -> float:
        return sum((lv.on_hand + lv.in_transit) * self.w.cost[lv.sku] for lv in self.book.levels()
                   if lv.location_id != WAREHOUSE)

    def job(self, f: Failure, pos: dict[int, GeoPoint]) -> None:
        van = int(self.w.asset_van[f.asset])
        site = _pt(self.w.asset_xy[f.asset])
        self.m["jobs"] += 1
        self.m["units"] += f.qty
        sourcing = self.policy != "static"
        fixed, src = False, None
        if self.avail(van, f.sku) >= f.qty:
            fixed, src = True, van
            self.m["van_units"] += f.qty
        elif sourcing:
            job = Job(int(self.m["jobs"]), site, f.t + SLA_S, (PartNeed(f.sku, f.qty),))
            tech = TechnicianState(van, van, pos[van], {f.sku: self.avail(van, f.sku)}, f.t)
            points = [StockPoint(d, p, {f.sku: self.avail(d, f.sku)}, COURIER) for d, p in self.w.depots.items()]
            opts = propose_sources(job, tech, points, travel, f.t)
            if opts and opts[0].meets_deadline:
                fixed, src = True, opts[0].location_id
                self.m["depot_pickups"] += opts[0].kind is SourceKind.DEPOT_PICKUP
                self.m["expedited_shipments"] += opts[0].kind is SourceKind.COURIER
                self.m["couriers_to_first_visit"] += opts[0].kind is SourceKind.COURIER
            elif opts:
                src = opts[0].location_id
        if not fixed:  # second visit: part expedited from the nearest depot with stock, else the warehouse
            self.m["expedited_shipments"] += 1
            if src is None:
                have = [d for d in self.w.depots if self.avail(d, f.sku) >= f.qty]
                src = min(have, key=lambda d: travel(self.w.depots[d], site)) if have else None
        if src is None:
            self.m["stockouts"] += 1
            self._mv(MovementKind.RECEIPT, WAREHOUSE, f.sku, f.qty, f.t)  # unlimited supplier stock
            src = WAREHOUSE
        else:
            self.m["filled_units"] += f.qty
        self._mv(MovementKind.ISSUE, src, f.sku, f.qty, f.t)
        self.m["first_visit_fixes"] += fixed
        pos[van] = site

    def run(self) -> dict[str, float]:
        self._done: set[tuple[int, str]] = set()
        tg = self.targets(self.start)
        for (loc, sku), q in tg.items():
            if q > 0:
                self._mv(MovementKind.RECEIPT, loc, sku, q, self.start)
        self.values.append(self.value())
        announced = {(s.asset, s.sku) for s in self.signals}
        fi = 0
        for day in range(self.cfg.days):
            pos = {v: home for v, (home, _) in self.w.vans.items()}
            day_end = self.start + (day + 1) * DAY
            today: dict[tuple[int, str], float] = defaultdict(float)
            while fi < len(self.failures) and self.failures[fi].t < day_end:
                f = self.failures[fi]
                self.job(f, pos)
                self._done.add((f.asset, f.sku))
                if (f.asset, f.sku) not in announced:
                    van = int(self.w.asset_van[f.asset])
                    today[(van, f.sku)] += f.qty
                    today[(self.w.vans[van][1], f.sku)] += f.qty
                fi += 1
            for key in set(self.history) | set(self.consumed_unannounced) | set(today):
                series = self.consumed_unannounced[key]
                series.extend([0.0] * (day - len(series)))  # a key first seen today had zero on earlier days
                series.append(today.get(key, 0.0))
            self.night(day)
        m = self.m
        return {"first_visit_fix_rate": round(m["first_visit_fixes"] / m["jobs"], 4),
                "fill_rate": round(m["filled_units"] / m["units"], 4), "stockouts": int(m["stockouts"]),
                "inventory_value_avg": round(float(np.mean(self.values)), 0),
                "expedited_shipments": int(m["expedited_shipments"]), "depot_pickups": int(m["depot_pickups"]),
                "couriers_to_first_visit": int(m["couriers_to_first_visit"]),
                "van_fill_rate": round(m["van_units"] / m["units"], 4),
                "jobs": int(m["jobs"])}
