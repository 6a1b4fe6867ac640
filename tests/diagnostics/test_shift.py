"""Shift alarm stage: smoothed-covariance distance, limit/min-duration/hold latch, streaming == vectorised."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from diagnostics import DeviceMonitor, shift
from diagnostics.config import equipment_config
from diagnostics.normal_model import NormalModel, configured_shift_alpha, ewma_rows, fit_matrix

SIGNALS = ("a", "b", "c")


def rig(n: int, seed: int) -> np.ndarray:
    """A steady rig: one white-noise signal, one correlated with it, one slow random walk (a temperature)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(10, 1, n)
    b = 0.5 * a + rng.normal(0, 0.3, n)
    c = 50 + np.cumsum(rng.normal(0, 0.05, n))
    return np.column_stack([a, b, c])


@pytest.fixture(scope="module")
def model() -> NormalModel:
    return fit_matrix(rig(2000, 0), SIGNALS, equipment_type="rig", version="t", shift_alpha=0.1)


def test_ewma_rows_matches_the_recursion():
    z = np.random.default_rng(0).normal(size=(50, 2))
    out = ewma_rows(z, 0.2)
    m = z[0]
    for i in range(50):
        m = 0.2 * z[i] + 0.8 * m if i else z[0]
        np.testing.assert_allclose(out[i], m)


def test_healthy_distance_is_about_one(model):
    d = model.shift_matrix(rig(2000, 0))[100:]
    assert 0.8 < np.sqrt(np.mean(d * d)) < 1.2  # whitened by the smoothed covariance of this very data


def test_sustained_small_shift_of_a_noisy_signal_is_found(model):
    x = rig(1000, 0)
    x[500:, 0] -= 1.5  # 1.5 sigma of the raw signal: invisible per sample, obvious after smoothing
    d = model.shift_matrix(x)
    a = shift.alarm_series(np.arange(1000.0), d, limit=5.0, hold_s=30)
    assert a[:490].mean() < 0.05 and a[530:].mean() > 0.95


def test_streaming_equals_vectorised(model):
    x = rig(600, 3)
    x[300:400, 1] += 2.0
    d_vec = model.shift_matrix(x)
    tracker = shift.ShiftTracker(model)
    d_str = np.array([tracker.step(row) for row in x])
    np.testing.assert_allclose(d_str, d_vec, rtol=1e-9, atol=1e-9)
    t = np.arange(600.0) * 2.0  # 0.5 Hz: durations are seconds, not samples
    for min_d, hold in [(0.0, 0.0), (4.0, 30.0), (10.0, 60.0)]:
        alarm = shift.ShiftAlarm(limit=4.0, min_duration_s=min_d, hold_s=hold)
        streamed = np.array([alarm.step(ti, di) for ti, di in zip(t, d_vec)], dtype=int)
        np.testing.assert_array_equal(streamed, shift.alarm_series(t, d_vec, 4.0, min_d, hold))


def test_alarm_latch_min_duration_and_hold():
    t = np.arange(12.0)
    d = np.array([0, 9, 0, 9, 9, 9, 0, 0, 0, 0, 0, 0])
    assert list(shift.alarm_series(t, d, limit=5, min_duration_s=0, hold_s=0)) == [0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert list(shift.alarm_series(t, d, limit=5, min_duration_s=1, hold_s=0)) == [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert list(shift.alarm_series(t, d, limit=5, min_duration_s=0, hold_s=2)) == [0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    alarm = shift.ShiftAlarm(limit=5, min_duration_s=0, hold_s=2)
    starts = []
    for ti, di in zip(t, d):
        alarm.step(ti, di)
        starts.append(alarm.since)
    assert starts[1:8] == [1.0] * 7 and starts[8] is None  # one episode from 1 s, flaps bridged by the hold
    assert shift.episodes(shift.alarm_series(t, d, 5, 0, 2)) == [(1, 7)]


def test_model_round_trip_keeps_shift_statistics(model):
    back = NormalModel.from_bytes(model.to_bytes())
    assert back.shift_alpha == pytest.approx(0.1)
    x = rig(300, 5)
    np.testing.assert_allclose(back.shift_matrix(x), model.shift_matrix(x))


def test_shift_alpha_comes_from_the_equipment_config():
    assert configured_shift_alpha("skab_valve") == equipment_config("skab_valve")["model"]["shift_alpha"]
    assert configured_shift_alpha("skab_valve", {"model": {"shift_alpha": 0.3}}) == 0.3
    assert configured_shift_alpha("no-such-type") == 0.1


def _skab_rows(x: np.ndarray) -> list[dict[str, float]]:
    names = list(equipment_config("skab_valve")["signals"])
    return [dict(zip(names, map(float, r))) for r in x]


def test_monitor_confirms_with_shift_for_a_steady_rig():
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, (900, 8)) + np.arange(8) * 10
    x[600:, 7] -= 6.0  # flow drops by 6 healthy sd and stays down (skab_valve's limit 8 misses a 4 sd step)
    names = list(equipment_config("skab_valve")["signals"])
    model = fit_matrix(x[:400], names, equipment_type="skab_valve", version="t", shift_alpha=0.1)
    mon = DeviceMonitor("rig1", "skab_valve", model=model)
    found = [(i, f) for i, row in enumerate(_skab_rows(x)) for f in mon.observe(float(i), row)]
    dev = [(i, f) for i, f in found if f.kind == "model_deviation"]
    assert dev and 600 <= dev[0][0] < 640
    f = dev[0][1]
    assert f.evidence["confirm"] == "shift" and f.evidence["shift_z"]["flow_rate_rms"] < -1
    assert f.started_at >= 600
    assert f.signals == ("flow_rate_rms",) and f.evidence["direction"] == {"flow_rate_rms": "down"}


def test_model_without_shift_statistics_falls_back_to_cusum(model, caplog):
    doc = json.loads(model.to_bytes())
    for k in ("shift_alpha", "shift_mean", "shift_whiten"):
        del doc["params"][k]
    old = NormalModel.from_bytes(json.dumps(doc).encode())
    assert old.shift_alpha is None
    with pytest.raises(ValueError):
        old.shift_matrix(rig(10, 0))
    cfg = {"model": {"confirm": "shift"}, "signals": {s: {} for s in SIGNALS}}
    with caplog.at_level(logging.WARNING):
        mon = DeviceMonitor("d", "rig", {"equipment": {"rig": cfg}}, old)
    assert mon._model_det is not None and mon._model_det.confirm == "cusum"
    assert "no shift statistics" in caplog.text


def test_unknown_confirm_mode_is_rejected(model):
    cfg = {"model": {"confirm": "magic"}, "signals": {s: {} for s in SIGNALS}}
    with pytest.raises(ValueError):
        DeviceMonitor("d", "rig", {"equipment": {"rig": cfg}}, model)
