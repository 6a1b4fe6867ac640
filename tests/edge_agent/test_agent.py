"""Agent with a fake transport and a fake clock: batching, buffering, replay, acks, restart, commands, events."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from edge_agent.agent import Agent, AgentConfig
from edge_agent.buffer import BufferStore, DiskBuffer
from edge_agent.models import DeviceSpec
from edge_agent.simulator import Equipment

T0 = 1_732_370_000.0
SPEC = DeviceSpec("pump-0001", "pump", "pump-0001", "pw")


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeTransport:
    """Records publishes; acknowledges only when the test says so, like a broker on a slow link."""

    def __init__(self) -> None:
        self.connected = False
        self.sent: list[tuple[int, str, bytes, bool]] = []
        self.subscriptions: list[str] = []
        self._mid = 0

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None:
        self._mid += 1
        self.sent.append((self._mid, topic, payload, retain))
        return self._mid

    def subscribe(self, topic: str) -> None:
        self.subscriptions.append(topic)

    def telemetry(self) -> list[tuple[int, dict]]:
        return [(mid, json.loads(p)) for mid, t, p, _ in self.sent if t.endswith("/telemetry")]

    def on(self, suffix: str) -> list[dict]:
        return [json.loads(p) for _, t, p, _ in self.sent if t.endswith(suffix)]


class FakeWall:
    """Monotonic wall time for ack timeouts, advanced by the test."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _agent(
    tmp_path: Path, clock: FakeClock, wall: FakeWall | None = None, **cfg: object
) -> tuple[Agent, FakeTransport]:
    store = BufferStore(tmp_path / "buf.sqlite")
    agent = Agent(
        SPEC,
        Equipment(SPEC.device_id, "pump", seed=1),
        DiskBuffer(store, SPEC.device_id, max_rows=int(cfg.get("max_buffer_rows", 10_000))),  # type: ignore[call-overload]
        clock,
        AgentConfig(**cfg),  # type: ignore[arg-type]
        wall=wall or FakeWall(),
    )
    tr = FakeTransport()
    agent.attach(tr)
    return agent, tr


def _connect(agent: Agent, tr: FakeTransport) -> None:
    tr.connected = True
    agent.on_connected()


def _ack_all(agent: Agent, tr: FakeTransport) -> None:
    """Broker PUBACKs every message and ingest acks every seq end to end, until nothing new is sent."""
    acked: set[int] = set()
    while True:
        todo = [(mid, t, p) for mid, t, p, _ in tr.sent if mid not in acked]
        if not todo:
            return
        for mid, _, _ in todo:
            acked.add(mid)
            agent.on_acked(mid)
        seqs = [json.loads(p)["seq"] for _, t, p in todo if t.endswith(("/telemetry", "/event"))]
        if seqs:
            _server_ack(agent, seqs)


def _server_ack(agent: Agent, seqs: list[int]) -> None:
    agent.on_message("qf/v1/pump-0001/ack", json.dumps({"v": 1, "seqs": seqs, "t": 0}).encode())


def test_fast_clock_produces_one_sample_per_sample_interval(tmp_path: Path) -> None:
    clock = FakeClock()
    agent, tr = _agent(tmp_path, clock, sample_interval_s=1.0, batch_interval_s=10.0)
    _connect(agent, tr)
    agent.tick()
    clock.t += 59.5  # one wall tick of a 60x clock
    agent.tick()
    agent.flush()
    agent.pump()
    batches = [b for _, b in tr.telemetry()]
    times = [s["t"] for b in batches for s in b["samples"]]
    assert times == [int((T0 + i) * 1000) for i in range(60)]
    assert [len(b["samples"]) for b in batches] == [10] * 6
    assert [b["seq"] for b in batches] == list(range(6))
    assert all(b["device_id"] == "pump-0001" and b["v"] == 1 for b in batches)


def test_batch_closes_at_max_samples(tmp_path: Path) -> None:
    clock = FakeClock()
    agent, tr = _agent(
        tmp_path, clock, sample_interval_s=1.0, batch_interval_s=1000.0, max_samples_per_batch=7
    )
    _connect(agent, tr)
    agent.tick()
    clock.t += 20
    agent.tick()
    assert [len(b["samples"]) for _, b in tr.telemetry()] == [7, 7, 7]


