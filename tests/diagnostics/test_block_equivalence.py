"""The vectorised block path decides exactly as the per-sample scalar monitors (the reference kept for this test).

Random multi-device streams from the edge simulator, with faults, gaps, missing and non-finite readings, sensor
spikes, late samples (dropped by the loop's time-order rule on both paths), a device reset (repair) and checkpoint
restores mid-stream (block -> scalar snapshot as JSON -> fresh block) go through both paths; after every pass each
device's active findings must agree exactly on what, when and how severe (``at`` is the sample that raised it), with
scores/evidence and the checkpointed state equal within float tolerance (the block sums in a different order).
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest

from diagnostics import checkpoint
from diagnostics.block import BlockMonitor
from diagnostics.loop_rules import in_time_order
from diagnostics.monitor import DeviceMonitor
from diagnostics.normal_model import NormalModel, train_normal_model
from diagnostics.rul import WearTracker, limits_from_config
from edge_agent.simulator import APPLICABLE_TYPES, FAULT_MODES, Equipment

T0 = 1_767_225_600.0
SHIFT = {"model": {"confirm": "shift", "shift_limit": 3.0, "shift_hold_s": 30, "shift_min_duration_s": 5}}


def close(a: Any, b: Any, path: str = "") -> None:
    """Equal, floats within 1e-7 relative (summation order), containers element by element."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None and math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-9), (path, a, b)
    else:
        assert a == b, (path, a, b)


def snap(obj: object) -> dict:
    return json.loads(json.dumps(checkpoint.snapshot(obj), allow_nan=False))  # as jsonb stores it


def decisions(findings: list) -> list[tuple]:
    return [(f.detector, f.kind, f.signals, f.severity, f.started_at, f.at) for f in findings]


@pytest.fixture(scope="module")
def sim_models() -> dict[str, NormalModel]:
    out = {}
    for et in ("pump", "chiller", "compressor"):
        e = Equipment("train", et, seed=99)
        out[et] = train_normal_model(et, [e.sample(T0 - 86400 + 60 * i) for i in range(1440)], version="t1")
    return out


def _pass(rng: random.Random, devs: dict[str, Equipment], t: dict[str, float], p: int) -> dict[str, list]:
    batch = {}
    for d, e in devs.items():
        out = []
        lost = min(e.sample(t[d])) if d == "d1" and 40 <= p < 120 else None  # a sensor gone for a while
        for _ in range(rng.choice([0, 1, 1, 3, 10, 10])):
            t[d] += rng.choice([1.0, 1.0, 10.0, 0.5]) + (rng.random() < 0.01) * 400  # now and then a gap
            v: dict[str, float] = e.sample(t[d])
            v.pop(lost, None)
            if rng.random() < 0.05:
                v.pop(rng.choice(list(v)))
            if rng.random() < 0.01:
                v[rng.choice(list(v))] = float("nan")
            if rng.random() < 0.003:
                v[rng.choice(list(v))] *= 30  # a sensor spike
            out.append((t[d], v))
        if out and rng.random() < 0.02:
            out.append((out[0][0] - 5, out[0][1]))  # a late sample
        batch[d] = sorted(out, key=lambda s: s[0])
    return batch


@pytest.mark.parametrize(("equipment", "with_model", "config"), [
    ("pump", False, None), ("pump", True, None), ("chiller", True, None), ("compressor", False, None),
    ("compressor", True, SHIFT), ("pump", True, SHIFT)])
