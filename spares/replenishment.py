"""Replenishment: how many of each part to hold where, from past consumption and predicted failures.

Demand for one SKU at one location over a horizon (the replenishment lead time plus the review period) is
modelled as the sum of two independent parts:

* background demand: Poisson (or negative binomial, when history is over-dispersed) with mean
  ``rate * horizon``, where ``rate`` is an exponentially weighted mean of past daily consumption that was *not*
  announced by a prediction (so predicted jobs are not counted twice);
* predicted demand: each asset whose remaining-useful-life estimate falls within the horizon contributes ``qty``
  units with probability ``p`` (a Bernoulli term); the sum of those is a Poisson-binomial.

The base stock (order-up-to level) is the smallest S whose fill rate, or cycle service level, meets the target.
Quantiles are computed here with numpy (no scipy needed at run time); tests check them against scipy.stats.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# The tail probability below which a pmf is cut: far below any service target anyone sets.
_PMF_TAIL = 1e-12
# Half-life of the consumption average in days: two weeks reacts to a season, not to one busy day.
EWMA_HALFLIFE_DAYS = 14.0


@dataclass(frozen=True)
class PredictedFailure:
    """An asset expected to need ``qty`` of ``sku`` within the horizon with probability ``probability``."""

    asset_id: str
    sku: str
    qty: int
    probability: float


@dataclass(frozen=True)
class FailureForecast:
    """One asset's predicted failure (diagnostics' ``predicted_failures`` row), times in epoch seconds.

    ``earliest``/``latest`` are the estimate's bounds (None = unknown; a None ``latest`` means beyond the
    diagnostics horizon). ``parts`` is what the knowledge base lists for the likely fault mode.
    """

    asset_id: str
    failure_at: float
    earliest: float | None
    latest: float | None
    parts: Mapping[str, int]
    has_open_incident: bool = False


# Forecasts less likely than this to fall inside the horizon are left out: they would not move any stock level.
MIN_FORECAST_PROBABILITY = 1e-3


def failure_probability_by(end: float, failure_at: float, earliest: float | None = None,
                           latest: float | None = None) -> float:
    """P(failure time <= ``end``) for a forecast with median ``failure_at`` and bounds ``earliest``/``latest``.

    The bounds are the fit's +-2 standard errors, which can be asymmetric (the accelerating-wear fit), so the
    failure time is taken as a two-piece normal: median ``failure_at``, sigma = (median - earliest) / 2 below it
    and (latest - median) / 2 above it. When the side of the median that ``end`` lies on has no usable bound,
    the forecast counts whole if ``end`` is at or after the median and not at all before it. A failure predicted
    before now that has not happened yet still counts (the part is still needed), hence no lower cut-off.
    """
    x = end - failure_at
    bound = earliest if x < 0 else latest
    sigma = abs(failure_at - bound) / 2.0 if bound is not None else 0.0
    if sigma <= 0.0:
        return 1.0 if x >= 0 else 0.0
    return 0.5 * (1.0 + math.erf(x / (sigma * math.sqrt(2.0))))


def forecast_demand(forecast: FailureForecast, end: float,
                    min_probability: float = MIN_FORECAST_PROBABILITY) -> list[PredictedFailure]:
    """The parts a predicted failure would need by ``end``, each weighted by the chance it happens by then.

    A forecast whose asset already has an open incident is skipped: that job's parts are announced by its work
    order (or will be), and counting both would double the demand.
    """
    if forecast.has_open_incident:
        return []
    p = failure_probability_by(end, forecast.failure_at, forecast.earliest, forecast.latest)
    if p < min_probability:
        return []
    return [PredictedFailure(forecast.asset_id, sku, int(q), min(1.0, p))
            for sku, q in sorted(forecast.parts.items()) if int(q) > 0]


@dataclass(frozen=True)
class StockTarget:
    location_id: int
    sku: str
    mean_demand: float  # expected units over lead time + review period
    reorder_point: int  # order when the position falls to or below this
    base_stock: int  # order up to this


@dataclass(frozen=True)
class Transfer:
    from_location_id: int
    to_location_id: int
    sku: str
    qty: int


@dataclass(frozen=True)
class RestockLine:
    sku: str
    qty: int
    from_location_id: int


@dataclass(frozen=True)
class StockAlert:
    """A part an open job needs that no stock point within reach can supply."""

    work_order_id: int
    sku: str
    needed: int
    available_within_reach: int


def ewma_rate(daily: Sequence[float], halflife_days: float = EWMA_HALFLIFE_DAYS) -> float:
    """Exponentially weighted mean of daily counts, oldest first; 0 for no history."""
    if not daily:
        return 0.0
    decay = 0.5 ** (1.0 / halflife_days)
    weights = decay ** np.arange(len(daily) - 1, -1, -1, dtype=float)
    return float(np.dot(weights, np.asarray(daily, dtype=float)) / weights.sum())


def poisson_pmf(mean: float) -> np.ndarray:
    """Poisson pmf 0..n, cut where the remaining tail is below ``_PMF_TAIL``."""
    if mean < 0:
        raise ValueError("mean must be non-negative")
    if mean == 0:
        return np.array([1.0])
    n_max = int(mean + 12.0 * math.sqrt(mean) + 20)
    k = np.arange(n_max + 1, dtype=float)
    logp = k * math.log(mean) - mean - np.array([math.lgamma(x + 1.0) for x in k])
    return _trim(np.exp(logp))


def negbin_pmf(mean: float, variance: float) -> np.ndarray:
    """Negative binomial pmf with the given mean and variance (> mean); Poisson when variance <= mean."""
    if variance <= mean or mean == 0:
        return poisson_pmf(mean)
    r = mean * mean / (variance - mean)
    p = r / (r + mean)  # success probability in scipy's (n, p) parameterisation
    n_max = int(mean + 15.0 * math.sqrt(variance) + 20)
    k = np.arange(n_max + 1, dtype=float)
    logp = (np.array([math.lgamma(x + r) - math.lgamma(r) - math.lgamma(x + 1.0) for x in k])
            + r * math.log(p) + k * math.log1p(-p))
    return _trim(np.exp(logp))


def _trim(pmf: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(pmf)
    last = int(np.searchsorted(cdf, 1.0 - _PMF_TAIL)) + 1
    return pmf[: max(1, min(last, len(pmf)))]


def bernoulli_sum_pmf(predicted: Iterable[tuple[float, int]]) -> np.ndarray:
    """Pmf of the sum of independent ``qty`` * Bernoulli(``p``) terms (exact convolution)."""
    pmf = np.array([1.0])
    for p, qty in predicted:
        if not 0.0 <= p <= 1.0 or qty <= 0:
            raise ValueError("probability in [0, 1] and positive quantity required")
        term = np.zeros(qty + 1)
        term[0], term[qty] = 1.0 - p, p
        pmf = np.convolve(pmf, term)
    return pmf


def demand_pmf(background_mean: float, predicted: Iterable[tuple[float, int]] = (),
               background_variance: float | None = None) -> np.ndarray:
    """Pmf of background (Poisson / negative binomial) plus predicted (Bernoulli) demand."""
    bg = (negbin_pmf(background_mean, background_variance) if background_variance is not None
          else poisson_pmf(background_mean))
    return np.convolve(bg, bernoulli_sum_pmf(predicted))


def quantile(pmf: np.ndarray, level: float) -> int:
    """Smallest k with P(D <= k) >= level (the cycle-service-level base stock)."""
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    cdf = np.cumsum(pmf)
    return min(int(np.searchsorted(cdf, level - 1e-12)), len(pmf) - 1)


def fill_rate(pmf: np.ndarray, stock: int) -> float:
    """Share of demand met from stock when ``stock`` units face demand ``pmf`` (1 when no demand expected)."""
    k = np.arange(len(pmf))
    mean = float(np.dot(k, pmf))
    if mean == 0.0:
        return 1.0
    short = float(np.dot(np.maximum(k - stock, 0), pmf))
    return 1.0 - short / mean


def base_stock_for_fill_rate(pmf: np.ndarray, target: float) -> int:
    """Smallest S with ``fill_rate(pmf, S) >= target``."""
    for s in range(len(pmf)):
        if fill_rate(pmf, s) >= target - 1e-12:
            return s
    return len(pmf) - 1


def plan_target(location_id: int, sku: str, daily_history: Sequence[float], lead_time_days: float,
                review_days: float, predicted: Sequence[PredictedFailure] = (), *, fill_target: float = 0.95,
                measure: str = "fill", halflife_days: float = EWMA_HALFLIFE_DAYS) -> StockTarget:
    """Reorder point (lead-time demand) and base stock (lead time + review) for one location and SKU.

    ``daily_history`` is the background (unpredicted) consumption per day, oldest first. ``predicted`` lists the
    failures expected within ``lead_time_days + review_days``. ``measure`` is "fill" (share of units served,
    which asks for at least one unit of anything with demand) or "cycle" (probability of no shortage, which lets
    a van carry nothing of a part it will very likely not need before its next restock).
    """
    if measure not in ("fill", "cycle"):
        raise ValueError("measure must be 'fill' or 'cycle'")
    level_of = base_stock_for_fill_rate if measure == "fill" else quantile
    pmf_s = horizon_demand_pmf(sku, daily_history, lead_time_days + review_days, predicted, halflife_days)
    pmf_r = horizon_demand_pmf(sku, daily_history, lead_time_days, predicted, halflife_days)
    mean = float(np.dot(np.arange(len(pmf_s)), pmf_s))
    return StockTarget(location_id, sku, mean, level_of(pmf_r, fill_target), level_of(pmf_s, fill_target))


def horizon_demand_pmf(sku: str, daily_history: Sequence[float], horizon_days: float,
                       predicted: Sequence[PredictedFailure] = (),
                       halflife_days: float = EWMA_HALFLIFE_DAYS) -> np.ndarray:
    """Pmf of one SKU's demand over ``horizon_days``: background from the (unpredicted) daily history, with its
    over-dispersion, plus the predicted failures naming ``sku`` (see the module docstring)."""
    rate = ewma_rate(daily_history, halflife_days)
    hist = np.asarray(daily_history, dtype=float)
    # Over-dispersion from history (variance/mean of daily counts), never below Poisson's 1.
    dispersion = max(1.0, float(hist.var() / hist.mean())) if len(hist) > 1 and hist.mean() > 0 else 1.0
    pred = [(f.probability, f.qty) for f in predicted if f.sku == sku]
    bg = rate * horizon_days
    return demand_pmf(bg, pred, bg * dispersion if dispersion > 1.0 else None)


def cost_weighted_base_stock(pmfs: Mapping[str, np.ndarray], unit_cost: Mapping[str, float],
                             fill_target: float) -> dict[str, int]:
    """Base stock per SKU of ONE location so that its aggregate fill rate (units served from stock over units
    demanded, all SKUs together) reaches ``fill_target`` at the least stock value.

    Why: a fill target per SKU holds as much safety stock of a 1500-euro part as of a 20-euro one, while a job
    counts the same whichever part it needs. Marginal analysis (the "system approach" of multi-item spares
    planning): start from nothing and keep adding the unit with the largest expected extra units served per
    unit of cost, P(D > S) / cost, until the aggregate target is met. Expected shortage is convex in S, so
    greedy is optimal for the cost/service trade-off. A SKU without expected demand gets 0.
    """
    if not 0.0 < fill_target < 1.0:
        raise ValueError("fill_target must be in (0, 1)")
    tails = {}
    short = 0.0
    total = 0.0
    for sku, pmf in pmfs.items():
        k = np.arange(len(pmf))
        mean = float(np.dot(k, pmf))
        if mean <= 0.0:
            continue
        if unit_cost.get(sku, 0.0) <= 0.0:
            raise ValueError(f"unit cost of {sku!r} must be positive")
        tails[sku] = 1.0 - np.cumsum(pmf)  # tails[sku][S] = P(D > S), the shortage removed by unit S + 1
        short += mean
        total += mean
    stock = {sku: 0 for sku in pmfs}
    allowed = (1.0 - fill_target) * total
    heap = [(-float(t[0]) / unit_cost[sku], sku) for sku, t in tails.items()]
    heapq.heapify(heap)
    while short > allowed + 1e-12 and heap:
        _, sku = heapq.heappop(heap)
        t = tails[sku]
        s = stock[sku]
        gain = float(t[s]) if s < len(t) else 0.0
        if gain <= 0.0:
            continue
        stock[sku] = s + 1
        short -= gain
        nxt = float(t[s + 1]) if s + 1 < len(t) else 0.0
        if nxt > 0.0:
            heapq.heappush(heap, (-nxt / unit_cost[sku], sku))
    return stock


def suggest_transfers(positions: Mapping[tuple[int, str], int], targets: Mapping[tuple[int, str], int],
                      distance: Callable[[int, int], float] | None = None) -> list[Transfer]:
    """Move excess (position above target) to deficits (below target) of the same SKU, nearest source first.

    Only true excess is moved, so a transfer never pushes the source below its own target.
    """
    transfers: list[Transfer] = []
    skus = sorted({sku for _, sku in targets})
    for sku in skus:
        keys = sorted({k for k in list(positions) + list(targets) if k[1] == sku})
        excess = {loc: positions.get((loc, s), 0) - targets.get((loc, s), 0) for loc, s in keys}
        deficits = sorted(((-e, loc) for loc, e in excess.items() if e < 0), reverse=True)
        for _, to_loc in deficits:
            need = -excess[to_loc]
            sources = [loc for loc, e in excess.items() if e > 0]
            sources.sort(key=lambda loc: (distance(loc, to_loc) if distance else 0.0, -excess[loc], loc))
            for src in sources:
                if need == 0:
                    break
                qty = min(need, excess[src])
                transfers.append(Transfer(src, to_loc, sku, qty))
                excess[src] -= qty
                need -= qty
            excess[to_loc] = -need
    return transfers


def van_restock_list(van_stock: Mapping[str, int], van_targets: Mapping[str, int], depot_location_id: int,
                     depot_available: Mapping[str, int]) -> list[RestockLine]:
    """End-of-day list: bring the van back up to its targets from what its depot can give (SKU order)."""
    lines: list[RestockLine] = []
    for sku in sorted(van_targets):
        short = van_targets[sku] - van_stock.get(sku, 0)
        qty = min(short, depot_available.get(sku, 0))
        if qty > 0:
            lines.append(RestockLine(sku, qty, depot_location_id))
    return lines


def out_of_stock_alerts(open_jobs: Sequence[tuple[int, Mapping[str, int], Sequence[int]]],
                        available: Mapping[tuple[int, str], int]) -> list[StockAlert]:
    """Alerts for parts that open jobs need but no location within reach holds enough of.

    ``open_jobs`` holds (work_order_id, {sku: qty}, ids of locations within reach of the job's deadline);
    jobs are taken in the given order (most urgent first) and earlier jobs claim stock first.
    """
    left = dict(available)
    alerts: list[StockAlert] = []
    for wo, needs, reach in open_jobs:
        for sku, qty in sorted(needs.items()):
            have = sum(left.get((loc, sku), 0) for loc in reach)
            if have < qty:
                alerts.append(StockAlert(wo, sku, qty, have))
            take = min(qty, have)
            for loc in reach:
                got = min(take, left.get((loc, sku), 0))
                if got:
                    left[(loc, sku)] -= got
                    take -= got
    return alerts