def test_open_batch_closes_when_its_interval_passes_in_clock_time(tmp_path: Path) -> None:
    clock = FakeClock()
    agent, tr = _agent(tmp_path, clock, sample_interval_s=2.0, batch_interval_s=5.0)
    _connect(agent, tr)
    agent.tick()
    clock.t += 4.9
    agent.tick()
    assert tr.telemetry() == []
    clock.t += 0.2
    agent.tick()
    assert [len(b["samples"]) for _, b in tr.telemetry()] == [3]


def test_offline_buffers_then_replays_oldest_first_within_window(tmp_path: Path) -> None:
    clock = FakeClock()
    agent, tr = _agent(tmp_path, clock, batch_interval_s=1.0, inflight_window=3)
    for _ in range(10):
        clock.t += 1
        agent.tick()
    assert tr.sent == [] and agent.buffer.rows >= 9
    _connect(agent, tr)
    status = tr.sent[0]
    assert status[1] == "qf/v1/pump-0001/status" and status[3] is True
    assert json.loads(status[2]) == {"v": 1, "state": "online", "t": int(clock.t * 1000)}
    assert tr.subscriptions == ["qf/v1/pump-0001/cmd", "qf/v1/pump-0001/ack"]
    assert [b["seq"] for _, b in tr.telemetry()] == [0, 1, 2]  # bounded in-flight window
    _ack_all(agent, tr)
    seqs = [b["seq"] for _, b in tr.telemetry()]
    assert seqs == list(range(agent.buffer.next_seq))
    assert agent.buffer.rows == 0 and agent.inflight == 0
    assert agent.acked_messages == len(seqs)


def test_without_server_ack_puback_deletes_and_paho_resends_after_reconnect(tmp_path: Path) -> None:
    """server_ack=False: paho resends in-flight QoS 1 messages itself; the agent continues after them."""
    clock = FakeClock()
    agent, tr = _agent(tmp_path, clock, inflight_window=2, server_ack=False)
    _connect(agent, tr)
    for _ in range(4):
        clock.t += 1
        agent.tick()
    assert [b["seq"] for _, b in tr.telemetry()] == [0, 1]
    tr.connected = False
    agent.on_disconnected()
    clock.t += 1
    agent.tick()
    assert agent.buffer.rows == 4
    _connect(agent, tr)
    assert [b["seq"] for _, b in tr.telemetry()] == [0, 1]  # window still full with paho's resends
    first_mids = [mid for mid, _ in tr.telemetry()]
    for mid in first_mids:
        agent.on_acked(mid)
    _ack_all(agent, tr)
    assert sorted({b["seq"] for _, b in tr.telemetry()}) == list(range(4))
    assert agent.buffer.rows == 0


def test_seq_continues_after_restart_and_unacked_batches_are_replayed(tmp_path: Path) -> None:
    clock = FakeClock()
    agent, tr = _agent(tmp_path, clock)
    _connect(agent, tr)
    for _ in range(3):
        clock.t += 1
        agent.tick()
    for mid, _ in tr.telemetry():
        agent.on_acked(mid)  # the broker took all three ...
    _server_ack(agent, [0])  # ... but only seq 0 is committed by ingest before the "crash"
    agent.buffer.store.close()
    agent2, tr2 = _agent(tmp_path, clock)
    for _ in range(3):
        clock.t += 1
        agent2.tick()
    _connect(agent2, tr2)
    _ack_all(agent2, tr2)
    assert [b["seq"] for _, b in tr2.telemetry()] == [1, 2, 3]


def test_unknown_ack_is_ignored(tmp_path: Path) -> None:
    agent, _tr = _agent(tmp_path, FakeClock())
    agent.on_acked(12345)
    _server_ack(agent, [777])
    assert agent.acked_messages == 0


def _batches(agent: Agent, clock: FakeClock, n: int) -> None:
    """Exactly n closed batches of one sample each, handed to the transport if it is connected."""
    for _ in range(n):
        agent.tick()
        agent.flush()
        agent.pump()
        clock.t += 1


