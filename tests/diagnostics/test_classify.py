"""Fault classification on synthetic streams for every fault mode, and sensor faults."""

from __future__ import annotations

import pytest

from diagnostics import DeviceMonitor, classify

from .synth import FAULTS, NOMINAL, apply_fault, stream

DAY = 86400.0


def run(models, equipment, mutate, n_healthy=150, n_fault=150, seed=2):
    mon = DeviceMonitor("d1", equipment, model=models[equipment])
    for i, (t, v) in enumerate(stream(equipment, 3 * DAY, n_healthy + n_fault, seed=seed)):
        mon.observe(t, mutate(i - n_healthy, v) if i >= n_healthy else v)
    return mon


@pytest.mark.parametrize("equipment,mode", sorted(FAULTS))
def test_process_fault_is_top_hypothesis(models, equipment, mode):
    sudden = mode == "motor_trip"
    mon = run(models, equipment, lambda k, v: apply_fault(v, equipment, mode, 1.0 if sudden else min(1.0, k / 150)))
    hyps = classify(equipment, mon.active())
    assert hyps and hyps[0].mode == mode
    top = hyps[0]
    assert top.evidence["matched"] and top.evidence["window"]["from"] >= 3 * DAY
    assert top.findings and all(f.device_id == "d1" for f in top.findings)
    assert [h.confidence for h in hyps] == sorted((h.confidence for h in hyps), reverse=True)


def test_sensor_stuck(models):
    mon = run(models, "pump", lambda k, v: {**v, "pressure_bar": 4.123})
    assert classify("pump", mon.active())[0].mode == "sensor_stuck"


def test_sensor_spike(models):
    mon = run(models, "compressor", lambda k, v: {**v, "discharge_temp_c": 400.0} if k == 20 else v, n_fault=30)
    modes = [h.mode for h in classify("compressor", mon.active())]
    assert modes[0] in ("sensor_spike", "sensor_drift") and "sensor_spike" in modes


def test_sensor_drift_single_signal(models):
    mon = run(models, "pump", lambda k, v: {**v, "pressure_bar": v["pressure_bar"] + 0.002 * k})
    hyps = classify("pump", mon.active())
    assert hyps[0].mode == "sensor_drift" and hyps[0].evidence["signals"] == ["pressure_bar"]


def test_silence_and_no_findings():
    assert classify("pump", []) == []
    mon = DeviceMonitor("d1", "pump")
    mon.observe(0, dict(NOMINAL["pump"]))
    assert classify("pump", mon.check_silence(10_000))[0].mode == "communication_loss"


def test_rules_are_data(models):
    rules = {"equipment": {"pump": [{"mode": "custom", "require": {"vibration_mm_s": "up"}}]}}
    mon = run(models, "pump", lambda k, v: apply_fault(v, "pump", "bearing_wear", min(1.0, k / 150)))
    assert classify("pump", mon.active(), rules=rules)[0].mode == "custom"
