"""Workload forecast: incidents per region per hour with prediction intervals.

Poisson regression with mean ``exp(X theta) + beta * risk``: a log-linear seasonal part on region, hour of day,
day of week and weekend x hour of day, plus an additive fleet-health uplift, ``risk`` being the expected failures
in the hour from open remaining-useful-life predictions (and open "watching" incidents in production). Why
additive: a predicted failure adds one incident whatever the hour, it does not scale the background rate (a
log-link GLM with risk as a feature could not use it: +0.0 % MAE on the benchmark). Fitted by maximum likelihood
(L-BFGS-B, beta >= 0) with a small L2 penalty, starting from scikit-learn's log-link GLM for the seasonal part.
Intervals: negative binomial quantiles with the dispersion estimated from the training residuals (Pearson), which
reduce to Poisson quantiles when the counts are not over-dispersed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats
from sklearn.linear_model import PoissonRegressor

HOUR = 3600.0
DAY = 24 * HOUR
# L2 penalty of the GLM: small, only to keep rarely seen hour/day cells finite; 1e-3 gave the lowest training
# deviance on 4 weeks of the synthetic history without over-fitting the held-back week.
ALPHA = 1e-3


@dataclass(frozen=True)
class Forecast:
    region: str
    hour_start: float  # epoch s
    mean: float
    lo80: int
    hi80: int
    lo95: int
    hi95: int


def features(regions: Sequence[str], region_of: Sequence[str], hour_starts: np.ndarray,
             epoch_monday: float) -> np.ndarray:
    """Seasonal design matrix: region, hour-of-day, day-of-week and weekend x hour-of-day one-hot."""
    n = len(hour_starts)
    rel = hour_starts - epoch_monday
    hod = ((rel % DAY) // HOUR).astype(int)
    dow = ((rel % (7 * DAY)) // DAY).astype(int)
    weekend = dow >= 5
    X = np.zeros((n, len(regions) + 24 + 7 + 24))
    idx = {r: i for i, r in enumerate(regions)}
    X[np.arange(n), [idx[r] for r in region_of]] = 1
    o = len(regions)
    X[np.arange(n), o + hod] = 1
    X[np.arange(n), o + 24 + dow] = 1
    X[np.arange(n)[weekend], o + 31 + hod[weekend]] = 1
    return X


@dataclass
class WorkloadModel:
    regions: tuple[str, ...]
    epoch_monday: float
    theta: np.ndarray  # seasonal coefficients (log scale), intercept last
    beta: float  # incidents per expected predicted failure
    dispersion: float

    def mean(self, region_of: Sequence[str], hour_starts: np.ndarray, risk: np.ndarray) -> np.ndarray:
        X = features(self.regions, region_of, hour_starts, self.epoch_monday)
        return np.exp(X @ self.theta[:-1] + self.theta[-1]) + self.beta * np.asarray(risk, dtype=float)

    def predict(self, region_of: Sequence[str], hour_starts: np.ndarray, risk: np.ndarray) -> list[Forecast]:
        mu = self.mean(region_of, hour_starts, risk)
        lo80, hi80 = interval(mu, 0.80, self.dispersion)
        lo95, hi95 = interval(mu, 0.95, self.dispersion)
        return [Forecast(r, float(t), float(m), int(a), int(b), int(c), int(d))
                for r, t, m, a, b, c, d in zip(region_of, hour_starts, mu, lo80, hi80, lo95, hi95, strict=True)]


def fit(region_of: Sequence[str], hour_starts: np.ndarray, counts: np.ndarray, risk: np.ndarray,
        epoch_monday: float, use_risk: bool = True) -> WorkloadModel:
    """Maximum-likelihood fit; ``use_risk=False`` gives the seasonal-only model (the benchmark's ablation)."""
    regions = tuple(sorted(set(region_of)))
    X = features(regions, region_of, hour_starts, epoch_monday)
    y = np.asarray(counts, dtype=float)
    r = np.asarray(risk, dtype=float) if use_risk else np.zeros(len(y))
    glm = PoissonRegressor(alpha=ALPHA, max_iter=1000).fit(X, y)
    p = X.shape[1]
    x0 = np.concatenate([glm.coef_, [glm.intercept_], [0.5 if use_risk else 0.0]])
    penalty = ALPHA * len(y)

    def nll(w: np.ndarray) -> tuple[float, np.ndarray]:
        eta = np.clip(X @ w[:p] + w[p], -30, 10)
        seasonal = np.exp(eta)
        mu = seasonal + w[p + 1] * r + 1e-9
        g = 1 - y / mu  # d nll / d mu
        grad = np.concatenate([X.T @ (g * seasonal) + penalty * w[:p], [np.sum(g * seasonal)], [np.sum(g * r)]])
        return float(np.sum(mu - y * np.log(mu)) + 0.5 * penalty * np.sum(w[:p] ** 2)), grad

    bounds = [(None, None)] * (p + 1) + [(0.0, None) if use_risk else (0.0, 0.0)]
    res = optimize.minimize(nll, x0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 2000})
    w = res.x
    model = WorkloadModel(regions, epoch_monday, w[:p + 1], float(w[p + 1]), 1.0)
    mu = model.mean(region_of, hour_starts, r)
    dof = max(1, len(y) - p - 2)
    model.dispersion = max(1.0, float(np.sum((y - mu) ** 2 / np.maximum(mu, 1e-9)) / dof))
    return model


