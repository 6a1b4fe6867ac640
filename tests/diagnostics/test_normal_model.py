"""Normal-behaviour model: training, residual explanation, serialisation."""

from __future__ import annotations

import numpy as np
import pytest

from diagnostics.normal_model import NormalModel, train_normal_model

from .synth import apply_fault, stream


def test_round_trip_bytes_gives_identical_scores(models):
    m = models["pump"]
    data = m.to_bytes()
    assert isinstance(data, bytes)
    back = NormalModel.from_bytes(data)
    assert (back.version, back.equipment_type, back.signals) == (m.version, m.equipment_type, m.signals)
    rows = np.array([[v[s] for s in m.signals] for _, v in stream("pump", 50_000, 50, seed=3)])
    for a, b in zip(m.score_matrix(rows), back.score_matrix(rows)):
        np.testing.assert_allclose(a, b)


def test_from_bytes_rejects_other_formats():
    with pytest.raises(ValueError):
        NormalModel.from_bytes(b'{"format": "pickle"}')


def test_healthy_scores_stay_below_limit_across_the_day(models):
    m = models["chiller"]
    rows = np.array([[v[s] for s in m.signals] for _, v in stream("chiller", 10 * 86400, 8640, seed=4)])
    score = m.score_matrix(rows)[0]
    assert np.mean(score > 1) < 0.02  # limits are the 99.5th healthy percentile


@pytest.mark.parametrize("signal,rel", [("flow_lpm", -0.1), ("motor_temp_c", 0.08)])
def test_residual_points_at_the_faulty_signal(models, signal, rel):
    m = models["pump"]
    (_t, v), = list(stream("pump", 3 * 86400 + 20000, 1, seed=5))
    v = dict(v)
    v[signal] *= 1 + rel
    s = m.score(v)
    assert s.score > 1
    worst = max(s.residual_z, key=lambda k: abs(s.residual_z[k]))
    assert worst == signal and np.sign(s.residual_z[signal]) == np.sign(rel)
    others = [abs(z) for k, z in s.residual_z.items() if k != signal]
    assert max(others) < 4  # the robust operating point keeps healthy signals near zero


def test_majority_fault_still_scores_high(models):
    m = models["pump"]
    (_t, v), = list(stream("pump", 4 * 86400, 1, seed=6))
    assert m.score(apply_fault(v, "pump", "clogged_filter", 1.0)).score > 1


def test_training_validates_input():
    with pytest.raises(ValueError):
        train_normal_model("pump", [], version="x")
    with pytest.raises(ValueError):
        train_normal_model("pump", [{"a": 1.0, "b": 2.0}] * 3, version="x")
