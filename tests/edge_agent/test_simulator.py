"""Simulator: deterministic per seed, healthy inside limits, each fault moves its signals and crosses limits."""

from __future__ import annotations

import pytest

from edge_agent.simulator import (
    ALARM_LIMITS,
    APPLICABLE_TYPES,
    DEFAULT_DEVELOP_S,
    EQUIPMENT_TYPES,
    FAULT_MODES,
    NOMINAL,
    REMOTE_FIXABLE,
    Equipment,
    daily_load,
)

T0 = 1_732_320_000.0  # 2024-11-23 00:00 UTC: a day boundary, so hours are easy to read
HOUR = 3600.0


def _series(eq: Equipment, t_start: float, t_end: float, step: float) -> list[tuple[float, dict[str, float]]]:
    out = []
    t = t_start
    while t <= t_end:
        out.append((t, eq.sample(t)))
        t += step
    return out


def _breaches(et: str, sig: str, value: float) -> bool:
    low, high = ALARM_LIMITS[et][sig]
    return (low is not None and value < low) or (high is not None and value > high)


# (type, mode) -> signals that must be past their alarm limit at functional failure (process faults).
MUST_CROSS = {
    ("pump", "bearing_wear"): ["vibration_mm_s", "motor_temp_c"],
    ("chiller", "bearing_wear"): ["vibration_mm_s"],
    ("compressor", "bearing_wear"): ["vibration_mm_s", "motor_temp_c"],
    ("pump", "seal_leak"): ["pressure_bar", "flow_lpm"],
    ("pump", "clogged_filter"): ["pressure_bar", "flow_lpm"],
    ("chiller", "clogged_filter"): ["condenser_pressure_bar"],
    ("compressor", "clogged_filter"): ["discharge_temp_c"],
    ("pump", "overheating"): ["motor_temp_c"],
    ("chiller", "overheating"): ["condenser_pressure_bar"],
    ("compressor", "overheating"): ["motor_temp_c", "discharge_temp_c"],
    ("chiller", "refrigerant_leak"): ["supply_temp_c"],
    ("pump", "motor_trip"): ["current_a", "flow_lpm", "pressure_bar"],
    ("chiller", "motor_trip"): ["compressor_current_a"],
    ("compressor", "motor_trip"): ["current_a", "discharge_pressure_bar"],
}
# (type, mode) -> signal -> expected direction of change versus a healthy twin at failure.
DIRECTION = {
    ("pump", "bearing_wear"): {"vibration_mm_s": 1, "motor_temp_c": 1},
    ("pump", "seal_leak"): {"pressure_bar": -1, "flow_lpm": -1},
    ("pump", "clogged_filter"): {"pressure_bar": 1, "current_a": 1, "flow_lpm": -1},
    ("compressor", "clogged_filter"): {"discharge_temp_c": 1, "current_a": 1},
    ("compressor", "overheating"): {"motor_temp_c": 1, "discharge_temp_c": 1},
    ("chiller", "refrigerant_leak"): {"supply_temp_c": 1, "compressor_current_a": 1},
    ("pump", "motor_trip"): {"current_a": -1, "flow_lpm": -1, "pressure_bar": -1},
}
PROCESS_CASES = sorted(MUST_CROSS)


def test_same_seed_same_signals_and_faults() -> None:
    a, b = Equipment("pump-0001", "pump", seed=7), Equipment("pump-0001", "pump", seed=7)
    la = a.maybe_random_fault(T0, T0 + 1000 * HOUR, 1.0)
    lb = b.maybe_random_fault(T0, T0 + 1000 * HOUR, 1.0)
    assert la == lb and la is not None
    assert _series(a, T0, T0 + HOUR, 60) == _series(b, T0, T0 + HOUR, 60)


def test_different_seed_or_device_differs() -> None:
    base = _series(Equipment("pump-0001", "pump", seed=1), T0, T0 + 600, 60)
    assert base != _series(Equipment("pump-0001", "pump", seed=2), T0, T0 + 600, 60)
    assert base != _series(Equipment("pump-0002", "pump", seed=1), T0, T0 + 600, 60)