class ModelCache:
    """Fitted models keyed by everything a fit depends on (regions, history start, hour count and a digest of
    the counts), least recently used out beyond ``max_size``. Why: the forecast, roster and preventive views
    each refit the same history (~1 s per region-month) on every request, although the history only changes
    when an hour completes or a late incident lands; keying on the data itself means a changed history can
    never be answered from a stale model. Thread-safe (API requests run on a thread pool); two requests
    missing at once may both fit, which is harmless."""

    def __init__(self, max_size: int = 16) -> None:
        self.max_size = max_size
        self.hits = 0
        self.misses = 0
        self._models: OrderedDict[tuple[object, ...], WorkloadModel] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(region_of: Sequence[str], hour_starts: np.ndarray, counts: np.ndarray, epoch_monday: float,
            use_risk: bool) -> tuple[object, ...]:
        digest = hashlib.sha256()
        for part in (np.asarray(hour_starts, dtype=float), np.asarray(counts, dtype=float)):
            digest.update(part.tobytes())
        digest.update("\x00".join(region_of).encode())
        return (tuple(sorted(set(region_of))), len(counts), float(epoch_monday), use_risk, digest.hexdigest())

    def fit(self, region_of: Sequence[str], hour_starts: np.ndarray, counts: np.ndarray, risk: np.ndarray,
            epoch_monday: float, use_risk: bool = True) -> WorkloadModel:
        """``fit(...)`` unless the same history was fitted before. Only for risk-free fits (``use_risk=False``
        or all-zero risk), since the risk vector is not part of the key."""
        if use_risk and np.any(np.asarray(risk) != 0):
            raise ValueError("ModelCache keys on the history only: fit with risk directly")
        k = self.key(region_of, hour_starts, counts, epoch_monday, use_risk)
        with self._lock:
            model = self._models.get(k)
            if model is not None:
                self._models.move_to_end(k)
                self.hits += 1
                return model
            self.misses += 1
        model = fit(region_of, hour_starts, counts, risk, epoch_monday, use_risk=use_risk)
        with self._lock:
            self._models[k] = model
            self._models.move_to_end(k)
            while len(self._models) > self.max_size:
                self._models.popitem(last=False)
        return model

    def __len__(self) -> int:
        return len(self._models)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


def interval(mu: np.ndarray, level: float, dispersion: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Central prediction interval of a count with mean ``mu`` and variance ``dispersion * mu``."""
    q_lo, q_hi = (1 - level) / 2, (1 + level) / 2
    mu = np.maximum(np.asarray(mu, dtype=float), 1e-9)
    if dispersion <= 1.0 + 1e-6:
        return stats.poisson.ppf(q_lo, mu), stats.poisson.ppf(q_hi, mu)
    n = mu / (dispersion - 1)  # negative binomial with mean mu and variance dispersion * mu
    p = 1 / dispersion
    return stats.nbinom.ppf(q_lo, n, p), stats.nbinom.ppf(q_hi, n, p)


def scores(actual: np.ndarray, forecasts: Sequence[Forecast]) -> dict[str, float]:
    """Error and interval coverage of forecasts against the actual counts (same order)."""
    mu = np.array([f.mean for f in forecasts])
    a = np.asarray(actual, dtype=float)
    cov80 = np.mean([(f.lo80 <= y <= f.hi80) for f, y in zip(forecasts, a, strict=True)])
    cov95 = np.mean([(f.lo95 <= y <= f.hi95) for f, y in zip(forecasts, a, strict=True)])
    return {"mae": float(np.mean(np.abs(a - mu))), "rmse": float(np.sqrt(np.mean((a - mu) ** 2))),
            "coverage_80": float(cov80), "coverage_95": float(cov95),
            "width_80": float(np.mean([f.hi80 - f.lo80 for f in forecasts]))}
