"""Process detectors: threshold, rate of change, drift (CUSUM/EWMA on robust z)."""

from __future__ import annotations

import numpy as np
import pytest

from diagnostics.detectors import Cusum, DriftDetector, RateDetector, ThresholdDetector, severity_from_score


def feed(det, series, dt=10.0, signal="x"):
    """Run a detector over values; returns the list of active-condition lists per step."""
    return [det.step(i * dt, {signal: v}) for i, v in enumerate(series)]


class TestThreshold:
    def test_fires_only_after_min_duration(self):
        det = ThresholdDetector("x", high=10, hysteresis=1, min_duration_s=60)
        out = feed(det, [5] * 3 + [12] * 10)
        first = next(i for i, c in enumerate(out) if c)
        assert first == 3 + 6  # 60 s at 10 s per sample after the first excursion
        assert out[first][0].kind == "threshold_high"
        assert out[first][0].started_at == 30.0

    def test_short_excursion_does_not_fire(self):
        det = ThresholdDetector("x", high=10, min_duration_s=60)
        assert not any(feed(det, [5, 12, 12, 12, 5, 12, 12, 5] * 3))

    def test_hysteresis_keeps_active_until_clear_band(self):
        det = ThresholdDetector("x", high=10, hysteresis=2, min_duration_s=0)
        out = feed(det, [11, 9.5, 8.5, 7.9, 9.5])
        assert [bool(c) for c in out] == [True, True, True, False, False]

    def test_low_limit_and_critical_severity(self):
        det = ThresholdDetector("x", low=2, low_critical=0.5, hysteresis=0.2, severity=2)
        out = feed(det, [1.5, 0.2])
        assert out[0][0].kind == "threshold_low" and out[0][0].severity == 2
        assert out[1][0].severity == 3

    def test_missing_value_keeps_state(self):
        det = ThresholdDetector("x", high=10)
        det.step(0, {"x": 11})
        assert det.step(10, {}) and det.step(20, {"x": float("nan")})


class TestRate:
    def test_step_drop_fires_and_holds(self):
        det = RateDetector("x", window_s=30, max_fall_per_s=0.1, hold_s=100)
        out = feed(det, [10.0] * 5 + [0.0] * 20)
        fired = [i for i, c in enumerate(out) if c]
        assert fired and fired[0] == 5 and out[5][0].kind == "rate_fall"
        assert not out[-1]  # released after the hold time
        assert out[5][0].evidence["direction"] == "down"

    def test_slow_ramp_does_not_fire(self):
        det = RateDetector("x", window_s=30, max_fall_per_s=0.1, max_rise_per_s=0.1)
        assert not any(feed(det, np.linspace(10, 0, 200)))  # 0.005 per s


    def test_slope_matches_numpy_least_squares(self):
        rng = np.random.default_rng(0)
        for _ in range(200):
            det = RateDetector("x", window_s=30)
            n = int(rng.integers(2, 40))
            ts = 1.79e9 + np.cumsum(rng.uniform(0.5, 2, n))  # epoch-sized timestamps
            xs = rng.normal(0, 1, n) * rng.choice([0.01, 1, 100]) + 50
            det._buf.extend(zip(ts.tolist(), xs.tolist(), strict=True))
            dt = ts - ts.mean()
            ref = float(np.sum(dt * (xs - xs.mean())) / np.sum(dt * dt))
            assert det.slope() == pytest.approx(ref, rel=1e-9, abs=1e-12)

    def test_no_trip_before_the_window_spans_min_span(self):
        # 1 Hz start-up: two readings 1 s apart differing by sensor noise read as a 0.3/s fall
        series = [10.0, 9.7] + [10.0, 9.8, 10.1, 9.9] * 10
        assert any(feed(RateDetector("x", window_s=30, max_fall_per_s=0.1), series, dt=1.0))
        assert not any(feed(RateDetector("x", window_s=30, max_fall_per_s=0.1, min_span_s=20), series, dt=1.0))

    def test_min_span_still_catches_a_trip_in_a_running_stream(self):
        series = [10.0] * 40 + [0.0] * 10
        out = feed(RateDetector("x", window_s=30, max_fall_per_s=0.1, min_span_s=20), series, dt=1.0)
        ref = feed(RateDetector("x", window_s=30, max_fall_per_s=0.1), series, dt=1.0)
        assert out == ref and any(out[40:]) and out[-1][0].kind == "rate_fall"  # as fast as without it


class TestDrift:
    def test_noise_does_not_fire(self):
        rng = np.random.default_rng(1)
        det = DriftDetector("x", warmup=50)
        assert not any(feed(det, 5 + rng.normal(0, 0.1, 2000)))

    @pytest.mark.parametrize("sign,kind", [(1, "drift_up"), (-1, "drift_down")])
    def test_small_persistent_shift_fires(self, sign, kind):
        rng = np.random.default_rng(2)
        x = 5 + rng.normal(0, 0.1, 600)
        x[200:] += sign * 0.15  # 1.5 sigma: invisible to a threshold, obvious to CUSUM
        out = feed(DriftDetector("x", warmup=50), x)
        first = next(i for i, c in enumerate(out) if c)
        assert 200 < first < 300 and out[first][0].kind == kind

    def test_uses_residual_z_when_given(self):
        det = DriftDetector("x", warmup=10)
        conds = [det.step(i, {"x": 0.0}, residual_z=5.0) for i in range(10)]
        assert conds[-1] and conds[-1][0].kind == "drift_up"

    def test_clears_when_back_to_normal(self):
        det = DriftDetector("x", warmup=10, cusum_h=5)
        [det.step(i, {}, residual_z=4.0) for i in range(10)]
        assert det.step(11, {}, residual_z=4.0)
        assert not [det.step(20 + i, {}, residual_z=0.0) for i in range(200)][-1]


def test_cusum_hysteresis():
    c = Cusum(k=0.5, h=4, clear=0.5)
    assert [c.step(z) > 0 for z in [2, 2, 2]] == [False, False, True]
    assert c.step(-0.5) > 0  # sum 3.5 > clear level 2
    assert c.step(-2) == 0.0


@pytest.mark.parametrize("score,sev", [(1.0, 1), (2.5, 2), (10.0, 3)])
def test_severity_from_score(score, sev):
    assert severity_from_score(score) == sev