def _tel_seqs(tr: FakeTransport) -> list[int]:
    return [b["seq"] for _, b in tr.telemetry()]


def test_puback_alone_keeps_the_batch_until_ingest_acks_it(tmp_path: Path) -> None:
    clock = FakeClock()
    agent, tr = _agent(tmp_path, clock, events=False)
    _connect(agent, tr)
    _batches(agent, clock, 3)
    for mid, _ in tr.telemetry():
        agent.on_acked(mid)
    assert agent.buffer.rows == 3 and agent.acked_messages == 0
    _server_ack(agent, [0, 2])
    assert agent.buffer.rows == 1 and agent.acked_messages == 2
    _server_ack(agent, [0, 2])  # a duplicate ack (ingest acks redeliveries too) changes nothing
    assert agent.buffer.rows == 1 and agent.acked_messages == 2
    assert [s for s, *_ in agent.buffer.pending(-1, 10)] == [1]


def test_overdue_batches_are_resent_oldest_first_after_the_ack_timeout(tmp_path: Path) -> None:
    clock, wall = FakeClock(), FakeWall()
    agent, tr = _agent(tmp_path, clock, wall, ack_timeout_s=5.0, events=False)
    _connect(agent, tr)
    _batches(agent, clock, 4)
    assert _tel_seqs(tr) == [0, 1, 2, 3]
    for mid, _ in tr.telemetry():
        agent.on_acked(mid)  # the broker accepted them, then lost 1 and 3 (e.g. a restart)
    _server_ack(agent, [0, 2])
    wall.t += 4.9
    agent.pump()
    assert _tel_seqs(tr) == [0, 1, 2, 3]  # not overdue yet
    wall.t += 0.2
    agent.pump()
    assert _tel_seqs(tr) == [0, 1, 2, 3, 1, 3] and agent.resent_messages == 2
    _server_ack(agent, [1, 3])
    wall.t += 60
    agent.pump()
    assert _tel_seqs(tr) == [0, 1, 2, 3, 1, 3]  # acked: never resent again
    assert agent.buffer.rows == 0 and agent.acked_messages == 4


def test_reconnect_resends_what_the_broker_took_but_ingest_never_acked(tmp_path: Path) -> None:
    clock = FakeClock()
    agent, tr = _agent(tmp_path, clock, events=False)
    _connect(agent, tr)
    _batches(agent, clock, 3)
    mids = [mid for mid, _ in tr.telemetry()]
    agent.on_acked(mids[0])
    agent.on_acked(mids[1])  # seq 2 has no PUBACK: paho resends it itself after the reconnect
    _server_ack(agent, [0])
    tr.connected = False
    agent.on_disconnected()
    _connect(agent, tr)
    assert _tel_seqs(tr) == [0, 1, 2, 1]
    _ack_all(agent, tr)
    assert agent.buffer.rows == 0


def test_new_batches_keep_flowing_while_server_acks_are_missing(tmp_path: Path) -> None:
    """Sending is paced by PUBACKs only: without end-to-end acks data still reaches the broker (and is kept)."""
    clock = FakeClock()
    agent, tr = _agent(tmp_path, clock, inflight_window=2, events=False)
    _connect(agent, tr)
    for _ in range(5):
        _batches(agent, clock, 1)
        for mid, _ in tr.telemetry():
            agent.on_acked(mid)
    assert _tel_seqs(tr) == [0, 1, 2, 3, 4]
    assert agent.buffer.rows == 5 and agent.acked_messages == 0


def test_ack_timeout_backs_off_while_no_ack_arrives_and_resets_on_an_ack(tmp_path: Path) -> None:
    clock, wall = FakeClock(), FakeWall()
    agent, tr = _agent(tmp_path, clock, wall, ack_timeout_s=1.0, events=False)
    _connect(agent, tr)
    _batches(agent, clock, 1)
    wall.t += 1.0
    agent.pump()
    assert _tel_seqs(tr) == [0, 0]  # first timeout: resent, and no ack came meanwhile ...
    wall.t += 1.5
    agent.pump()
    assert _tel_seqs(tr) == [0, 0]  # ... so the next wait is 2 s, not 1 s
    wall.t += 0.5
    agent.pump()
    assert _tel_seqs(tr) == [0, 0, 0]
    _server_ack(agent, [0])  # acks work again: back to the configured timeout
    _batches(agent, clock, 1)
    wall.t += 1.0
    agent.pump()
    assert _tel_seqs(tr) == [0, 0, 0, 1, 1]


