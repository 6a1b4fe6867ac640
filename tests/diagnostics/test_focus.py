"""Pure parts of the live loop: which hypotheses may open incidents, and the detector config without a model."""

from __future__ import annotations

from diagnostics.incidents import Incident, IncidentState
from diagnostics.loop_rules import focus, monitor_config
from diagnostics.models import FaultHypothesis


def hyp(mode: str, conf: float, *signals: str) -> FaultHypothesis:
    return FaultHypothesis(mode, conf, {"signals": {s: ["down"] for s in signals}}, ())


def open_inc(mode: str, state: str = "work_order", *signals: str) -> Incident:
    return Incident("1", "p1", mode, state, 2, 0.9, 0.0, 0.0, 0.0, evidence={"signals": {s: ["down"] for s in signals}})


def test_only_the_best_hypothesis_may_open_an_incident() -> None:
    hyps = [hyp("motor_trip", 1.0, "current_a"), hyp("seal_leak", 0.85, "pressure_bar"), hyp("sensor_stuck", 0.9)]
    assert [h.mode for h in focus(IncidentState(), "p1", hyps)] == ["motor_trip"]


def test_runner_up_keeps_its_open_incident_alive() -> None:
    state = IncidentState((open_inc("seal_leak", "work_order", "pressure_bar"),))
    hyps = [hyp("motor_trip", 1.0, "current_a"), hyp("seal_leak", 0.85, "pressure_bar")]
    assert [h.mode for h in focus(state, "p1", hyps)] == ["motor_trip", "seal_leak"]


def test_symptoms_on_an_open_incidents_signals_are_attributed_to_it() -> None:
    state = IncidentState((open_inc("motor_trip", "work_order", "pressure_bar", "flow_lpm", "current_a"),))
    assert [h.mode for h in focus(state, "p1", [hyp("seal_leak", 0.8, "pressure_bar", "flow_lpm")])] == ["motor_trip"]
    assert [h.mode for h in focus(state, "p2", [hyp("seal_leak", 0.8, "pressure_bar")])] == ["seal_leak"]  # other asset
    closed = IncidentState((open_inc("motor_trip", "closed", "pressure_bar"),))
    assert [h.mode for h in focus(closed, "p1", [hyp("seal_leak", 0.8, "pressure_bar")])] == ["seal_leak"]


def test_drift_detectors_need_a_normal_model(models) -> None:
    cfg = monitor_config("pump", None, None)
    assert cfg["signals"] and not any(sc.get("drift") for sc in cfg["signals"].values())
    assert all(sc.get("drift") for sc in monitor_config("pump", None, models["pump"])["signals"].values())
