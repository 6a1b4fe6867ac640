import numpy as np
import pytest

from bench.forecast import dataset, run
from planning.forecast import ModelCache, fit, interval, scores
from planning.simulate import HOUR, REGIONS, T0, base_rate, fleet_risk, simulate_history


def test_fit_recovers_the_seasonal_shape_and_the_fleet_health_uplift() -> None:
    hist = simulate_history(seed=5, weeks=8)
    region_of, starts, counts, risk = dataset(hist)
    model = fit(region_of, starts, counts, risk, hist.start)
    port = REGIONS[0]
    night, morning = T0 + 3 * HOUR, T0 + 9 * HOUR  # Monday 03:00 and 09:00
    mu = model.mean([port.name, port.name], np.array([night, morning]), np.zeros(2))
    assert mu[1] > 4 * mu[0]  # the morning peak is learnt
    assert abs(mu[1] - base_rate(port, morning)) < 0.35 * base_rate(port, morning)
    assert 0.3 < model.beta < 1.5  # an expected predicted failure is worth about one incident (less: some are
    # issued and fail within the same day, unseen by the day-ahead covariate)


def test_intervals_widen_with_the_mean_and_with_overdispersion() -> None:
    lo, hi = interval(np.array([0.2, 5.0]), 0.8)
    assert lo[0] == 0 and hi[1] - lo[1] > hi[0] - lo[0]
    lo2, hi2 = interval(np.array([5.0]), 0.8, dispersion=3.0)
    assert hi2[0] - lo2[0] > hi[1] - lo[1]


def test_fleet_risk_only_uses_predictions_known_at_forecast_time() -> None:
    hist = simulate_history(seed=2, weeks=1)
    hours = hist.start + 3 * 86400 + HOUR * np.arange(24)
    known = fleet_risk(hist.predictions, "port", hist.start + 3 * 86400, hours)
    nothing_known = fleet_risk(hist.predictions, "port", hist.start - 30 * 86400, hours)
    assert known.sum() > 0 and nothing_known.sum() == 0


def test_benchmark_scores_the_held_back_week_and_beats_the_seasonal_naive_forecast() -> None:
    out = run(seed=1, weeks=4)
    glm, naive = out["glm_fleet_health"], out["seasonal_naive"]
    assert out["test_hours"] == 3 * 168
    assert glm["mae"] < naive["mae"] and glm["coverage_80"] >= 0.75 and glm["coverage_95"] >= 0.9


def test_scores_count_interval_hits() -> None:
    from planning.forecast import Forecast

    fc = [Forecast("a", 0.0, 1.0, 0, 2, 0, 3), Forecast("a", 0.0, 1.0, 0, 2, 0, 3)]
    s = scores(np.array([1, 3]), fc)
    assert s["coverage_80"] == 0.5 and s["coverage_95"] == 1.0 and s["mae"] == 1.0


def test_model_cache_fits_once_per_history_and_refits_on_new_history() -> None:
    hist = simulate_history(seed=3, weeks=2)
    region_of, starts, counts, _ = dataset(hist)
    cache = ModelCache(max_size=2)
    zero = np.zeros(len(counts))
    first = cache.fit(region_of, starts, counts, zero, hist.start, use_risk=False)
    assert cache.fit(region_of, starts, counts.copy(), zero, hist.start, use_risk=False) is first
    assert (cache.misses, cache.hits) == (1, 1)
    later = counts.copy()
    later[-1] += 1  # one more incident in the last hour: a different history, a new fit
    refit = cache.fit(region_of, starts, later, zero, hist.start, use_risk=False)
    assert refit is not first and cache.misses == 2
    assert not np.allclose(refit.theta, first.theta)
    cache.fit(region_of[:-1], starts[:-1], counts[:-1], zero[:-1], hist.start, use_risk=False)
    assert cache.misses == 3 and len(cache) == 2  # bounded: the least recently used model went
    assert cache.fit(region_of, starts, counts, zero, hist.start, use_risk=False) is not first  # evicted, refit
    assert cache.misses == 4


def test_model_cache_refuses_risk_it_does_not_key_on() -> None:
    hist = simulate_history(seed=3, weeks=1)
    region_of, starts, counts, _ = dataset(hist)
    with pytest.raises(ValueError):
        ModelCache().fit(region_of, starts, counts, np.ones(len(counts)), hist.start, use_risk=True)