def test_buffer_bound_still_applies_while_acks_are_missing(tmp_path: Path) -> None:
    clock, wall = FakeClock(), FakeWall()
    agent, tr = _agent(tmp_path, clock, wall, max_buffer_rows=3, ack_timeout_s=1.0, events=False)
    _connect(agent, tr)
    _batches(agent, clock, 6)
    assert agent.buffer.rows == 3 and agent.buffer.dropped == 3
    wall.t += 2
    agent.pump()
    assert _tel_seqs(tr)[6:] == [3, 4, 5]  # the dropped oldest ones are not resent: they are gone
    _ack_all(agent, tr)
    assert agent.buffer.rows == 0


def test_without_server_ack_the_ack_topic_is_not_subscribed(tmp_path: Path) -> None:
    agent, tr = _agent(tmp_path, FakeClock(), server_ack=False)
    _connect(agent, tr)
    assert tr.subscriptions == ["qf/v1/pump-0001/cmd"]


@pytest.mark.parametrize("payload", [b"nope", b'{"v":1,"seqs":[-1]}', b'{"v":2,"seqs":[1]}', b'{"v":1}'])
def test_malformed_ack_is_ignored(tmp_path: Path, payload: bytes) -> None:
    clock = FakeClock()
    agent, tr = _agent(tmp_path, clock)
    _connect(agent, tr)
    _batches(agent, clock, 1)
    agent.on_message("qf/v1/pump-0001/ack", payload)
    assert agent.buffer.rows == 1


def test_motor_trip_emits_state_and_alarm_events_that_are_buffered_and_acked(tmp_path: Path) -> None:
    clock = FakeClock()
    agent, tr = _agent(tmp_path, clock, batch_interval_s=10.0)
    _connect(agent, tr)
    agent.tick()
    clock.t += 20
    agent.tick()
    assert tr.on("/event") == []  # healthy: nothing to report
    agent.equipment.inject("motor_trip", clock.t)
    clock.t += 10
    agent.tick()
    events = tr.on("/event")
    kinds = [(e["kind"], e["data"].get("signal") or e["data"].get("state")) for e in events]
    assert ("state_changed", "stopped") in kinds
    assert {
        ("alarm_raised", "current_a"),
        ("alarm_raised", "flow_lpm"),
        ("alarm_raised", "pressure_bar"),
    } <= set(kinds)
    assert all(e["v"] == 1 and e["t"] >= int(T0 * 1000) for e in events)
    seqs = [json.loads(p)["seq"] for _, t, p, _ in tr.sent if t.endswith(("/telemetry", "/event"))]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # one counter for batches and events
    _ack_all(agent, tr)
    assert agent.buffer.rows == 0 and agent.events_emitted == len(events)


def _cmd(cid: str, cmd: str, args: dict | None = None, expires_at: int | None = None) -> bytes:
    return json.dumps(
        {
            "v": 1,
            "id": cid,
            "cmd": cmd,
            "args": args or {},
            "issued_at": int(T0 * 1000),
            "expires_at": expires_at if expires_at is not None else int((T0 + 60) * 1000),
            "issued_by": "test",
        }
    ).encode()


def test_ping_is_answered_once(tmp_path: Path) -> None:
    agent, tr = _agent(tmp_path, FakeClock())
    _connect(agent, tr)
    agent.on_message("qf/v1/pump-0001/cmd", _cmd("c1", "ping"))
    agent.on_message("qf/v1/pump-0001/cmd", _cmd("c1", "ping"))
    assert tr.on("/cmd/result") == [
        {"v": 1, "id": "c1", "ok": True, "result": {"pong": True}, "t": int(T0 * 1000)}
    ]


