"""Encoder: byte-exact schema v1 as written in docs/contracts.md, and accepted by the server-side decoder."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from core import contracts as server  # test-only cross-check; edge_agent itself never imports core
from edge_agent.models import CommandResult
from edge_agent.payload import decode_command, encode_batch, encode_cmd_result, encode_status, topic

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"


def _contract_example() -> dict:
    text = CONTRACTS.read_text()
    block = re.search(r"## Telemetry batch\n```json\n(.*?)```", text, re.DOTALL)
    assert block is not None
    return json.loads(block.group(1))


def test_batch_matches_contract_example_exactly() -> None:
    ex = _contract_example()
    samples = [(s["t"], s["m"]) for s in ex["samples"]]
    body = encode_batch(ex["device_id"], ex["seq"], samples)
    assert json.loads(body) == ex
    assert list(json.loads(body)) == ["v", "device_id", "seq", "samples"]


def test_batch_is_accepted_by_server_decoder() -> None:
    body = encode_batch(
        "pump-0001",
        7,
        [
            (1_732_370_000_123, {"pressure_bar": 4.2, "flow_lpm": 120}),
            (1_732_370_001_123, {"pressure_bar": 4.1}),
        ],
    )
    batch = server.decode_telemetry("pump-0001", body)
    assert (batch.device_id, batch.seq, batch.reading_count) == ("pump-0001", 7, 3)
    assert batch.samples[0].values == (("pressure_bar", 4.2), ("flow_lpm", 120.0))


def test_non_finite_values_and_empty_samples_are_dropped() -> None:
    body = json.loads(encode_batch("d", 0, [(1, {"a": math.nan, "b": 1.0}), (2, {"a": math.inf})]))
    assert body["samples"] == [{"t": 1, "m": {"b": 1.0}}]
    with pytest.raises(ValueError):
        encode_batch("d", 0, [(1, {"a": math.nan})])


@pytest.mark.parametrize("name", ["Pressure", "a-b", "x" * 49, ""])
def test_invalid_signal_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        encode_batch("d", 0, [(1, {name: 1.0})])


def test_reading_limit_and_negative_seq_are_refused() -> None:
    too_many = [(i, {f"s{j}": 1.0 for j in range(10)}) for i in range(1001)]
    with pytest.raises(ValueError):
        encode_batch("d", 0, too_many)
    with pytest.raises(ValueError):
        encode_batch("d", -1, [(1, {"a": 1.0})])


def test_status_payloads() -> None:
    assert json.loads(encode_status("online", 1234)) == {"v": 1, "state": "online", "t": 1234}
    assert json.loads(encode_status("offline")) == {"v": 1, "state": "offline"}
    assert server.decode_status("d", encode_status("online", 5)).online
    with pytest.raises(ValueError):
        encode_status("sleeping")


def test_cmd_result_payload_round_trips_through_server_decoder() -> None:
    body = encode_cmd_result(CommandResult("c-1", True, {"pong": True}), 99)
    assert json.loads(body) == {"v": 1, "id": "c-1", "ok": True, "result": {"pong": True}, "t": 99}
    res = server.decode_command_result("d", body)
    assert (res.command_id, res.ok, res.result, res.t_ms) == ("c-1", True, {"pong": True}, 99)


def test_decode_server_command() -> None:
    cmd = decode_command(server.encode_command("c-2", "set_interval", {"interval_s": 5}, 10, 20, "ops"))
    assert (cmd.id, cmd.cmd, cmd.args, cmd.issued_at, cmd.expires_at, cmd.issued_by) == (
        "c-2",
        "set_interval",
        {"interval_s": 5},
        10,
        20,
        "ops",
    )


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"v":2,"id":"a","cmd":"ping"}',
        b'{"v":1,"cmd":"ping"}',
        b'{"v":1,"id":"a","cmd":"ping","args":[]}',
        b'{"v":1,"id":"a","cmd":"ping","expires_at":"soon"}',
        b"\xff",
    ],
)
def test_decode_command_rejects_malformed(payload: bytes) -> None:
    with pytest.raises(ValueError):
        decode_command(payload)


def test_topics() -> None:
    assert topic("pump-0001", "telemetry") == "qf/v1/pump-0001/telemetry"
    assert topic("pump-0001", "cmd/result") == "qf/v1/pump-0001/cmd/result"


def test_event_round_trips_through_server_decoder() -> None:
    from edge_agent.payload import encode_event

    body = encode_event(9, 1_732_370_000_123, "alarm_raised", {"signal": "vibration_mm_s", "value": 7.5})
    assert json.loads(body) == {
        "v": 1,
        "seq": 9,
        "t": 1_732_370_000_123,
        "kind": "alarm_raised",
        "data": {"signal": "vibration_mm_s", "value": 7.5},
    }
    ev = server.decode_event("pump-0001", body)
    assert (ev.device_id, ev.seq, ev.kind, ev.data["signal"]) == ("pump-0001", 9, "alarm_raised", "vibration_mm_s")
    with pytest.raises(ValueError):
        encode_event(1, 0, "Bad Kind", {})


def test_server_ack_is_decoded_by_the_agent() -> None:
    from edge_agent.payload import decode_ack

    [body] = server.encode_acks([5, 3, 3, 4], 1_732_370_000_000)
    assert json.loads(body) == {"v": 1, "seqs": [3, 4, 5], "t": 1_732_370_000_000}
    assert decode_ack(body) == [3, 4, 5]
    for bad in (b"x", b'{"v":1,"seqs":"1"}', b'{"v":1,"seqs":[true]}', b'{"v":1,"seqs":[1.5]}'):
        with pytest.raises(ValueError):
            decode_ack(bad)