def test_block_path_decides_like_the_scalar_monitors(sim_models: dict[str, NormalModel], equipment: str,
                                                     with_model: bool, config: dict | None) -> None:
    model = sim_models[equipment] if with_model else None
    rng = random.Random(hash((equipment, with_model, bool(config))) % 1000)
    devs = {f"d{i}": Equipment(f"d{i}", equipment, seed=i) for i in range(10)}
    modes = [m for m in FAULT_MODES if equipment in APPLICABLE_TYPES[m]]
    for i, e in enumerate(devs.values()):
        if i % 2 == 0:
            e.inject(rng.choice(modes), T0 + rng.uniform(600, 3000), develop_s=rng.uniform(60, 2400))

    def scalar(d: str) -> tuple[DeviceMonitor, WearTracker]:
        mon = DeviceMonitor(d, equipment, config, model)
        return mon, WearTracker(limits_from_config(mon.cfg))

    ref = {d: scalar(d) for d in devs}
    blk = BlockMonitor(equipment, config, model, cap=4)  # small: rows grow while devices join
    for d in devs:
        blk.add(d)
    t = {d: T0 + rng.uniform(0, 5) for d in devs}
    seen: set[tuple] = set()
    silence_s = float(ref["d0"][0].cfg.get("silence_s", 300))
    for p in range(240):
        fed = {}
        for d, samples in _pass(rng, devs, t, p).items():
            mon, wear = ref[d]
            fed[d] = in_time_order(mon.last_t, samples)
            for ts, v in fed[d]:
                mon.observe(ts, v)
                wear.observe(ts, v)
        blk.observe(fed)
        for d in devs:
            a, b = ref[d][0].active(), blk.active(d)
            assert decisions(b) == decisions(a), (p, d)
            close([(f.score, f.evidence) for f in b], [(f.score, f.evidence) for f in a], f"pass {p} {d}")
            seen.update((f.detector.split(":")[0], f.kind) for f in a)
        if p % 60 == 59:  # checkpoint mid-stream: same state, then restore through JSON into a fresh block
            fresh = BlockMonitor(equipment, config, model, cap=2)
            for d in devs:
                mon, wear = blk.export(d)
                close(snap(mon), snap(ref[d][0]), d)
                close(snap(wear), snap(ref[d][1]), d)
                m2, w2 = scalar(d)
                checkpoint.restore(m2, snap(mon))
                checkpoint.restore(w2, snap(wear))
                fresh.load(d, m2, w2)
            blk = fresh
        if p == 150:  # an on-site repair resets one device's detectors
            ref["d0"] = scalar("d0")
            blk.remove("d0")
            blk.add("d0")
        if p % 97 == 0:
            now = max(t.values()) + 400
            expect = sorted(d for d in devs if ref[d][0].check_silence(now))
            assert sorted(blk.check_silence(now, silence_s)) == expect
    # the comparison covered real alarms, not just quiet streams
    kinds = {k for _, k in seen}
    assert {"spike", "dropout"} <= kinds
    assert len(kinds) >= 4
    if with_model:
        assert "model_deviation" in kinds


def test_a_scalar_checkpoint_from_before_the_block_restores_and_continues(
        sim_models: dict[str, NormalModel]) -> None:
    """Checkpoints keep the scalar snapshot format: one written by the per-sample path loads into a block, which
    then continues exactly as the scalar monitor it came from."""
    model = sim_models["pump"]
    eq = Equipment("p1", "pump", seed=3)
    eq.inject("bearing_wear", T0 + 1800, develop_s=1800)
    samples = [(T0 + 5 * i, eq.sample(T0 + 5 * i)) for i in range(1500)]
    mon = DeviceMonitor("p1", "pump", None, model)
    wear = WearTracker(limits_from_config(mon.cfg))
    for ts, v in samples[:700]:
        mon.observe(ts, v)
        wear.observe(ts, v)
    stored = {"monitor": snap(mon), "wear": snap(wear)}  # what the old diagnose wrote
    m2, w2 = DeviceMonitor("p1", "pump", None, model), WearTracker(limits_from_config(mon.cfg))
    checkpoint.restore(m2, stored["monitor"])
    checkpoint.restore(w2, stored["wear"])
    blk = BlockMonitor("pump", None, model)
    blk.load("p1", m2, w2)
    assert decisions(blk.active("p1")) == decisions(mon.active())
    for k in range(700, 1500, 10):
        chunk = samples[k:k + 10]
        for ts, v in chunk:
            mon.observe(ts, v)
            wear.observe(ts, v)
        blk.observe({"p1": chunk})
        assert decisions(blk.active("p1")) == decisions(mon.active())
    assert mon.active()  # the fault was found
    out, out_wear = blk.export("p1")
    close(snap(out), snap(mon))
    close(snap(out_wear), snap(wear))
