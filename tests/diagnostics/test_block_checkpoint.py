"""Compact checkpoints (diagnostics/block_checkpoint.py): a block row packed to bytes and unpacked into a fresh block
continues exactly like the block it came from, whatever the rate rings' widths, and a blob that does not fit is
refused (the detectors relearn) instead of restoring half a state."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from diagnostics import block_checkpoint
from diagnostics.block import BlockMonitor
from diagnostics.loop_rules import in_time_order
from diagnostics.normal_model import NormalModel, train_normal_model
from diagnostics.vector_detectors import VRate
from edge_agent.simulator import APPLICABLE_TYPES, FAULT_MODES, Equipment

from .test_block_equivalence import SHIFT, _pass, close, decisions, snap

T0 = 1_767_225_600.0


@pytest.fixture(scope="module")
def sim_models() -> dict[str, NormalModel]:
    out = {}
    for et in ("pump", "compressor"):
        e = Equipment("train", et, seed=99)
        out[et] = train_normal_model(et, [e.sample(T0 - 86400 + 60 * i) for i in range(1440)], version="t1")
    return out


def stored(packed: list[tuple[bytes, dict]]) -> list[tuple[bytes, dict]]:
    """As the database gives them back: bytes from bytea, the JSON part through jsonb."""
    return [(bytes(b), json.loads(json.dumps(x, allow_nan=False))) for b, x in packed]


def move(blk: BlockMonitor, into: BlockMonitor, ids: list[str]) -> None:
    packed = stored(block_checkpoint.pack(blk, ids))
    assert block_checkpoint.fingerprint(into) == block_checkpoint.fingerprint(blk)
    assert block_checkpoint.unpack(into, [(d, b, x) for d, (b, x) in zip(ids, packed, strict=True)]) == ids


def same_state(a: BlockMonitor, b: BlockMonitor, ids: list[str], where: str) -> None:
    for d in ids:
        assert decisions(b.active(d)) == decisions(a.active(d)), (where, d)
        ma, wa = a.export(d)
        mb, wb = b.export(d)
        close(snap(mb), snap(ma), f"{where} {d}")
        close(snap(wb), snap(wa), f"{where} {d} wear")


@pytest.mark.parametrize(("equipment", "with_model", "config"), [
    ("pump", False, None), ("pump", True, None), ("compressor", True, SHIFT)])
def test_unpacked_rows_continue_like_the_block_they_came_from(sim_models: dict[str, NormalModel], equipment: str,
                                                              with_model: bool, config: dict | None) -> None:
    model = sim_models[equipment] if with_model else None
    rng = random.Random(7)
    devs = {f"d{i}": Equipment(f"d{i}", equipment, seed=i) for i in range(8)}
    modes = [m for m in FAULT_MODES if equipment in APPLICABLE_TYPES[m]]
    for i, e in enumerate(devs.values()):
        if i % 2 == 0:
            e.inject(rng.choice(modes), T0 + rng.uniform(300, 1500), develop_s=rng.uniform(60, 1200))
    ids = list(devs)
    a = BlockMonitor(equipment, config, model, cap=4)
    for d in ids:
        a.add(d)
    t = {d: T0 + rng.uniform(0, 5) for d in ids}
    b: BlockMonitor | None = None
    kinds: set[str] = set()
    for p in range(200):
        batch = {d: in_time_order(a.last_seen(d), s) for d, s in _pass(rng, devs, t, p).items()}
        if p in (0, 40, 120):
            if p == 40:  # the Python-object parts of a row: silence, and findings restored from a scalar snapshot
                a.check_silence(max(t.values()) + 10_000, 300.0)
                mon, wear = a.export("d3")
                a.load("d3", mon, wear)
            b = BlockMonitor(equipment, config, model, cap=2)
            move(a, b, ids)
            same_state(a, b, ids, f"restored at pass {p}")
            if p == 40:
                assert b.silent and b.restored
        assert b is not None
        a.observe(batch)
        b.observe({d: list(s) for d, s in batch.items()})
        same_state(a, b, ids, f"pass {p}")
        kinds |= {f.kind for d in ids for f in a.active(d)}
    assert len(kinds) >= 3  # the comparison covered real alarms


def _burst(blk: BlockMonitor, d: str, eq: Equipment, start: float, n: int, step: float) -> None:
    for k in range(0, n, 10):
        blk.observe({d: [(start + step * j, eq.sample(start + step * j)) for j in range(k, min(n, k + 10))]})


@pytest.mark.parametrize("wide_saver", [True, False])
def test_rate_rings_of_different_widths_restore_and_continue(wide_saver: bool) -> None:
    """The rate ring doubles when a block sees more samples per window than it holds: a row saved from a wide
    ring loads into a fresh narrow block (which widens) and one from a narrow ring into a wide block."""
    eq = {d: Equipment(d, "pump", seed=i) for i, d in enumerate(("p1", "p2"))}
    a, b = BlockMonitor("pump", None, None), BlockMonitor("pump", None, None)
    for blk in (a, b):
        blk.add("p1")
    widen = a if wide_saver else b
    widen.add("p2")
    _burst(widen, "p2", eq["p2"], T0, 200, 0.2)  # 150 samples in a 30 s window
    _burst(a, "p1", eq["p1"], T0, 300, 0.25 if wide_saver else 1.0)
    rings = {id(blk): max(v.ring for v in blk.vdets if isinstance(v, VRate)) for blk in (a, b)}
    assert (rings[id(a)] > rings[id(b)]) == wide_saver and rings[id(a)] != rings[id(b)]
    move(a, b, ["p1"])
    same_state(a, b, ["p1"], "restored")
    t = T0 + 300
    for _ in range(30):  # continue at 4 Hz: both keep every sample of the window
        chunk = [(t + 0.25 * j, eq["p1"].sample(t + 0.25 * j)) for j in range(10)]
        a.observe({"p1": chunk})
        b.observe({"p1": chunk})
        t += 2.5
        same_state(a, b, ["p1"], f"t={t}")


def test_a_blob_that_does_not_fit_is_refused(sim_models: dict[str, NormalModel]) -> None:
    blk = BlockMonitor("pump", None, sim_models["pump"])
    blk.add("p1")
    eq = Equipment("p1", "pump", seed=1)
    _burst(blk, "p1", eq, T0, 100, 1.0)
    [(blob, extra)] = stored(block_checkpoint.pack(blk, ["p1"]))
    other = BlockMonitor("pump", None, None)  # no model: another layout, another fingerprint
    assert block_checkpoint.fingerprint(other) != block_checkpoint.fingerprint(blk)
    assert block_checkpoint.fingerprint(BlockMonitor("pump", {"silence_s": 1}, sim_models["pump"])) != \
        block_checkpoint.fingerprint(blk)
    assert block_checkpoint.unpack(other, [("p1", blob, extra)]) == []
    fresh = BlockMonitor("pump", None, sim_models["pump"])
    assert block_checkpoint.unpack(fresh, [("p1", blob[:-8], extra)]) == []  # truncated
    assert block_checkpoint.unpack(fresh, [("p1", blob, {**extra, "format": 1})]) == []
    bad = np.frombuffer(blob, dtype="<f8").copy()
    widths = extra["widths"]
    assert block_checkpoint.unpack(fresh, [("p1", bad.tobytes(), {**extra, "widths": [*widths[:-1], 0]})]) == []
    assert "p1" not in fresh
    assert block_checkpoint.unpack(fresh, [("p1", blob, extra)]) == ["p1"]
    same_state(blk, fresh, ["p1"], "restored")


def test_packed_rows_are_smaller_than_the_scalar_json() -> None:
    """The format is for CPU (no Python walk over every window value), but it is smaller too: float64 bytes
    (NaN-heavy, compressed by PostgreSQL's TOAST) against the scalar snapshot's JSON (~20 kB a device)."""
    blk = BlockMonitor("pump", None, None)
    blk.add("p1")
    _burst(blk, "p1", Equipment("p1", "pump", seed=1), T0, 600, 1.0)
    [(blob, extra)] = block_checkpoint.pack(blk, ["p1"])
    mon, wear = blk.export("p1")
    old = len(json.dumps({"monitor": snap(mon), "wear": snap(wear)}))
    assert len(blob) + len(json.dumps(extra)) < 0.7 * old
