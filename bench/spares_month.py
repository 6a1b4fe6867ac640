"""A simulated month of field-service parts demand, run through a static min/max policy and quietfix's policy.

Region of 160 x 160 km (coordinates in km), one central warehouse (the supplier: its stock is unlimited and not
counted as field inventory), 4 depots, technicians with vans, assets of three equipment types. Failures follow a
Poisson process per asset; a share of them is announced days in advance by a noisy remaining-useful-life (RUL)
signal, and the RUL model also raises false alarms. The SAME failure and signal stream (same seed) is replayed
through every policy:

* ``static``: min/max per location and SKU from the average daily demand of a 60-day history (textbook rule:
  min = ceil(d(L+R) + z sqrt(d(L+R))), z = 1.65, max = min + round(7 d) at depots, max = min on vans, restocked
  nightly); a technician fixes on the first visit only with a part from the van, else a part is expedited for a
  second visit.
* ``quietfix``: forecast-driven base stock (EWMA of unannounced consumption + RUL predictions) with one aggregate
  fill target per location spent by value (spares.replenishment.cost_weighted_base_stock; ``--per-sku-levels``:
  the earlier per-SKU targets), predictive pre-positioning on the van of the territory technician, and
  spares.sourcing at each job (van, depot pick-up on the way, same-day courier) within the 2-hour promise.
* ``static_sourcing`` (ablation): static stock levels with quietfix's sourcing, to show what each half brings.
* ``static_sourcing_matched``: the same with ONE safety factor for all seeds, bisected so that its mean
  first-visit fix rate reaches quietfix's (the fair baseline: equal service, compare inventory).
* ``quietfix_no_signals`` (ablation): quietfix without the RUL signals (consumption forecast + sourcing only).

RUL signals are imperfect: false alarms, and true ones that name the wrong part or the wrong week at stated
rates; each signal states its calibrated precision as its probability.

Run: ``python -m bench.spares_month --seeds 10`` (seeds 1-10, averaged; quietfix's parameters were tuned on
seeds 101-105). Progress goes to stderr; one JSON line last on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

from bench.matching import smallest_reaching
from spares.ledger import Ledger
from spares.models import GeoPoint, Movement, MovementKind
from spares.replenishment import (
    PredictedFailure,
    cost_weighted_base_stock,
    horizon_demand_pmf,
    plan_target,
    van_restock_list,
)
from spares.sourcing import (
    CourierLane,
    Job,
    PartNeed,
    SourceKind,
    StockPoint,
    TechnicianState,
    propose_sources,
)

log = logging.getLogger(__name__)

DAY = 86_400.0
REGION_KM = 160.0  # a typical regional service area, 2-3 hours across by road
SPEED_KMH = 60.0  # average road speed outside rush hour
ROAD_FACTOR = 1.3  # road distance over straight-line distance, the usual rule of thumb
SLA_S = 2 * 3600.0  # "on site within 2 hours"
DEPOT_LEAD_DAYS = 2  # warehouse -> depot replenishment
HISTORY_DAYS = 60  # history both policies calibrate on
WAREHOUSE = 0
Z_STATIC = 1.65  # the static rule's safety factor: ~95 % cycle service under a normal approximation
COURIER = CourierLane(2700.0, 15 * 3600.0, 10 * 3600.0, 90.0, 30.0)  # depot couriers: 45 min handling


def travel(a: GeoPoint, b: GeoPoint) -> float:
    return math.hypot(a.lat - b.lat, a.lon - b.lon) * ROAD_FACTOR / SPEED_KMH * 3600.0


@dataclass(frozen=True)
class Config:
    seed: int = 1
    days: int = 30
    techs: int = 20
    depots: int = 4
    assets: int = 3000
    skus_per_type: int = 12
    jobs_per_day: float = 40.0
    predictable_share: float = 0.5  # share of failures with an RUL signal beforehand
    false_alarm_ratio: float = 0.25  # false alarms per true signal
    rul_noise_days: float = 1.5  # std of the RUL estimate's error
    wrong_part_rate: float = 0.1  # share of true signals naming another part of the same equipment type
    wrong_week_rate: float = 0.1  # share of true signals whose estimate is a week off (earlier or later)
    van_cycle_level: float = 0.97  # quietfix: carry a part if P(needed before next restock) > 3 %
    depot_fill: float = 0.97  # quietfix: depot fill-rate target over lead time + review
    predict_horizon_days: float = 4.0  # quietfix: pre-position parts predicted within this many days
    # quietfix's levels: one aggregate fill target per location, stock spent where it serves most jobs per euro
    # (spares.replenishment.cost_weighted_base_stock); False = the earlier per-SKU targets above.
    cost_weighted: bool = True
    van_system_fill: float = 0.95  # aggregate fill of a van over one day
    depot_system_fill: float = 0.99  # aggregate fill of a depot over lead time + review


@dataclass(frozen=True)
class World:
    depots: dict[int, GeoPoint]
    vans: dict[int, tuple[GeoPoint, int]]  # van id -> (home, home depot id)
    skus: list[str]
    cost: dict[str, float]
    asset_xy: np.ndarray
    asset_type: np.ndarray
    asset_van: np.ndarray
    sku_by_type: list[tuple[list[str], np.ndarray]]


@dataclass(frozen=True)
class Failure:
    t: float
    asset: int
    sku: str
    qty: int


@dataclass(frozen=True)
class Signal:
    issued: float
    asset: int
    sku: str
    qty: int
    est_t: float
    probability: float


def _pt(xy: np.ndarray) -> GeoPoint:
    return GeoPoint(float(xy[0]), float(xy[1]))


def build_world(cfg: Config, rng: np.random.Generator) -> World:
    c = REGION_KM
    corners = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75), (0.5, 0.5)]
    depots = {i + 1: GeoPoint(corners[i][0] * c, corners[i][1] * c) for i in range(cfg.depots)}
    homes = rng.uniform(0, c, size=(cfg.techs, 2))
    vans = {}
    for k, h in enumerate(homes):
        home = _pt(h)
        vans[100 + k] = (home, min(depots, key=lambda d: travel(home, depots[d])))
    skus, cost, by_type = [], {}, []
    for ty in range(3):
        names = [f"T{ty}-P{j:02d}" for j in range(cfg.skus_per_type)]
        weights = 1.0 / np.arange(1, cfg.skus_per_type + 1) ** 1.1  # Zipf-like: a few parts fail most often
        by_type.append((names, weights / weights.sum()))
        for n in names:
            skus.append(n)
            cost[n] = float(round(np.exp(rng.uniform(math.log(20), math.log(1500))), 2))
    xy = rng.uniform(0, c, size=(cfg.assets, 2))
    van_ids = list(vans)
    home_xy = np.array([[vans[v][0].lat, vans[v][0].lon] for v in van_ids])
    nearest = np.argmin(((xy[:, None, :] - home_xy[None, :, :]) ** 2).sum(-1), axis=1)
    return World(depots, vans, skus, cost, xy, rng.integers(0, 3, cfg.assets),
                 np.array([van_ids[i] for i in nearest]), by_type)


def signal_probability(cfg: Config) -> float:
    """The probability a signal states: its calibrated precision (the share of signals whose part is needed
    within the estimate's noise), as a deployment would measure it on its own track record."""
    return (1.0 - cfg.wrong_part_rate) * (1.0 - cfg.wrong_week_rate) / (1.0 + cfg.false_alarm_ratio)


def generate(cfg: Config, world: World, rng: np.random.Generator, start: float, days: int
             ) -> tuple[list[Failure], list[Signal]]:
    """Failures during working hours (06-22 h) over ``days`` days, and the RUL signals that precede some.

    Signals are imperfect on purpose: besides false alarms (no failure at all), a share of the true ones name
    the wrong part (another SKU of the asset's type) or the wrong week (estimate 5-9 days off the true time).
    A signal is always issued 3-10 days before the earlier of its estimate and the true failure.
    """
    failures: list[Failure] = []
    signals: list[Signal] = []
    p_signal = signal_probability(cfg)
    n = rng.poisson(cfg.jobs_per_day * days)
    for _ in range(n):
        day = int(rng.integers(0, days))
        t = start + day * DAY + rng.uniform(6, 22) * 3600.0
        asset = int(rng.integers(0, len(world.asset_type)))
        names, probs = world.sku_by_type[int(world.asset_type[asset])]
        sku = str(rng.choice(names, p=probs))
        qty = 2 if world.cost[sku] < 100 and rng.random() < 0.2 else 1
        failures.append(Failure(t, asset, sku, qty))
        if rng.random() < cfg.predictable_share:
            lead = rng.uniform(3, 10) * DAY
            est = t + rng.normal(0, cfg.rul_noise_days) * DAY
            named, wrong_part, wrong_week = sku, rng.random(), rng.random()
            if wrong_part < cfg.wrong_part_rate:
                others = [k for k, x in enumerate(names) if x != sku]
                w = probs[others] / probs[others].sum()
                named = str(names[others[int(rng.choice(len(others), p=w))]])
            if wrong_week < cfg.wrong_week_rate:
                est += (1 if rng.random() < 0.5 else -1) * rng.uniform(5, 9) * DAY
            signals.append(Signal(min(t, est) - lead, asset, named, qty, est, p_signal))
    for _ in range(rng.poisson(cfg.false_alarm_ratio * cfg.predictable_share * len(failures))):
        asset = int(rng.integers(0, len(world.asset_type)))
        names, probs = world.sku_by_type[int(world.asset_type[asset])]
        est = start + rng.uniform(0, days) * DAY
        signals.append(Signal(est - rng.uniform(3, 10) * DAY, asset, str(rng.choice(names, p=probs)), 1, est,
                              p_signal))
    failures.sort(key=lambda f: f.t)
    return failures, signals


def daily_history(world: World, failures: list[Failure], signals: list[Signal], start: float, days: int
                  ) -> tuple[dict[tuple[int, str], list[float]], dict[tuple[int, str], list[float]]]:
    """Per (van, sku) and (depot, sku): all consumption per day, and the part no signal announced."""
    announced = {(s.asset, s.sku) for s in signals}
    total: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0.0] * days)
    unannounced: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0.0] * days)
    for f in failures:
        d = int((f.t - start) // DAY)
        van = int(world.asset_van[f.asset])
        for loc in (van, world.vans[van][1]):
            total[(loc, f.sku)][d] += f.qty
            if (f.asset, f.sku) not in announced:
                unannounced[(loc, f.sku)][d] += f.qty
    return total, unannounced


def static_levels(world: World, total: dict[tuple[int, str], list[float]], z: float = Z_STATIC
                  ) -> dict[tuple[int, str], tuple[int, int]]:
    """(min, max) per location and SKU from average daily demand with safety factor ``z``; see the docstring."""
    levels = {}
    for (loc, sku), series in total.items():
        d = float(np.mean(series))
        lead_review = 1.0 if loc in world.vans else DEPOT_LEAD_DAYS + 1.0
        lo = max(0, math.ceil(d * lead_review + z * math.sqrt(d * lead_review)))
        hi = lo if loc in world.vans else lo + round(7 * d)
        levels[(loc, sku)] = (lo, hi)
    return levels


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

    def targets(self, now: float) -> dict[tuple[int, str], int]:
        if self.policy in ("static", "static_sourcing"):
            return {k: v[1] for k, v in self.static.items()}
        horizon_van, horizon_depot = self.cfg.predict_horizon_days * DAY, (DEPOT_LEAD_DAYS + 1) * DAY
        signals = [] if self.policy == "quietfix_no_signals" else self.signals
        live = [s for s in signals if s.issued <= now and now - DAY < s.est_t and
                (s.asset, s.sku) not in self._done]
        pred: dict[tuple[int, str], list[PredictedFailure]] = defaultdict(list)
        for s in live:
            van = int(self.w.asset_van[s.asset])
            pf = PredictedFailure(str(s.asset), s.sku, s.qty, s.probability)
            if s.est_t - now <= horizon_van:
                pred[(van, s.sku)].append(pf)
            if s.est_t - now <= horizon_depot:
                pred[(self.w.vans[van][1], s.sku)].append(pf)
        out = {}
        keys = set(self.history) | set(pred)
        if self.cfg.cost_weighted:
            by_loc: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
            for key in keys:
                hist = self.history.get(key, []) + self.consumed_unannounced.get(key, [])
                horizon = 1.0 if key[0] in self.w.vans else DEPOT_LEAD_DAYS + 1.0
                by_loc[key[0]][key[1]] = horizon_demand_pmf(key[1], hist, horizon, pred.get(key, ()))
            for loc, pmfs in by_loc.items():
                fill = self.cfg.van_system_fill if loc in self.w.vans else self.cfg.depot_system_fill
                for sku, q in cost_weighted_base_stock(pmfs, self.w.cost, fill).items():
                    out[(loc, sku)] = q
            return out
        for key in keys:
            hist = self.history.get(key, []) + self.consumed_unannounced.get(key, [])
            if key[0] in self.w.vans:
                tgt = plan_target(key[0], key[1], hist, 0, 1, pred.get(key, ()), fill_target=self.cfg.van_cycle_level,
                                  measure="cycle")
            else:
                tgt = plan_target(key[0], key[1], hist, DEPOT_LEAD_DAYS, 1, pred.get(key, ()),
                                  fill_target=self.cfg.depot_fill)
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


POLICIES = ("static", "quietfix", "static_sourcing", "quietfix_no_signals")
MATCHED = "static_sourcing_matched"
Z_RANGE = (-3.0, 6.0)  # safety factors the matched baseline may take (z < 0: below mean lead-time demand)


@dataclass(frozen=True)
class Stream:
    """One seed's world, failure/signal stream and 60-day history: replayed identically through every policy."""

    cfg: Config
    world: World
    failures: list[Failure]
    signals: list[Signal]
    total: dict[tuple[int, str], list[float]]
    unannounced: dict[tuple[int, str], list[float]]
    start: float


def make_stream(cfg: Config) -> Stream:
    rng = np.random.default_rng(cfg.seed)
    world = build_world(cfg, rng)
    hist_start, start = 0.0, HISTORY_DAYS * DAY
    h_fail, h_sig = generate(cfg, world, rng, hist_start, HISTORY_DAYS)
    failures, signals = generate(cfg, world, rng, start, cfg.days)
    total, unannounced = daily_history(world, h_fail, h_sig, hist_start, HISTORY_DAYS)
    return Stream(cfg, world, failures, signals, total, unannounced, start)



def run_policy(stream: Stream, policy: str, z: float = Z_STATIC) -> dict[str, float]:
    """One policy over one stream; ``static_sourcing_matched`` is ``static_sourcing`` at safety factor ``z``."""
    sim_policy = "static_sourcing" if policy == MATCHED else policy
    static = static_levels(stream.world, stream.total, z)
    return Sim(stream.cfg, stream.world, sim_policy, stream.failures, stream.signals, stream.unannounced, static,
               stream.start).run()


def run_month(cfg: Config, policies: tuple[str, ...] = POLICIES
              ) -> dict[str, dict[str, float]]:
    stream = make_stream(cfg)
    out = {}
    for policy in policies:
        t0 = time.perf_counter()
        out[policy] = run_policy(stream, policy)
        log.info("%s done in %.1f s: %s", policy, time.perf_counter() - t0, out[policy])
    return out


def mean_metrics(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = runs[0].keys()
    return {k: round(float(np.mean([r[k] for r in runs])), 4 if "rate" in k else 1) for k in keys}


def run_seeds(base: Config, seeds: list[int]) -> dict[str, object]:
    """Every policy on every seed, then the static+sourcing policy with ONE safety factor (common to all seeds,
    like quietfix's parameters) bisected so its mean first-visit fix rate reaches quietfix's mean."""
    streams = [make_stream(replace(base, seed=s)) for s in seeds]
    per_seed: dict[str, list[dict[str, float]]] = {p: [] for p in POLICIES}
    for s, stream in zip(seeds, streams, strict=True):
        for policy in POLICIES:
            per_seed[policy].append(run_policy(stream, policy))
        log.info("seed %d: %s", s, {p: (per_seed[p][-1]["first_visit_fix_rate"],
                                        per_seed[p][-1]["inventory_value_avg"]) for p in POLICIES})
    target = float(np.mean([r["first_visit_fix_rate"] for r in per_seed["quietfix"]]))

    def fvf(z: float) -> float:
        v = float(np.mean([run_policy(st, MATCHED, z)["first_visit_fix_rate"] for st in streams]))
        log.info("  static_sourcing at z = %.4f: mean first-visit fix %.4f", z, v)
        return v

    z, _ = smallest_reaching(fvf, target, *Z_RANGE)
    per_seed[MATCHED] = [run_policy(st, MATCHED, z) for st in streams]
    mean = {p: mean_metrics(r) for p, r in per_seed.items()}
    qf, matched = mean["quietfix"], mean[MATCHED]
    ratio = qf["inventory_value_avg"] / matched["inventory_value_avg"]
    return {"seeds": seeds, "quietfix": qf, MATCHED: {"safety_factor_z": round(z, 4), **matched},
            **{p: mean[p] for p in POLICIES if p != "quietfix"},
            "quietfix_inventory_over_matched": round(ratio, 4),
            "target": "quietfix first-visit >= 0.97 at <= 0.70 x matched static inventory",
            "target_met": bool(qf["first_visit_fix_rate"] >= 0.97 and ratio <= 0.70),
            "quietfix_inventory_over_matched_per_seed": [
                round(q["inventory_value_avg"] / m["inventory_value_avg"], 3)
                for q, m in zip(per_seed["quietfix"], per_seed[MATCHED], strict=True)],
            "per_seed": {p: [(r["first_visit_fix_rate"], r["inventory_value_avg"]) for r in runs]
                         for p, runs in per_seed.items()}}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1, help="first seed")
    ap.add_argument("--seeds", type=int, default=1, help="number of seeds (seed, seed + 1, ...), averaged")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--techs", type=int, default=20)
    ap.add_argument("--depots", type=int, default=4, choices=[3, 4, 5])
    ap.add_argument("--jobs-per-day", type=float, default=40.0)
    ap.add_argument("--predictable-share", type=float, default=0.5)
    ap.add_argument("--wrong-part-rate", type=float, default=Config.wrong_part_rate)
    ap.add_argument("--wrong-week-rate", type=float, default=Config.wrong_week_rate)
    ap.add_argument("--per-sku-levels", action="store_true",
                    help="quietfix with the earlier per-SKU targets (van cycle 97 %%, depot fill 97 %%, 3-day horizon)")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")
    for name in ("wrong_part_rate", "wrong_week_rate"):
        if not 0.0 <= getattr(args, name) < 1.0:
            ap.error(f"--{name.replace('_', '-')} must be in [0, 1)")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    cfg = Config(seed=args.seed, days=args.days, techs=args.techs, depots=args.depots,
                 jobs_per_day=args.jobs_per_day, predictable_share=args.predictable_share,
                 wrong_part_rate=args.wrong_part_rate, wrong_week_rate=args.wrong_week_rate)
    if args.per_sku_levels:
        cfg = replace(cfg, cost_weighted=False, predict_horizon_days=3.0)
    seeds = list(range(args.seed, args.seed + args.seeds))
    log.info("bench.spares_month %s, seeds %s, signal probability stated %.3f", cfg, seeds, signal_probability(cfg))
    t0 = time.perf_counter()
    result = run_seeds(cfg, seeds)
    log.info("quietfix %s", result["quietfix"])
    log.info("%s %s", MATCHED, result[MATCHED])
    log.info("quietfix inventory / matched static: %.3f; target met: %s", result["quietfix_inventory_over_matched"],
             result["target_met"])
    cfg_out = {k: v for k, v in cfg.__dict__.items() if k != "seed"}
    print(json.dumps({"bench": "spares_month", "config": cfg_out,
                      "quietfix_tuned_on_seeds": "101-105 (never the evaluation seeds 1-10)", **result,
                      "wall_s": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
