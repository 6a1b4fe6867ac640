"""Sensor-health detectors: stuck, spike, out of range, dropout."""

from __future__ import annotations

import numpy as np

from diagnostics.sensor_health import DropoutDetector, RangeDetector, SpikeDetector, StuckDetector

from .test_detectors import feed


def test_stuck_fires_after_duration():
    det = StuckDetector("x", min_duration_s=60)
    out = feed(det, [1.0, 1.1, 1.2] + [4.2] * 10)
    first = next(i for i, c in enumerate(out) if c)
    assert first == 3 + 6 and out[first][0].kind == "stuck"


def test_stuck_ignores_noisy_signal_and_zero():
    rng = np.random.default_rng(0)
    assert not any(feed(StuckDetector("x", min_duration_s=60), 5 + rng.normal(0, 0.01, 100)))
    assert not any(feed(StuckDetector("x", min_duration_s=60), [0.0] * 100))


def test_spike_confirmed_on_return():
    rng = np.random.default_rng(0)
    x = 5 + rng.normal(0, 0.05, 80)
    x[50] = 9.0
    out = feed(SpikeDetector("x", hold_s=100), x)
    assert not any(out[:51])
    assert out[51][0].kind == "spike" and out[51][0].started_at == 500.0
    assert not out[-1]  # hold expired


def test_level_shift_is_not_a_spike():
    rng = np.random.default_rng(0)
    x = 5 + rng.normal(0, 0.05, 80)
    x[50:] += 4
    assert not any(feed(SpikeDetector("x"), x))


def test_range_immediate():
    out = feed(RangeDetector("x", low=0, high=10), [5, -1, 11, 5])
    assert [bool(c) for c in out] == [False, True, True, False]
    assert out[2][0].started_at == 10.0


def test_dropout_after_gap():
    det = DropoutDetector("x", gap_s=60)
    assert not det.step(0, {"x": 1.0})
    assert not det.step(50, {"y": 1.0})
    c = det.step(70, {"x": float("nan")})
    assert c and c[0].kind == "dropout" and c[0].evidence["missing_s"] == 70
    assert not det.step(80, {"x": 1.0})