def test_expired_command_is_answered_not_executed(tmp_path: Path) -> None:
    clock = FakeClock()
    agent, tr = _agent(tmp_path, clock)
    _connect(agent, tr)
    agent.equipment.inject("motor_trip", T0)
    agent.on_message("qf/v1/pump-0001/cmd", _cmd("c1", "reset", expires_at=int(T0 * 1000) - 1))
    [res] = tr.on("/cmd/result")
    assert res["ok"] is False and res["result"]["reason"] == "expired"
    assert [f.mode for f in agent.equipment.active_faults] == ["motor_trip"]


def test_reset_clears_tripped_motor_and_telemetry_shows_it(tmp_path: Path) -> None:
    clock = FakeClock()
    agent, tr = _agent(tmp_path, clock, batch_interval_s=1.0)
    _connect(agent, tr)
    agent.equipment.inject("motor_trip", T0)
    agent.tick()
    agent.on_message("qf/v1/pump-0001/cmd", _cmd("c1", "reset", {"subsystem": "motor"}))
    [res] = tr.on("/cmd/result")
    assert res["ok"] and res["result"] == {"subsystem": "motor", "cleared": ["motor_trip"]}
    clock.t += 2
    agent.tick()
    currents = [s["m"]["current_a"] for _, b in tr.telemetry() for s in b["samples"]]
    assert currents[0] == 0.0 and currents[-1] > 5.0


def test_set_interval_changes_sampling_and_validates(tmp_path: Path) -> None:
    clock = FakeClock()
    agent, tr = _agent(tmp_path, clock, sample_interval_s=1.0, batch_interval_s=100.0)
    _connect(agent, tr)
    agent.tick()
    agent.on_message("qf/v1/pump-0001/cmd", _cmd("c1", "set_interval", {"interval_s": 10}))
    agent.on_message("qf/v1/pump-0001/cmd", _cmd("c2", "set_interval", {"interval_s": -1}))
    agent.on_message("qf/v1/pump-0001/cmd", _cmd("c3", "set_interval", {}))
    ok, neg, missing = tr.on("/cmd/result")
    assert ok["ok"] and ok["result"] == {"interval_s": 10.0, "previous_s": 1.0}
    assert not neg["ok"] and not missing["ok"]
    clock.t += 50
    agent.tick()
    agent.flush()
    agent.pump()
    times = [s["t"] for _, b in tr.telemetry() for s in b["samples"]]
    assert [b - a for a, b in itertools.pairwise(times)] == [1000] + [10_000] * 4
    assert [(e["kind"], e["data"]) for e in tr.on("/event")] == [
        ("config_changed", {"sample_interval_s": 10.0, "previous_s": 1.0})
    ]


def test_snapshot_reports_signals_faults_and_buffer(tmp_path: Path) -> None:
    clock = FakeClock()
    agent, tr = _agent(tmp_path, clock)
    agent.equipment.inject("seal_leak", T0)
    agent.tick()
    _connect(agent, tr)
    agent.on_message("qf/v1/pump-0001/cmd", _cmd("c1", "snapshot"))
    [res] = tr.on("/cmd/result")
    snap = res["result"]
    assert set(snap["signals"]) == {"pressure_bar", "flow_lpm", "motor_temp_c", "vibration_mm_s", "current_a"}
    assert snap["active_faults"] == [{"mode": "seal_leak", "onset_s": T0}]
    assert snap["equipment_type"] == "pump" and snap["connected"] is True


@pytest.mark.parametrize("payload", [b"garbage", b'{"v":1}'])
def test_malformed_command_gets_no_answer(tmp_path: Path, payload: bytes) -> None:
    agent, tr = _agent(tmp_path, FakeClock())
    _connect(agent, tr)
    agent.on_message("qf/v1/pump-0001/cmd", payload)
    assert tr.on("/cmd/result") == []


def test_random_faults_are_reported(tmp_path: Path) -> None:
    clock = FakeClock()
    seen = []
    store = BufferStore(tmp_path / "b.sqlite")
    agent = Agent(
        SPEC,
        Equipment(SPEC.device_id, "pump", seed=1),
        DiskBuffer(store, SPEC.device_id),
        clock,
        AgentConfig(fault_rate_per_device_hour=50.0, fault_modes=("seal_leak",)),
        on_fault=seen.append,
    )
    agent.tick()
    clock.t += 3600
    agent.tick()
    assert [f.mode for f in seen] == ["seal_leak"]
