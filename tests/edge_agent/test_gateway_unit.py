"""Pure parts of the gateway: scaling and range, health transitions, J1939 bit fields and reserved values, and
the GatewayAgent's batching of sink readings (device times kept, nothing sent twice) with a fake transport."""

from __future__ import annotations

import json
from pathlib import Path

from edge_agent.agent import AgentConfig
from edge_agent.buffer import BufferStore, DiskBuffer
from edge_agent.config import parse
from edge_agent.gateway import HEALTH_EVENT, GatewayAgent
from edge_agent.models import DeviceSpec
from edge_agent.sources import Reading, SignalSpec, Sink
from edge_agent.sources.can_j1939 import j1939_invalid, pgn_of, raw_bits
from tests.edge_agent.test_agent import FakeClock, FakeTransport

T0 = 1_790_000_000.0


def test_scale_offset_and_the_valid_range() -> None:
    spec = SignalSpec("p", scale=0.01, offset=-5.0, valid_min=0.0, valid_max=10.0)
    sink = Sink(now=lambda: T0)
    sink.value("plc", spec, 900)  # 4.0
    sink.value("plc", spec, 1600)  # 11.0: implausible
    sink.value("plc", spec, float("inf"))
    readings, health = sink.drain()
    assert readings == [Reading("p", round(T0 * 1000), 4.0)]
    assert [(h.ok, h.signal) for h in health] == [(False, "p")]  # one transition, not one per bad value
    assert "above the valid range maximum 10.0" in health[0].error and sink.rejected == 2
    sink.value("plc", spec, 1000, t_ms=5)  # back in range: recovered, at the reading's device time
    readings, health = sink.drain()
    assert readings == [Reading("p", 5, 5.0)] and [(h.ok, h.signal, h.t_ms) for h in health] == [(True, "p", 5)]


def test_health_is_reported_on_transitions_per_source_and_signal() -> None:
    sink = Sink(now=lambda: T0)
    sink.failed("plc", "timeout")
    sink.failed("plc", "timeout again")
    sink.failed("plc", "bad", signal="a")
    sink.ok("plc", signal="b")  # was never failing: nothing to report
    sink.ok("plc")
    sink.ok("plc")
    _, health = sink.drain()
    assert [(h.source, h.signal, h.ok, h.error) for h in health] == [
        ("plc", "", False, "timeout"), ("plc", "a", False, "bad"), ("plc", "", True, "")]
    assert sink.failures() == {("plc", "a"): "bad"}


def test_j1939_ids_bit_fields_and_reserved_values() -> None:
    assert pgn_of(0x0CF00400) == 61444  # EEC1 (PDU2)
    assert pgn_of(0x18FEEE00) == 65262  # ET1
    assert pgn_of(0x18EA21F9) == 0xEA00  # PDU1: destination address 0x21 is not part of the PGN
    data = bytes([0, 0, 155, 0x10, 0x27, 0, 0, 0])
    assert raw_bits(data, 24, 16) == 0x2710 and raw_bits(data, 16, 8) == 155
    assert raw_bits(data[:3], 24, 16) is None  # frame too short
    assert j1939_invalid(0xFFFF, 16) and j1939_invalid(0xFE00, 16) and j1939_invalid(0xFB00, 16)
    assert j1939_invalid(0xFAFF, 16) is None and j1939_invalid(0xFA, 8) is None
    assert j1939_invalid(0b11, 2) and j1939_invalid(0b10, 2) and j1939_invalid(0b01, 2) is None


CONFIG = """
device_id = "pump-0009"
equipment_type = "pump"
batch_interval_s = 10
[broker]
url = "mqtt://127.0.0.1:1883"
password_env = "X"
[[sources]]
name = "ctrl"
type = "http_push"
  [[sources.signals]]
  name = "pressure_bar"
  alarm_high = 6.0
  [[sources.signals]]
  name = "flow_lpm"
"""


def test_gateway_agent_keeps_device_times_merges_samples_and_never_sends_a_reading_twice(tmp_path: Path) -> None:
    cfg = parse(CONFIG)
    clock = FakeClock(T0)
    store = BufferStore(tmp_path / "b.sqlite")
    sink = Sink(now=clock)
    agent = GatewayAgent(DeviceSpec("pump-0009", "pump", "pump-0009", "pw"), cfg,
                         DiskBuffer(store, "pump-0009", initial_seq=0), sink, clock,
                         AgentConfig(batch_interval_s=10, server_ack=False))
    tr = FakeTransport()
    tr.connected = True
    agent.attach(tr)
    t = round(T0 * 1000) - 60_000  # device time a minute behind the gateway: kept as is
    for i in range(4):
        sink.put(Reading("pressure_bar", t + i * 1000, 7.0))
        sink.put(Reading("flow_lpm", t + i * 1000, 100.0 + i))
    sink.put(Reading("flow_lpm", t + 2000, 999.0))  # not newer than one already taken: dropped
    sink.failed("ctrl", "timeout: no push for 60 s")
    agent.tick()
    clock.t += 11
    agent.tick()
    batches = [json.loads(p) for _, topic, p, _ in tr.sent if topic.endswith("/telemetry")]
    samples = [s for b in batches for s in b["samples"]]
    assert [s["t"] for s in samples] == [t, t + 1000, t + 2000, t + 3000]
    assert samples[2]["m"] == {"pressure_bar": 7.0, "flow_lpm": 102.0} and agent.stale == 1
    events = [json.loads(p) for _, topic, p, _ in tr.sent if topic.endswith("/event")]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == HEALTH_EVENT and events[0]["data"] == {
        "source": "ctrl", "state": "failed", "error": "timeout: no push for 60 s"}
    assert "alarm_raised" in kinds  # alarm_high from the mapping, 3 samples past it
    alarm = events[kinds.index("alarm_raised")]
    assert alarm["data"]["signal"] == "pressure_bar" and alarm["t"] == t + 2000
    store.close()
