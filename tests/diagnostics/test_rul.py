"""RUL model pieces: features, capped target, metrics, fit/predict on a synthetic fleet."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from diagnostics.rul import RUL_CAP, RulModel, capped_rul, phm08_score, rmse, window_features


def test_capped_rul():
    r = capped_rul(200)
    assert r[0] == RUL_CAP and r[-1] == 0 and r[-126] == 125 and r[-50] == 49


def test_window_features_causal_mean_and_slope():
    h = np.column_stack([np.arange(10.0), np.full(10, 3.0)])
    f = window_features(h, window=4, baseline=3)
    assert f.shape == (10, 9)
    assert f[9, 0] == pytest.approx(np.mean([6, 7, 8, 9])) and f[9, 2] == pytest.approx(1.0)
    assert f[9, 3] == pytest.approx(0.0) and f[9, 4] == 9 and f[9, 6] == 10
    assert f[9, 7] == pytest.approx(7.5 - 1.0) and f[9, 8] == pytest.approx(0.0)  # vs mean of rows 0..2
    assert f[1, 7] == pytest.approx(0.5 - 0.5)  # young unit: baseline is what it has so far
    f_prefix = window_features(h[:6], window=4, baseline=3)
    np.testing.assert_allclose(f_prefix, f[:6])  # row i only depends on rows <= i


def test_phm08_penalises_late_more_than_early():
    assert phm08_score(np.array([110.0]), np.array([100.0])) == pytest.approx(np.exp(1) - 1)
    assert phm08_score(np.array([90.0]), np.array([100.0])) == pytest.approx(np.exp(10 / 13) - 1)
    assert rmse(np.array([1.0, 3.0]), np.array([0.0, 0.0])) == pytest.approx(np.sqrt(5))


def fleet(n, seed):
    rng = np.random.default_rng(seed)
    units = []
    for _ in range(n):
        life = int(rng.integers(120, 220))
        wear = np.maximum(0, np.arange(life) - (life - 100)) / 100.0  # degradation in the last 100 cycles
        units.append(np.column_stack([wear * 5 + rng.normal(0, 0.2, life), -wear * 3 + rng.normal(0, 0.2, life)]))
    return units


def test_fit_predict_tracks_degradation():
    with threadpool_limits(limits=1):  # tiny fit: OpenMP threads only add contention on a busy machine
        model = RulModel(window=10, max_iter=60).fit(fleet(20, 0))
    test = fleet(5, 1)
    pred = np.array([model.predict_last(u[: len(u) - 40]) for u in test])
    assert np.all(np.abs(pred - 40) < 20)
    assert all(0 <= model.predict_last(u[:30]) <= RUL_CAP for u in test)