@pytest.mark.parametrize("et", EQUIPMENT_TYPES)
def test_healthy_equipment_stays_inside_alarm_limits_for_two_days(et: str) -> None:
    eq = Equipment(f"{et}-1", et, seed=3)
    for _, m in _series(eq, T0, T0 + 48 * HOUR, 120):
        assert set(m) == set(NOMINAL[et])
        assert not [s for s, v in m.items() if _breaches(et, s, v)]


def test_signals_follow_daily_load() -> None:
    assert daily_load(T0 + 14 * HOUR) > daily_load(T0 + 2 * HOUR) + 0.4
    eq = Equipment("pump-1", "pump", seed=0)
    night = eq.sample(T0 + 2 * HOUR)["current_a"]
    afternoon = eq.sample(T0 + 14 * HOUR)["current_a"]
    assert afternoon > night * 1.3


@pytest.mark.parametrize(("et", "mode"), PROCESS_CASES)
def test_process_fault_crosses_limits_throughout_failure_window(et: str, mode: str) -> None:
    eq = Equipment(f"{et}-1", et, seed=5)
    label = eq.inject(mode, T0, develop_s=2 * HOUR)
    _series(eq, T0, label.failure_s, 300)
    window = _series(eq, label.failure_s, label.failure_s + 1800, 30)  # 30 min: any min-duration detector
    for sig in MUST_CROSS[(et, mode)]:
        assert all(_breaches(et, sig, m[sig]) for _, m in window), sig


@pytest.mark.parametrize(("et", "mode"), [c for c in PROCESS_CASES if c[1] != "motor_trip"])
def test_developing_fault_is_quiet_early(et: str, mode: str) -> None:
    eq = Equipment(f"{et}-1", et, seed=5)
    eq.inject(mode, T0, develop_s=10 * HOUR)
    m = eq.sample(T0 + 0.5 * HOUR)  # 5 % of the way to failure
    assert not [s for s, v in m.items() if _breaches(et, s, v)]


@pytest.mark.parametrize(("et", "mode"), sorted(DIRECTION))
def test_fault_moves_the_right_signals(et: str, mode: str) -> None:
    healthy, faulty = Equipment(f"{et}-1", et, seed=9), Equipment(f"{et}-1", et, seed=9)
    label = faulty.inject(mode, T0, develop_s=HOUR)
    t = label.failure_s + 60
    h, f = healthy.sample(t), faulty.sample(t)
    for sig, sign in DIRECTION[(et, mode)].items():
        assert (f[sig] - h[sig]) * sign > 0.1 * NOMINAL[et][sig], sig


def test_fault_has_no_effect_before_onset() -> None:
    healthy, faulty = Equipment("pump-1", "pump", seed=9), Equipment("pump-1", "pump", seed=9)
    faulty.inject("seal_leak", T0 + HOUR)
    assert _series(healthy, T0, T0 + 0.9 * HOUR, 60) == _series(faulty, T0, T0 + 0.9 * HOUR, 60)


def test_bearing_wear_raises_vibration_before_temperature() -> None:
    healthy, faulty = Equipment("pump-1", "pump", seed=2), Equipment("pump-1", "pump", seed=2)
    faulty.inject("bearing_wear", T0, develop_s=10 * HOUR)
    t = T0 + 3.5 * HOUR  # 35 % developed
    h, f = healthy.sample(t), faulty.sample(t)
    assert f["vibration_mm_s"] - h["vibration_mm_s"] > 1.0
    assert abs(f["motor_temp_c"] - h["motor_temp_c"]) < 0.5


def test_motor_trip_is_sudden_by_default() -> None:
    eq = Equipment("pump-1", "pump", seed=0)
    label = eq.inject("motor_trip", T0)
    assert label.failure_s == label.onset_s and label.remote_fixable
    assert eq.sample(T0)["current_a"] == 0.0


def test_sensor_stuck_freezes_one_signal() -> None:
    eq = Equipment("pump-1", "pump", seed=0)
    eq.inject("sensor_stuck", T0, signal="flow_lpm")
    window = _series(eq, T0, T0 + 6 * HOUR, 600)
    assert len({m["flow_lpm"] for _, m in window}) == 1
    assert len({m["current_a"] for _, m in window}) > 1


