import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.contracts import (
    MAX_PAYLOAD_BYTES,
    PayloadError,
    TelemetryBatch,
    decode_command_result,
    decode_status,
    decode_telemetry,
    parse_topic,
    topic,
)

T0 = 1_767_225_600_000  # 2026-01-01 in ms


def payload(**over: object) -> bytes:
    obj = {"v": 1, "device_id": "pump-0001", "seq": 7,
           "samples": [{"t": T0, "m": {"pressure_bar": 4.2, "flow_lpm": 120}},
                       {"t": T0 + 1000, "m": {"pressure_bar": 4.1}}]}
    obj.update(over)
    return json.dumps(obj).encode()


def test_valid_batch_decodes_to_readings() -> None:
    batch = decode_telemetry("pump-0001", payload())
    assert batch.seq == 7
    assert batch.reading_count == 3
    assert batch.samples[0].values == (("pressure_bar", 4.2), ("flow_lpm", 120.0))


@pytest.mark.parametrize(("raw", "reason"), [
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (payload(v=2), "unsupported schema version"),
    (payload(device_id="pump-0002"), "does not match topic"),
    (payload(seq=-1), "seq out of range"),
    (payload(seq="7"), "must be an integer"),
    (payload(samples=[]), "non-empty list"),
    (payload(samples=[{"t": 5, "m": {"a": 1}}]), "before 2000"),
    (payload(samples=[{"t": T0, "m": {"Bad Name": 1}}]), "invalid signal name"),
    (payload(samples=[{"t": T0, "m": {"a": "x"}}]), "not a number"),
    (payload(samples=[{"t": T0, "m": {"a": True}}]), "not a number"),
    (b'{"v":1,"device_id":"pump-0001","seq":1,"samples":[{"t":1767225600000,"m":{"a":NaN}}]}', "not finite"),
])
def test_invalid_payloads_give_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as err:
        decode_telemetry("pump-0001", raw)
    assert reason in err.value.reason


def test_future_timestamps_are_rejected_only_with_a_clock() -> None:
    raw = payload(samples=[{"t": T0 + 3 * 86_400_000, "m": {"a": 1}}])
    assert decode_telemetry("pump-0001", raw).reading_count == 1
    with pytest.raises(PayloadError, match="future"):
        decode_telemetry("pump-0001", raw, now_ms=T0)


def test_oversized_payload_is_rejected_before_parsing() -> None:
    with pytest.raises(PayloadError, match="too large"):
        decode_telemetry("pump-0001", b" " * (MAX_PAYLOAD_BYTES + 1))


def test_too_many_readings() -> None:
    samples = [{"t": T0 + i, "m": {f"s{j}": 1.0 for j in range(100)}} for i in range(101)]
    with pytest.raises(PayloadError, match="too many readings"):
        decode_telemetry("pump-0001", payload(samples=samples))


def test_topics_round_trip() -> None:
    assert parse_topic(topic("pump-0001", "cmd/result")) == ("pump-0001", "cmd/result")
    with pytest.raises(PayloadError):
        parse_topic("other/v1/pump/telemetry")
    with pytest.raises(PayloadError):
        parse_topic("qf/v1/bad device/telemetry")


def test_status_and_command_result() -> None:
    assert decode_status("d1", b'{"v":1,"state":"offline"}').online is False
    assert decode_status("d1", b'{"v":1,"state":"online","t":5}').t_ms == 5
    with pytest.raises(PayloadError):
        decode_status("d1", b'{"v":1,"state":"sleeping"}')
    result = decode_command_result("d1", b'{"v":1,"id":"c1","ok":true,"result":{"pong":1}}')
    assert result.ok and result.result == {"pong": 1}


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_give_a_batch_or_a_reason(raw: bytes) -> None:
    try:
        assert isinstance(decode_telemetry("pump-0001", raw), TelemetryBatch)
    except PayloadError as exc:
        assert exc.reason


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=4), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["v", "device_id", "seq", "samples", "x"]), json_values))
def test_any_json_object_gives_a_batch_or_a_reason(obj: dict) -> None:
    raw = json.dumps(obj).encode()
    try:
        decode_telemetry("pump-0001", raw)
    except PayloadError as exc:
        assert exc.reason


