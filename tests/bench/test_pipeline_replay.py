"""bench.pipeline's fleet and fault plan through the diagnose loop's detection, offline (bench.pipeline_replay)."""

from __future__ import annotations

from bench.pipeline_faults import GRADUAL_DEVELOP_S, confirm_s, fault_tail_s
from bench.pipeline_replay import parse_args, run


def test_every_planned_fault_is_detected_in_the_run_and_no_healthy_device_gets_an_incident() -> None:
    """Pins three defects the 20,000-device runs showed: faults injected too late to be confirmed (the fault tail
    covered the confirmation but not the fault's development), developing faults filed as spiking sensors (a ramp
    through the spike limit), and chiller condenser-pressure alarms with no rule (no incident). With the old spike
    return rule this run files 4 gradual faults as sensor_spike. (Healthy devices' lone noise spikes are too rare
    for 30 devices: test_classify pins that one.)"""
    res = run(parse_args(["--devices", "90", "--faults", "60", "--seconds", "240", "--seed", "5",
                          "--extra-s", "0"]))
    assert res["faults_injected"] == 60
    missed = [f for f in res["faults"] if f["outcome"] != "detected"]
    assert missed == []
    assert res["incidents_on_healthy_devices"] == 0, res["healthy_incidents"]
    gradual = [f for f in res["faults"] if f["mode"] != "motor_trip"]
    assert len(gradual) >= 20 and {f["type"] for f in gradual} == {"pump", "chiller", "compressor"}
    assert not [f for f in gradual if f["incident_mode"] == "sensor_spike"]  # a process fault, not a sensor
    # every decision came with data to spare before publishing ended
    assert max(f["after_s"] for f in res["faults"]) <= fault_tail_s(10.0) - 10.0


def test_fault_tail_leaves_room_for_development_confirmation_and_one_message() -> None:
    assert confirm_s() == 120.0  # the longest threshold minimum duration shipped (diagnostics/default_config.json)
    assert fault_tail_s(10.0) == GRADUAL_DEVELOP_S + 120.0 + 10.0 + 10.0
