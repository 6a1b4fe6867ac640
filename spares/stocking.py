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
            p = f.confidence * failure_probability_by(now + days * DAY_S, f.failure_at, f.earliest, f.latest)
            if p < MIN_FORECAST_PROBABILITY:
                continue
            for sku, q in sorted(f.parts.items()):
                if int(q) > 0:
                    out[(loc, sku)].append(PredictedFailure(f.asset_id, sku, int(q), min(1.0, p)))
    return out


@dataclass(frozen=True)
class LevelTargets:
    """Aggregate fill per kind of location (``cost_weighted_base_stock``)."""

    van_fill: float
    depot_fill: float


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
        for sku, q in cost_weighted_base_stock(by_sku, unit_cost, fill).items():
            out[(loc, sku)] = q
    return out
