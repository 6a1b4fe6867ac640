"""DeviceMonitor: wiring of detectors, findings vs active conditions, silence, config without code."""

from __future__ import annotations

import pytest

from diagnostics import DeviceMonitor, Finding
from diagnostics.config import equipment_config

from .synth import NOMINAL, apply_fault, stream

DAY = 86400.0


@pytest.mark.parametrize("equipment", sorted(NOMINAL))
def test_healthy_day_produces_no_findings(models, equipment):
    mon = DeviceMonitor("d1", equipment, model=models[equipment])
    found = [f for t, v in stream(equipment, 5 * DAY, 800, seed=7) for f in mon.observe(t, v)]
    assert found == []
    assert mon.active() == []


def test_fault_finding_then_active_then_cleared(models):
    mon = DeviceMonitor("d1", "pump", {"signals": {"vibration_mm_s": {"drift": False}}})
    found: list[Finding] = []
    for i, (t, v) in enumerate(stream("pump", 5 * DAY, 60, seed=8)):
        if 10 <= i < 40:
            v = {**v, "vibration_mm_s": 9.0}
        found += mon.observe(t, v)
    kinds = [(f.detector, f.kind) for f in found]
    assert ("threshold:vibration_mm_s", "threshold_high") in kinds
    assert kinds.count(("threshold:vibration_mm_s", "threshold_high")) == 1  # deduplicated while active
    assert not any(f.kind == "threshold_high" for f in mon.active())  # cleared after recovery


def test_config_override_without_code(models):
    cfg = {"signals": {"pressure_bar": {"threshold": {"high": 4.5, "min_duration_s": 0}}}}
    mon = DeviceMonitor("d1", "pump", cfg)
    (t, v), = list(stream("pump", 0.25 * DAY, 1, seed=9))  # high load: pressure ~4.6
    assert any(f.kind == "threshold_high" for f in mon.observe(t, {**v, "pressure_bar": 4.7}))
    eff = equipment_config("pump", cfg)
    assert eff["signals"]["pressure_bar"]["threshold"]["hysteresis"] == 0.2  # rest merged from default


def test_full_document_config_and_unknown_type():
    doc = {"equipment": {"boiler": {"signals": {"temp_c": {"range": [0, 120]}}}}}
    mon = DeviceMonitor("b1", "boiler", doc)
    assert mon.observe(0, {"temp_c": 150})[0].kind == "out_of_range"
    with pytest.raises(KeyError):
        DeviceMonitor("x", "toaster")


def test_silence_after_configured_time():
    mon = DeviceMonitor("d1", "pump", {"silence_s": 120})
    assert mon.check_silence(1000) == []  # never seen: nothing to compare with
    mon.observe(1000, dict(NOMINAL["pump"]))
    assert mon.check_silence(1100) == []
    first = mon.check_silence(1121)
    assert len(first) == 1 and first[0].kind == "silence" and first[0].started_at == 1000
    assert mon.check_silence(1200) == []  # reported once
    assert any(f.kind == "silence" for f in mon.active())
    mon.observe(1210, dict(NOMINAL["pump"]))
    assert not any(f.kind == "silence" for f in mon.active())


def test_severity_rise_is_reported_again():
    mon = DeviceMonitor("d1", "pump", {"signals": {"motor_temp_c": {"drift": False}}})
    base = dict(NOMINAL["pump"])
    out = []
    for i, temp in enumerate([90.0] * 14 + [105.0]):
        out += mon.observe(i * 10.0, {**base, "motor_temp_c": temp})
    sev = [f.severity for f in out if f.kind == "threshold_high"]
    assert sev == [2, 3]


def test_model_deviation_names_signals(models):
    mon = DeviceMonitor("d1", "pump", model=models["pump"])
    found = []
    for i, (t, v) in enumerate(stream("pump", 6 * DAY, 80, seed=10)):
        found += mon.observe(t, apply_fault(v, "pump", "seal_leak", 1.0) if i >= 40 else v)
    dev = [f for f in found if f.kind == "model_deviation"]
    assert dev and set(dev[0].signals) <= {"pressure_bar", "flow_lpm"}
    assert dev[0].evidence["direction"]["flow_lpm"] == "down"
    assert dev[0].evidence["model_version"] == "test-1"


def test_model_deviation_is_one_finding_and_survives_incomplete_samples(models):
    mon = DeviceMonitor("d1", "pump", model=models["pump"])
    found = []
    for i, (t, v) in enumerate(stream("pump", 6 * DAY, 120, seed=11)):
        v = apply_fault(v, "pump", "clogged_filter", 1.0) if i >= 40 else v
        if i % 7 == 0:
            v = {k: x for k, x in v.items() if k != "current_a"}
        found += mon.observe(t, v)
    dev = [f for f in found if f.kind == "model_deviation"]
    assert len({f.severity for f in dev}) == len(dev)  # re-reported only when severity rises
    assert any(f.kind == "model_deviation" for f in mon.active())


def test_healthy_1hz_startup_has_no_rate_or_spike_findings():
    """Start-up at 1 Hz (the live fleet rate): the shipped warm-ups (spike.warmup, rate.min_span_s) keep the
    first readings' noise from tripping the rate and spike detectors on healthy equipment."""
    from diagnostics.loop_rules import monitor_config
    from edge_agent.simulator import Equipment
    cfg = equipment_config("pump")
    assert cfg["rate"]["min_span_s"] > 0 and cfg["spike"]["warmup"] > 10  # configured, not hard-coded
    found = []
    for i in range(30):
        et = ("pump", "chiller", "compressor")[i % 3]
        eq, mon = Equipment(f"d{i}", et, seed=11), DeviceMonitor(f"d{i}", et, monitor_config(et, None, None))
        found += [f for s in range(120) for f in mon.observe(1.79e9 + s, eq.sample(1.79e9 + s))]
    assert found == []
