"""A synthetic service territory with incident history, for the forecast and capacity benchmarks and tests.

Why synthetic: the benchmark must know the true process to measure forecast error and interval coverage on a
held-back period, and the capacity benchmark must draw "actual" days from the same process the forecast learnt.
The process: per region a base rate shaped by hour of day and weekday/weekend, plus failures of degrading
assets announced in advance by remaining-useful-life predictions (the fleet-health signal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
T0 = 1_766_966_400.0  # 2025-12-29 00:00 UTC, a Monday: history weeks start on Mondays

# Relative load by hour of day on a weekday: quiet nights, a morning peak when plants start up, an afternoon one.
WEEKDAY_PROFILE = (0.15, 0.12, 0.10, 0.10, 0.12, 0.20, 0.45, 0.80, 1.00, 1.00, 0.95, 0.85,
                   0.75, 0.85, 0.95, 0.90, 0.80, 0.60, 0.45, 0.35, 0.30, 0.25, 0.20, 0.18)
WEEKEND_FACTOR = 0.45  # plants run light at weekends
WEEKEND_PROFILE = tuple(0.5 * p + 0.5 * 0.45 for p in WEEKDAY_PROFILE)  # flatter: fewer start-ups


@dataclass(frozen=True)
class Region:
    name: str
    lat: float
    lon: float
    size_km: float
    peak_rate_per_h: float  # weekday peak-hour incidents (without fleet-health failures)
    degrading_per_day: float  # assets entering predicted degradation per day


# Three regions of different size and load (a dense port city, a mid-size town, a rural area) 60-80 km apart:
# different enough that one flat roster cannot fit all of them.
REGIONS: tuple[Region, ...] = (
    Region("port", 51.92, 4.48, 30.0, 5.0, 8.0),
    Region("town", 52.40, 4.90, 30.0, 2.4, 4.0),
    Region("rural", 51.55, 5.40, 40.0, 0.9, 1.5),
)


@dataclass(frozen=True)
class Prediction:
    """A remaining-useful-life estimate issued for an asset: expected failure at ``issued + rul_s``."""

    region: str
    issued: float
    rul_s: float
    fails_at: float  # the truth (unknown to the forecaster)


@dataclass
class History:
    regions: tuple[Region, ...]
    start: float
    hours: int
    counts: dict[str, np.ndarray]  # region -> incidents per hour (index 0 = start)
    arrivals: dict[str, list[float]] = field(default_factory=dict)  # region -> incident times (epoch s)
    predictions: list[Prediction] = field(default_factory=list)


def base_rate(region: Region, t: float) -> float:
    """Incidents per hour at ``t`` from the seasonal part (no fleet-health failures)."""
    h = int(((t - T0) % DAY) // HOUR)
    dow = int(((t - T0) % WEEK) // DAY)  # 0 = Monday
    if dow >= 5:
        return region.peak_rate_per_h * WEEKEND_FACTOR * WEEKEND_PROFILE[h]
    return region.peak_rate_per_h * WEEKDAY_PROFILE[h]


# Spread of true failure time around the predicted one, as a fraction of the predicted RUL (RUL models are
# typically within ±30 % one sigma on run-to-failure data).
RUL_REL_SD = 0.3


def simulate_history(seed: int, weeks: int, regions: tuple[Region, ...] = REGIONS, start: float = T0) -> History:
    rng = np.random.default_rng(seed)
    hours = weeks * 7 * 24
    end = start + hours * HOUR
    hist = History(regions, start, hours, {r.name: np.zeros(hours, dtype=int) for r in regions},
                   {r.name: [] for r in regions})
    for r in regions:
        times: list[float] = []
        # Seasonal incidents: thinning of a Poisson process at the peak rate.
        t = start
        lam_max = r.peak_rate_per_h / HOUR
        while True:
            t += rng.exponential(1 / lam_max)
            if t >= end:
                break
            if rng.random() < base_rate(r, t) / r.peak_rate_per_h:
                times.append(t)
        # Degrading assets (an ageing fleet: ~10-15 % of the load): predictions issued through the period,
        # failures 6-72 h later.
        n_pred = rng.poisson(r.degrading_per_day * (hours / 24 + 4))
        for _ in range(n_pred):
            issued = start - 4 * DAY + rng.random() * (end - start + 4 * DAY)
            rul = rng.uniform(6, 72) * HOUR
            fails = issued + max(HOUR, rul * (1 + RUL_REL_SD * rng.standard_normal()))
            hist.predictions.append(Prediction(r.name, issued, rul, fails))
            if start <= fails < end:
                times.append(fails)
        times.sort()
        hist.arrivals[r.name] = times
        for x in times:
            hist.counts[r.name][int((x - start) // HOUR)] += 1
    return hist


def fleet_risk(predictions: list[Prediction], region: str, known_at: float, hour_starts: np.ndarray) -> np.ndarray:
    """Expected failures per hour from the RUL predictions known at ``known_at`` (issued before it, asset not
    yet failed): each prediction contributes the probability mass of a normal(issued + rul, 0.3 rul) failure
    time in the hour, renormalised by its survival to ``known_at``. This is what a forecaster can know."""
    out = np.zeros(len(hour_starts))
    for p in predictions:
        if p.region != region or p.issued > known_at or p.fails_at <= known_at:
            continue
        mu, sd = p.issued + p.rul_s, RUL_REL_SD * p.rul_s
        surv = 1 - _ncdf((known_at - mu) / sd)
        if surv < 1e-6:
            continue
        a = _ncdf((hour_starts - mu) / sd)
        b = _ncdf((hour_starts + HOUR - mu) / sd)
        out += np.clip(b - np.maximum(a, _ncdf((known_at - mu) / sd)), 0, None) / surv
    return out


def _ncdf(z: np.ndarray | float) -> np.ndarray:
    return 0.5 * (1 + _erf(np.asarray(z, dtype=float) / math.sqrt(2)))


_erf = np.vectorize(math.erf, otypes=[float])
