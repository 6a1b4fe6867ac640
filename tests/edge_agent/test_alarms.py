"""AlarmMonitor: debounced limit alarms and running/stopped state, from samples only."""

from __future__ import annotations

from edge_agent.alarms import CLEAR_SAMPLES, RAISE_SAMPLES, AlarmMonitor
from edge_agent.simulator import ALARM_LIMITS, NOMINAL

PUMP = dict(NOMINAL["pump"])


def _mon() -> AlarmMonitor:
    return AlarmMonitor(ALARM_LIMITS["pump"], NOMINAL["pump"])


def test_healthy_samples_and_the_start_up_state_raise_nothing() -> None:
    mon = _mon()
    assert all(mon.update(PUMP) == [] for _ in range(100))
    assert mon.state == "running" and mon.active == {}


def test_alarm_needs_consecutive_samples_and_clears_only_after_a_quiet_run() -> None:
    mon = _mon()
    mon.update(PUMP)
    hot = {**PUMP, "vibration_mm_s": 9.0}
    assert [mon.update(hot) for _ in range(RAISE_SAMPLES - 1)] == [[]] * (RAISE_SAMPLES - 1)
    assert mon.update(hot) == [
        ("alarm_raised", {"signal": "vibration_mm_s", "value": 9.0, "side": "high", "limit": 7.1})
    ]
    assert mon.update(hot) == []  # raised once, not per sample
    for _ in range(CLEAR_SAMPLES - 1):
        assert mon.update(PUMP) == []
    mon.update(hot)  # one relapse restarts the quiet run
    for _ in range(CLEAR_SAMPLES - 1):
        assert mon.update(PUMP) == []
    assert mon.update(PUMP) == [("alarm_cleared", {"signal": "vibration_mm_s", "value": 2.0})]


def test_isolated_spikes_do_not_raise() -> None:
    mon = _mon()
    spike = {**PUMP, "pressure_bar": 16.0}
    events = []
    for _ in range(50):
        for _ in range(RAISE_SAMPLES - 1):
            events += mon.update(spike)
        events += mon.update(PUMP)
    assert events == [] and mon.active == {}


def test_low_limit_and_stopped_state() -> None:
    mon = _mon()
    mon.update(PUMP)
    stopped = {**PUMP, "current_a": 0.0, "flow_lpm": 0.0, "pressure_bar": 0.0}
    events = [e for _ in range(RAISE_SAMPLES) for e in mon.update(stopped)]
    assert ("state_changed", {"state": "stopped"}) in events
    assert {e[1]["signal"] for e in events if e[0] == "alarm_raised"} == {
        "current_a",
        "flow_lpm",
        "pressure_bar",
    }
    assert all(e[1]["side"] == "low" for e in events if e[0] == "alarm_raised")
    events = [e for _ in range(RAISE_SAMPLES) for e in mon.update(PUMP)]
    assert events == [("state_changed", {"state": "running"})]
