"""The fleet's RUL model as data: exported trees predict exactly what sklearn predicts, survive JSON, and a model
trained on synthetic wear histories estimates a coming failure far better than "no failure in sight"."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diagnostics.rul import RulModel, window_features
from diagnostics.rul_learned import (
    CAP_CYCLES,
    CYCLE_S,
    Failure,
    LearnedRulModel,
    bucket_history,
    export,
    train_learned,
)


def wear_history(rng: np.random.Generator, healthy: int, wear: int) -> np.ndarray:
    """Two signals: noise around a level, the first ramping up over the last ``wear`` cycles (like vibration)."""
    n = healthy + wear
    h = np.column_stack([3.0 + rng.normal(0, 0.1, n), 50.0 + rng.normal(0, 1.0, n)])
    h[healthy:, 0] += np.linspace(0, 4.0, wear) ** 1.5
    return h


def failures(seed: int, n: int) -> list[Failure]:
    rng = np.random.default_rng(seed)
    return [Failure(f"d{i % 7}", "bearing_wear", wear_history(rng, int(rng.integers(40, 120)),
                                                              int(rng.integers(12, 48)))) for i in range(n)]


def test_exported_trees_predict_what_sklearn_predicts_with_missing_values() -> None:
    hist = [f.history for f in failures(1, 10)]
    reg = RulModel(window=12, max_iter=40, cap=CAP_CYCLES).fit(hist)
    model = LearnedRulModel.from_doc(json.loads(json.dumps(export(reg, "pump", ["a", "b"], (-3, 5), None,
                                                                   {}).to_doc())))
    x = np.vstack([window_features(h, 12) for h in hist])
    x[::5, 2] = np.nan  # sklearn routes missing values by each node's learned side; so must the export
    assert np.allclose(model.predict_features(x), reg._reg.predict(x))


def test_learned_model_estimates_a_coming_failure_and_reports_held_out_error() -> None:
    model = train_learned("pump", ["vibration", "flow"], failures(2, 24), max_iter=80)
    assert model.metrics["failures"] == 24 and model.metrics["held_out_assets"] >= 1
    assert model.interval[0] <= 0 <= model.interval[1]
    rng = np.random.default_rng(99)
    near = wear_history(rng, 80, 30)[:-6]  # 6 cycles (1 h) before failure
    far = wear_history(rng, 80, 30)[:60]  # healthy so far
    assert model.predict_last(near) < 15  # a failure within hours, not "no failure in sight"
    assert model.predict_last(far) > 0.6 * CAP_CYCLES
    # honest metric: held-out RMSE is reported in hours and is far below the cap (8 h)
    assert model.metrics["holdout_rmse_near_failure_h"] < 0.5 * CAP_CYCLES * CYCLE_S / 3600


def test_too_few_histories_are_refused() -> None:
    with pytest.raises(ValueError):
        train_learned("pump", ["a", "b"], failures(3, 3))


def test_bucket_history_forward_fills_gaps_and_needs_every_signal() -> None:
    rows = [(0.0, "a", 1.0), (0.0, "b", 5.0), (1200.0, "a", 3.0), (1800.0, "b", 6.0)]
    h = bucket_history(rows, ["a", "b"], 0.0, 2400.0)
    assert h.tolist() == [[1.0, 5.0], [1.0, 5.0], [3.0, 5.0], [3.0, 6.0]]
    assert bucket_history([(0.0, "a", 1.0)], ["a", "b"], 0.0, 1200.0).shape == (0, 2)
