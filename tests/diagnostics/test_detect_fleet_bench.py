"""Smoke test of bench.detect_fleet's scoring on a hand-built fleet (fast, no simulation run)."""

from __future__ import annotations

import argparse

from bench.detect_fleet import T0, Dev, score
from diagnostics.incidents import Incident
from edge_agent.models import FaultLabel


def _dev(label: FaultLabel | None) -> Dev:
    return Dev(eq=None, label=label)  # type: ignore[arg-type]  # scoring reads labels only


def _inc(iid: str, asset: str, mode: str, t: float) -> Incident:
    return Incident(iid, asset, mode, "closed", 2, 0.9, t, t, t)


def test_scores_hits_misses_false_alarms_and_remote_fixes() -> None:
    devs = {"a": _dev(FaultLabel("a", "bearing_wear", T0 + 1000, T0 + 5000, False)),
            "b": _dev(FaultLabel("b", "motor_trip", T0 + 2000, T0 + 2000, True)),
            "c": _dev(FaultLabel("c", "seal_leak", T0 + 1000, T0 + 4000, False)),
            "d": _dev(None)}
    opened = [(_inc("1", "a", "bearing_wear", T0 + 2000), T0 + 2000),  # 50 min early, right mode
              (_inc("2", "b", "motor_trip", T0 + 2030), T0 + 2030),  # 0.5 min late, fixed remotely
              (_inc("3", "d", "overheating", T0 + 3600), T0 + 3600)]  # healthy device: false alarm
    args = argparse.Namespace(grace_h=1.0, devices=4, hours=24.0)
    res = score(devs, opened, {"1": "visit", "2": "remote", "3": "visit"}, args)
    assert (res["precision"], res["recall"], res["fault_mode_accuracy"]) == (round(2 / 3, 3), round(2 / 3, 3), 1.0)
    assert res["median_lead_time_min"] == round((50.0 - 0.5) / 2, 1)
    assert res["false_alarms_per_asset_day"] == 0.25 and res["remote_fix_rate"] == 0.5
    assert res["missed"] == ["c:seal_leak"] and res["remote_fixable_fixed_remotely"] == "1/1"
    assert res["false_alarms"] == ["d:overheating@1.0h"]  # an hour in, on a device without a fault
