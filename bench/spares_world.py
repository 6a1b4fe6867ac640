"""The simulated world of bench.spares_month: region, depots, vans, assets, parts, and the month's failure and RUL
signal stream (the same seed gives the same stream, replayed identically through every policy).

Region of 160 x 160 km (coordinates in km), one central warehouse (the supplier: its stock is unlimited and not
counted as field inventory), 4 depots, technicians with vans, assets of three equipment types. Failures follow a
Poisson process per asset; a share of them is announced days in advance by a noisy remaining-useful-life (RUL)
signal, and the RUL model also raises false alarms. Signals are imperfect: true ones name the wrong part or the
wrong week at stated rates; each signal states its calibrated precision as its probability.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from spares.models import GeoPoint
from spares.sourcing import CourierLane

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
    depot_system_fill: float = 0.995  # aggregate fill of a depot over lead time + review (0.99 before transfers)
    # quietfix reads each signal with the bounds a calibrated RUL model states (estimate +- 2 sigma of its known
    # error, as the live estimates carry failure_earliest_at/latest_at), so the van counts P(failure before its
    # next refill); False: the estimate alone (a part counts whole once its estimate falls inside the horizon).
    signal_bounds: bool = True
    # The marginal rule (spares.stocking.marginal_base_stock): units served asked per euro of stock; None: the
    # aggregate fill targets above. Vans: 7e-5 (a 100-euro part rides along when P(needed before the next
    # refill) >= 0.7 %), chosen on seeds 101-105 and kept on 101-130 (docs/spares.md); depots keep their aggregate fill.
    van_lambda: float | None = 7e-5
    depot_lambda: float | None = None
    # Nightly depot-to-depot transfers of true excess (position above target) to deficits before ordering from
    # the warehouse, by the live advice's rule (spares.replenishment.suggest_transfers), arriving by morning:
    # what the live product proposes first (spares/orders.py), assumed approved every night. Chosen with
    # depot_system_fill 0.995 on seeds 101-130 (bench.spares_tune).
    depot_transfers: bool = True


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
