"""Workload forecast benchmark: error and interval coverage on a held-back final week of simulated history.

Run: python -m bench.forecast --seed 1 [--weeks 8]
Simulates ``weeks`` of incident history in three regions (planning.simulate: hour-of-day and weekday seasonality
plus failures of degrading assets announced by RUL predictions), fits the Poisson GLM on all but the last week
and forecasts the last week day-ahead (each day at midnight, with the RUL predictions known then). Compared
with the seasonal naive forecast (same hour last week) and the same GLM without the fleet-health covariate.
Scores per region-hour and per region-day: MAE, RMSE, and coverage of the 80 % and 95 % intervals.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from planning.forecast import Forecast, fit, interval, scores
from planning.simulate import DAY, HOUR, History, base_rate, fleet_risk, simulate_history


def day_ahead_risk(hist: History, region: str) -> np.ndarray:
    """Fleet-health covariate for every hour, as known at the midnight before it."""
    out = np.zeros(hist.hours)
    for d in range(hist.hours // 24):
        t0 = hist.start + d * DAY
        hours = t0 + HOUR * np.arange(24)
        out[d * 24:(d + 1) * 24] = fleet_risk(hist.predictions, region, t0, hours)
    return out


def dataset(hist: History) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    region_of: list[str] = []
    starts, counts, risk = [], [], []
    for r in hist.regions:
        region_of += [r.name] * hist.hours
        starts.append(hist.start + HOUR * np.arange(hist.hours))
        counts.append(hist.counts[r.name])
        risk.append(day_ahead_risk(hist, r.name))
    return region_of, np.concatenate(starts), np.concatenate(counts), np.concatenate(risk)


def daily(values: np.ndarray) -> np.ndarray:
    return values.reshape(-1, 24).sum(axis=1)


def run(seed: int, weeks: int) -> dict[str, object]:
    hist = simulate_history(seed, weeks)
    region_of, starts, counts, risk = dataset(hist)
    test = starts >= hist.start + (weeks - 1) * 7 * DAY
    train = ~test
    reg_tr = [r for r, m in zip(region_of, train, strict=True) if m]
    reg_te = [r for r, m in zip(region_of, test, strict=True) if m]
    out: dict[str, object] = {"seed": seed, "weeks": weeks, "train_hours": int(train.sum()),
                              "test_hours": int(test.sum()), "test_incidents": int(counts[test].sum())}
    for name, use_risk in (("glm_fleet_health", True), ("glm_seasonal_only", False)):
        model = fit(reg_tr, starts[train], counts[train], risk[train], hist.start, use_risk=use_risk)
        fc = model.predict(reg_te, starts[test], risk[test])
        s = scores(counts[test], fc)
        mu = np.array([f.mean for f in fc])
        lo, hi = interval(daily(mu), 0.80, model.dispersion)
        actual_day = daily(counts[test])
        s |= {"daily_mae": float(np.mean(np.abs(actual_day - daily(mu)))),
              "daily_coverage_80": float(np.mean((lo <= actual_day) & (actual_day <= hi))),
              "dispersion": model.dispersion, "beta": model.beta}
        out[name] = {k: round(v, 4) for k, v in s.items()}
    # Seasonal naive: the same hour one week earlier; intervals from Poisson quantiles of that count.
    naive = np.concatenate([hist.counts[r.name][-2 * 168:-168] for r in hist.regions]).astype(float)
    lo80, hi80 = interval(np.maximum(naive, 0.05), 0.80)
    lo95, hi95 = interval(np.maximum(naive, 0.05), 0.95)
    fc_naive = [Forecast(r, 0.0, float(m), int(a), int(b), int(c), int(d))
                for r, m, a, b, c, d in zip(reg_te, naive, lo80, hi80, lo95, hi95, strict=True)]
    s = scores(counts[test], fc_naive) | {
        "daily_mae": float(np.mean(np.abs(daily(counts[test]) - daily(naive))))}
    out["seasonal_naive"] = {k: round(v, 4) for k, v in s.items()}
    # Oracle: the true seasonal rate plus the same day-ahead fleet risk: the noise floor no forecaster beats.
    by_name = {r.name: r for r in hist.regions}
    true_mu = np.array([base_rate(by_name[r], t) for r, t in zip(reg_te, starts[test], strict=True)]) + risk[test]
    lo80, hi80 = interval(true_mu, 0.80)
    lo95, hi95 = interval(true_mu, 0.95)
    fc_true = [Forecast(r, 0.0, float(m), int(a), int(b), int(c), int(d))
               for r, m, a, b, c, d in zip(reg_te, true_mu, lo80, hi80, lo95, hi95, strict=True)]
    s = scores(counts[test], fc_true) | {"daily_mae": float(np.mean(np.abs(daily(counts[test]) - daily(true_mu))))}
    out["oracle_true_rate"] = {k: round(v, 4) for k, v in s.items()}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--weeks", type=int, default=8, help="weeks of history; the last one is held back")
    a = ap.parse_args(argv)
    print(f"forecast: seed={a.seed} weeks={a.weeks} (train on {a.weeks - 1}, test on the last, day-ahead)",
          file=sys.stderr)
    t0 = time.perf_counter()
    out = run(a.seed, a.weeks)
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    for k in ("glm_fleet_health", "glm_seasonal_only", "seasonal_naive", "oracle_true_rate"):
        print(f"{k}: {out[k]}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
