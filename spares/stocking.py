"""Stock levels per location from history and predicted failures: the ONE rule bench.spares_month measures and the
live replenishment (spares/levels.py) runs, so the figure the bench reports is the product's.

Two steps, both pure:

* ``predicted_by_location``: each predicted failure (diagnostics' RUL forecast, or the bench's simulated signal)
  is counted at the van of the technician whose territory holds the asset, when it is likely within the van's
  horizon (the days until the van is refilled again, plus a few days of pre-positioning), and at the depot that
  feeds that van (or the depot nearest the asset), when likely within the depot's lead time + review. Each count
  carries the probability that the part is needed by the horizon's end: P(failure by then) from the forecast's
  bounds times the stated confidence that the named part is the right one (a calibrated precision).
* ``location_levels``: one demand pmf per location and SKU (background EWMA + the predicted Bernoulli terms,
  ``horizon_demand_pmf``), and one aggregate fill target per location spent by value
  (``cost_weighted_base_stock``).

Why vans too: a van refilled tonight with the part a machine on its round is predicted to need this week fixes
that machine on the first visit without a detour to a depot; the depot count alone only keeps the part nearby.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from spares.replenishment import (
    MIN_FORECAST_PROBABILITY,
    PredictedFailure,
    cost_weighted_base_stock,
    failure_probability_by,
    horizon_demand_pmf,
)

DAY_S = 86_400.0
# A prediction whose median passed more than a day ago without the failure is treated as stale: the RUL model
# will have re-estimated it (live), or it was wrong (bench); stock held for it goes back to the depot.
STALE_AFTER_S = DAY_S


@dataclass(frozen=True)
class StockingForecast:
    """One predicted failure as stocking sees it (times in epoch seconds).

    ``van_id``: the van of the technician whose territory holds the asset (None: no van, depot only).
    ``depot_id``: the depot that should hold the part for it. ``earliest``/``latest``: the estimate's bounds
    (None: unknown, the forecast counts whole once the horizon reaches its median). ``confidence``: probability
    that the listed parts are the ones the repair will need. ``handled``: an open incident / work order already
    announces the parts (or the failure happened): not counted twice.
    """

    asset_id: str
    van_id: int | None
    depot_id: int | None
    failure_at: float
    parts: Mapping[str, int] = field(default_factory=dict)
    earliest: float | None = None
    latest: float | None = None
    confidence: float = 1.0
    handled: bool = False


@dataclass(frozen=True)
class Horizons:
    """How far ahead each kind of location looks, in days (see the module docstring)."""

    van_days: float  # predicted failures pre-positioned on the van when due within this many days
    van_background_days: float  # background demand a van covers: until its next refill
    depot_days: float  # lead time + review


def predicted_by_location(forecasts: Iterable[StockingForecast], now: float, horizons: Horizons,
                          stale_after_s: float = STALE_AFTER_S
                          ) -> dict[tuple[int, str], list[PredictedFailure]]:
    """(location, SKU) -> the predicted failures counted there, each with its probability by the horizon."""
    out: dict[tuple[int, str], list[PredictedFailure]] = defaultdict(list)
    for f in forecasts:
        if f.handled or f.failure_at <= now - stale_after_s:
            continue
        if not 0.0 <= f.confidence <= 1.0:
            raise ValueError(f"confidence of {f.asset_id!r} must be in [0, 1]")
        for loc, days in ((f.van_id, horizons.van_days), (f.depot_id, horizons.depot_days)):
            if loc is None:
                continue
            p = f.confidence * _probability_between(now, now + days * DAY_S, f)
            if p < MIN_FORECAST_PROBABILITY:
                continue
            for sku, q in sorted(f.parts.items()):
                if int(q) > 0:
                    out[(loc, sku)].append(PredictedFailure(f.asset_id, sku, int(q), min(1.0, p)))
    return out


def _probability_between(now: float, end: float, f: StockingForecast) -> float:
    """P(failure by ``end`` | not failed by ``now``): the forecast's time distribution (failure_probability_by)
    conditioned on the machine still running, as it is while the forecast is live: the probability mass before
    ``now`` is spent. A forecast with nothing left after ``now`` (overdue, no bounds) counts whole."""
    before = failure_probability_by(now, f.failure_at, f.earliest, f.latest)
    by_end = failure_probability_by(end, f.failure_at, f.earliest, f.latest)
    left = 1.0 - before
    return 1.0 if left <= 1e-9 else max(0.0, min(1.0, (by_end - before) / left))


@dataclass(frozen=True)
class LevelTargets:
    """Aggregate fill per kind of location (``cost_weighted_base_stock``), or, when ``van_lambda`` /
    ``depot_lambda`` is set, the marginal rule ``marginal_base_stock`` with that price of a shortage."""

    van_fill: float
    depot_fill: float
    van_lambda: float | None = None
    depot_lambda: float | None = None


def location_pmfs(keys: Iterable[tuple[int, str]], is_van: Mapping[int, bool],
                  history: Mapping[tuple[int, str], Sequence[float]],
                  predicted: Mapping[tuple[int, str], Sequence[PredictedFailure]], horizons: Horizons,
                  empty_history_days: int = 1) -> dict[int, dict[str, np.ndarray]]:
    """Location -> SKU -> demand pmf over the location's horizon (vans: until the next refill; depots: lead
    time + review), background from ``history`` plus the predicted failures counted there."""
    pmfs: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
    for loc, sku in keys:
        hist = history.get((loc, sku)) or [0.0] * empty_history_days
        horizon = horizons.van_background_days if is_van[loc] else horizons.depot_days
        pmfs[loc][sku] = horizon_demand_pmf(sku, hist, horizon, predicted.get((loc, sku), ()))
    return pmfs


def location_levels(pmfs: Mapping[int, Mapping[str, np.ndarray]], is_van: Mapping[int, bool],
                    unit_cost: Mapping[str, float], targets: LevelTargets) -> dict[tuple[int, str], int]:
    """Base stock per (location, SKU): each location's aggregate fill target spent by value."""
    out: dict[tuple[int, str], int] = {}
    for loc, by_sku in pmfs.items():
        fill = targets.van_fill if is_van[loc] else targets.depot_fill
        lam = targets.van_lambda if is_van[loc] else targets.depot_lambda
        levels = (marginal_base_stock(by_sku, unit_cost, lam) if lam is not None
                  else cost_weighted_base_stock(by_sku, unit_cost, fill))
        for sku, q in levels.items():
            out[(loc, sku)] = q
    return out


def marginal_base_stock(pmfs: Mapping[str, np.ndarray], unit_cost: Mapping[str, float], lam: float
                        ) -> dict[str, int]:
    """Base stock per SKU: hold unit S + 1 while it serves a demand with probability P(D > S) of at least
    ``lam`` x its unit cost (``lam``: expected units served asked per euro of stock).

    Why one price rather than one fill target per location: the fill target spends the same share of each
    location's demand whatever a unit there earns, so a quiet van holds parts a busy one would use more; one
    price for all locations of a kind puts every euro where it serves the most expected jobs (the Lagrangian of
    the network's shortage-versus-value problem), and a predicted part weighs exactly its probability.
    """
    if lam <= 0:
        raise ValueError("lam must be positive")
    out: dict[str, int] = {}
    for sku, pmf in pmfs.items():
        tails = 1.0 - np.cumsum(pmf)
        c = unit_cost.get(sku, 0.0)
        if c <= 0.0:
            raise ValueError(f"unit cost of {sku!r} must be positive")
        out[sku] = int(np.count_nonzero(tails >= lam * c - 1e-12))
    return out
