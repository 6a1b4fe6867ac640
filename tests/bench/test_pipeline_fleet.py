"""The pipeline's lean fleet publisher samples healthy devices from the same model as Equipment.sample."""

from __future__ import annotations

import numpy as np
import orjson

from bench.pipeline import SIGNALS_PER_SAMPLE, BatchFleet
from core.contracts import decode_telemetry
from edge_agent.simulator import Equipment


class FakeClient:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        assert qos == 1
        self.sent.append((topic, payload))


def fleet(devices: list[tuple[str, str]]) -> BatchFleet:
    """A BatchFleet without its broker connection (only the sampling and encoding are under test)."""
    f = BatchFleet.__new__(BatchFleet)
    f.equipment = {d: Equipment(d, t, seed=11) for d, t in devices}
    f.seq = dict.fromkeys(f.equipment, 1)
    f.published = 0
    f.client = FakeClient()  # type: ignore[assignment]
    BatchFleet._init_model(f, sample_s=1.0, batch_s=10.0, lean=True, seed=3)
    return f


def test_block_samples_match_the_simulators_healthy_distribution_and_the_contract() -> None:
    devices = [(f"d{i}", t) for i, t in enumerate(["pump", "chiller", "compressor"] * 20)]
    f = fleet(devices)
    t0 = 1_733_480_000.0
    for k in range(1, 61):  # one minute: six messages of ten samples per device
        if k % 10 == 0:
            f._publish_block([d for d, _ in devices], t0 + k)
    assert len(f.client.sent) == 6 * len(devices)
    got: dict[str, list[dict[str, float]]] = {}
    for topic, payload in f.client.sent:
        device_id = topic.split("/")[2]
        batch = decode_telemetry(device_id, payload)  # the server's decoder accepts it
        assert len(batch.samples) == 10
        got.setdefault(device_id, []).extend(dict(s.values) for s in batch.samples)
    assert f.readings == 6 * len(devices) * 10 * SIGNALS_PER_SAMPLE
    assert [orjson.loads(p)["seq"] for t, p in f.client.sent if "/d0/" in t] == [1, 2, 3, 4, 5, 6]
    for device_id, eq_type in devices[:3]:
        reference = Equipment(device_id, eq_type, seed=5)
        ref = [reference.sample(t0 + k) for k in range(1, 61)]
        for name in ref[0]:
            mine = np.array([s[name] for s in got[device_id]])
            theirs = np.array([s[name] for s in ref])
            sd = max(theirs.std(), 1e-3)
            assert abs(mine.mean() - theirs.mean()) < 1.0 * sd  # same level (noise is 1 % of nominal)
            assert 0.5 < mine.std() / sd < 2.0  # same noise scale