def test_event_decodes_and_bad_events_are_refused() -> None:
    from core.contracts import decode_event

    ev = decode_event("pump-0001", json.dumps({"v": 1, "seq": 3, "t": T0, "kind": "alarm_raised",
                                               "data": {"signal": "flow_lpm"}}).encode())
    assert (ev.seq, ev.t_ms, ev.kind, ev.data) == (3, T0, "alarm_raised", {"signal": "flow_lpm"})
    assert decode_event("pump-0001", json.dumps({"v": 1, "seq": 4, "t": T0, "kind": "x"}).encode()).data == {}
    for bad, reason in [({"seq": -1, "t": T0, "kind": "x"}, "seq out of range"),
                        ({"seq": 1, "t": 5, "kind": "x"}, "before 2000"),
                        ({"seq": 1, "t": T0, "kind": "Bad Kind"}, "event kind"),
                        ({"seq": 1, "t": T0, "kind": "x", "data": [1]}, "'data' must be an object")]:
        with pytest.raises(PayloadError, match=reason):
            decode_event("pump-0001", json.dumps({"v": 1, **bad}).encode())


def test_acks_are_sorted_deduplicated_and_split() -> None:
    from core.contracts import ACK_MAX_SEQS, encode_acks

    bodies = encode_acks(list(range(ACK_MAX_SEQS + 5)) + [0, 1], 123)
    assert [len(json.loads(b)["seqs"]) for b in bodies] == [ACK_MAX_SEQS, 5]
    assert json.loads(bodies[1]) == {"v": 1, "seqs": list(range(ACK_MAX_SEQS, ACK_MAX_SEQS + 5)), "t": 123}
    assert encode_acks([], 1) == []


def test_peek_seq_names_the_seq_of_a_bad_batch_only_for_its_own_device() -> None:
    from core.contracts import peek_seq

    assert peek_seq("pump-0001", payload(samples=[])) == 7
    assert peek_seq("pump-0002", payload()) is None
    assert peek_seq("pump-0001", b"garbage") is None
    assert peek_seq("pump-0001", payload(seq="7")) is None


def test_event_data_is_bounded() -> None:
    from core.contracts import MAX_EVENT_DATA_BYTES, decode_event

    big = {"v": 1, "seq": 1, "t": T0, "kind": "x", "data": {"note": "a" * MAX_EVENT_DATA_BYTES}}
    with pytest.raises(PayloadError, match="larger than"):
        decode_event("pump-0001", json.dumps(big).encode())


_sample = st.fixed_dictionaries({
    "t": st.one_of(st.integers(T0 - 10**12, T0 + 10**11), st.floats(allow_nan=False), st.booleans()),
    "m": st.dictionaries(st.sampled_from(["pressure_bar", "flow_lpm", "Bad Name", "new_signal_x"]),
                         st.one_of(st.floats(), st.integers(-5, 5), st.booleans(), st.text(max_size=2)),
                         max_size=4)})


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_sample, st.integers()), min_size=1, max_size=6))
def test_batch_fast_path_gives_what_the_per_sample_loop_gives(samples: list) -> None:
    """core.contracts._fast_samples only ever short-cuts the checked loop: same batch or same error reason."""
    from core import contracts

    raw = json.dumps({"v": 1, "device_id": "pump-0001", "seq": 1, "samples": samples}).encode()

    def outcome() -> object:
        try:
            return decode_telemetry("pump-0001", raw, now_ms=T0)
        except PayloadError as exc:
            return exc.reason

    fast = outcome()
    original = contracts._fast_samples
    contracts._fast_samples = lambda *_: None  # the per-sample loop alone
    try:
        assert outcome() == fast
    finally:
        contracts._fast_samples = original
