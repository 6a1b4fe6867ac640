"""Detector checkpoints (pure): a monitor restored from JSON continues exactly like one that never stopped."""

from __future__ import annotations

import json

from diagnostics import checkpoint
from diagnostics.monitor import DeviceMonitor
from diagnostics.normal_model import NormalModel
from diagnostics.rul import WearTracker, limits_from_config
from edge_agent.simulator import Equipment

T0 = 1_767_225_600.0


def _samples(start: float, n: int, fault_at: float | None = None) -> list[tuple[float, dict[str, float]]]:
    eq = Equipment("p1", "pump", seed=3)
    if fault_at is not None:
        eq.inject("bearing_wear", fault_at, develop_s=3600)
    return [(start + 10 * i, eq.sample(start + 10 * i)) for i in range(n)]


def _roundtrip(obj: object) -> dict:
    return json.loads(json.dumps(checkpoint.snapshot(obj), allow_nan=False))  # as jsonb stores it


def test_restored_monitor_continues_like_the_original(models: dict[str, NormalModel]) -> None:
    for model in (None, models["pump"]):
        samples = _samples(T0, 1500, fault_at=T0 + 3600)
        a = DeviceMonitor("p1", "pump", model=model)
        wear = WearTracker(limits_from_config(a.cfg))
        for t, v in samples[:500]:
            a.observe(t, v)
            wear.observe(t, v)
        b = DeviceMonitor("p1", "pump", model=model)
        wear_b = WearTracker(limits_from_config(b.cfg))
        assert checkpoint.fingerprint(a, model and model.version) == checkpoint.fingerprint(b, model and model.version)
        checkpoint.restore(b, _roundtrip(a))
        checkpoint.restore(wear_b, _roundtrip(wear))
        fresh = DeviceMonitor("p1", "pump", model=model)
        out_a, out_b, out_fresh = [], [], []
        for t, v in samples[500:]:
            out_a += a.observe(t, v)
            out_b += b.observe(t, v)
            out_fresh += fresh.observe(t, v)
            wear.observe(t, v)
            wear_b.observe(t, v)
        assert out_b == out_a and out_a  # the fault is found the same way, findings and all
        assert _roundtrip(b) == _roundtrip(a)
        assert _roundtrip(wear_b) == _roundtrip(wear)
        assert _roundtrip(fresh) != _roundtrip(a)  # a fresh monitor would have relearned: the state matters


def test_fingerprint_changes_with_config_and_model_version() -> None:
    mon = DeviceMonitor("p1", "pump")
    base = checkpoint.fingerprint(mon, mon.cfg, "v1")
    assert checkpoint.fingerprint(mon, mon.cfg, "v2") != base
    cfg = {**mon.cfg, "silence_s": 1}
    assert checkpoint.fingerprint(mon, cfg, "v1") != base
    for t, v in _samples(T0, 300):
        mon.observe(t, v)
    assert checkpoint.fingerprint(mon, mon.cfg, "v1") == base  # state values do not change the shape


def test_snapshot_refuses_classes_outside_diagnostics() -> None:
    bad = {"_active": {"__dict": [[{"__tuple": ["x"]}, {"__dc": "os:PathLike", "fields": {}}]]}}
    mon = DeviceMonitor("p1", "pump")
    try:
        checkpoint.restore(mon, bad)
    except ValueError as exc:
        assert "outside diagnostics" in str(exc)
    else:
        raise AssertionError("a checkpoint naming a foreign class was accepted")