def test_sensor_spike_is_intermittent_and_implausible() -> None:
    eq = Equipment("pump-1", "pump", seed=0)
    label = eq.inject("sensor_spike", T0, signal="vibration_mm_s", develop_s=HOUR)
    values = [m["vibration_mm_s"] for _, m in _series(eq, label.failure_s, label.failure_s + 3000, 10)]
    spikes = [v for v in values if v > ALARM_LIMITS["pump"]["vibration_mm_s"][1]]  # type: ignore[operator]
    assert 0 < len(spikes) < len(values)


@pytest.mark.parametrize("et", EQUIPMENT_TYPES)
def test_sensor_drift_crosses_a_limit_and_reset_recalibrates(et: str) -> None:
    eq = Equipment(f"{et}-1", et, seed=0)
    sig = min(NOMINAL[et])
    label = eq.inject("sensor_drift", T0, develop_s=HOUR, signal=sig)
    assert _breaches(et, sig, eq.sample(label.failure_s)[sig])
    assert [f.mode for f in eq.reset()] == ["sensor_drift"]
    assert not _breaches(et, sig, eq.sample(label.failure_s + 10)[sig])


def test_reset_restarts_tripped_motor_but_not_worn_bearing() -> None:
    eq = Equipment("pump-1", "pump", seed=0)
    eq.inject("bearing_wear", T0, develop_s=HOUR)
    eq.inject("motor_trip", T0 + HOUR)
    assert eq.sample(T0 + HOUR)["current_a"] == 0.0
    assert [f.mode for f in eq.reset()] == ["motor_trip"]
    after = eq.sample(T0 + HOUR + 10)
    assert after["current_a"] > 5.0
    assert after["vibration_mm_s"] > 7.1  # the bearing is still worn: needs a visit
    assert [f.mode for f in eq.active_faults] == ["bearing_wear"]
    assert len(eq.labels) == 2  # ground truth keeps every fault, fixed or not


def test_remote_fixable_flags() -> None:
    assert {m for m, fix in REMOTE_FIXABLE.items() if fix} == {"motor_trip", "sensor_drift"}
    assert set(DEFAULT_DEVELOP_S) == set(FAULT_MODES)


@pytest.mark.parametrize(
    ("et", "mode"), [("chiller", "seal_leak"), ("pump", "refrigerant_leak"), ("pump", "no_such_fault")]
)
def test_inapplicable_fault_is_refused(et: str, mode: str) -> None:
    with pytest.raises(ValueError):
        Equipment(f"{et}-1", et).inject(mode, T0)


def test_unknown_type_and_signal_are_refused() -> None:
    with pytest.raises(ValueError):
        Equipment("x-1", "boiler")
    with pytest.raises(ValueError):
        Equipment("pump-1", "pump").inject("sensor_drift", T0, signal="supply_temp_c")


def test_random_faults_follow_rate_and_applicability() -> None:
    eqs = [Equipment(f"chiller-{i}", "chiller", seed=1) for i in range(200)]
    labels = [e.maybe_random_fault(T0, T0 + HOUR, 0.5) for e in eqs]
    hits = [lb for lb in labels if lb is not None]
    assert 60 <= len(hits) <= 120  # expected 200 * (1 - e^-0.5) ~ 79
    assert all("chiller" in APPLICABLE_TYPES[lb.mode] for lb in hits)
    assert all(T0 <= lb.onset_s <= T0 + HOUR for lb in hits)
    assert all(e.maybe_random_fault(T0, T0 + HOUR, 0.0) is None for e in eqs[:10])


def test_random_fault_respects_mode_filter_and_one_at_a_time() -> None:
    eq = Equipment("pump-1", "pump", seed=4)
    first = eq.maybe_random_fault(T0, T0 + 100 * HOUR, 5.0, ("seal_leak",))
    assert first is not None and first.mode == "seal_leak"
    assert eq.maybe_random_fault(T0, T0 + 100 * HOUR, 5.0) is None
