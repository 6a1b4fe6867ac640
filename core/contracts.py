"""Message contracts between devices and the server (see docs/contracts.md).

The decoder is the server's gate: it turns any bytes into either a valid, frozen message or a
:class:`PayloadError` whose reason is stored in the dead-letter table. It never raises anything else.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

import orjson

SCHEMA_VERSION = 1
TOPIC_ROOT = "qf/v1"
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_READINGS_PER_MESSAGE = 10_000
# Timestamps before 2000 or beyond this horizon in the future are device clock faults, not data.
MIN_TS_MS = 946_684_800_000
MAX_FUTURE_MS = 24 * 3600 * 1000
_SIGNAL_RE = re.compile(r"^[a-z0-9_]{1,48}$")
_DEVICE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_EVENT_KIND_RE = re.compile(r"^[a-z0-9_]{1,48}$")
# One ack message carries at most this many seqs (~20 kB of JSON): a flush of a few thousand batches from one
# device is split, so an ack never approaches the 256 KiB payload limit.
ACK_MAX_SEQS = 1000
# An event's data is a few fields (signal, value, limit); more than 4 KiB is not an event and must not bloat the
# customer-facing timeline, where it is copied.
MAX_EVENT_DATA_BYTES = 4096
# Signal names already validated: a fleet uses a few dozen, and the regex per reading was a top profile entry.
# Bounded so a stream of distinct (valid) names cannot grow it without limit.
_known_signals: set[str] = set()
_KNOWN_SIGNALS_MAX = 4096
_DICT_ONLY = {dict}
_INT_ONLY = {int}
_FLOAT_ONLY = {float}


class PayloadError(ValueError):
    """A message that cannot be accepted; ``reason`` is short and stable enough to group dead letters by."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Sample:
    t_ms: int
    values: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class TelemetryBatch:
    device_id: str
    seq: int
    samples: tuple[Sample, ...]

    @property
    def reading_count(self) -> int:
        return sum(len(s.values) for s in self.samples)


@dataclass(frozen=True, slots=True)
class StatusMessage:
    device_id: str
    online: bool
    t_ms: int | None


@dataclass(frozen=True, slots=True)
class CommandResult:
    device_id: str
    command_id: str
    ok: bool
    result: dict[str, Any]
    t_ms: int | None


@dataclass(frozen=True, slots=True)
class EventMessage:
    """A device event (alarm raised/cleared, operating state change, ...); seq shares the telemetry counter."""

    device_id: str
    seq: int
    t_ms: int
    kind: str
    data: dict[str, Any]


def topic(device_id: str, kind: str) -> str:
    return f"{TOPIC_ROOT}/{device_id}/{kind}"


def parse_topic(topic_name: str) -> tuple[str, str]:
    """Split ``qf/v1/{device}/{kind...}`` into (device_id, kind)."""
    parts = topic_name.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != TOPIC_ROOT:
        raise PayloadError("topic outside qf/v1 tree")
    device_id, kind = parts[2], "/".join(parts[3:])
    if not _DEVICE_RE.match(device_id):
        raise PayloadError("invalid device id in topic")
    return device_id, kind


def _load_object(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload too large ({len(payload)} bytes > {MAX_PAYLOAD_BYTES})")
    try:
        # orjson parses strict RFC 8259 JSON ~3x faster; whatever it refuses (NaN, huge integers, lone surrogates,
        # UTF-16) goes through the standard parser, so accepted input and error reasons stay exactly as before.
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        try:
            obj = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise PayloadError(f"not JSON: {type(exc).__name__}") from None
    if not isinstance(obj, dict):
        raise PayloadError("payload is not a JSON object")
    if obj.get("v") != SCHEMA_VERSION:
        raise PayloadError(f"unsupported schema version {obj.get('v')!r}")
    return obj


def _int_field(obj: dict[str, Any], name: str) -> int:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"field '{name}' must be an integer")
    return value


def decode_telemetry(topic_device: str, payload: bytes, now_ms: int | None = None) -> TelemetryBatch:
    obj = _load_object(payload)
    device_id = obj.get("device_id")
    if device_id != topic_device:
        raise PayloadError("device_id does not match topic")
    seq = _int_field(obj, "seq")
    if seq < 0 or seq > 2**62:
        raise PayloadError("seq out of range")
    raw_samples = obj.get("samples")
    if not isinstance(raw_samples, list) or not raw_samples:
        raise PayloadError("samples must be a non-empty list")
    fast = _fast_samples(raw_samples, now_ms)
    if fast is not None:
        return TelemetryBatch(device_id=device_id, seq=seq, samples=fast)
    samples: list[Sample] = []
    readings = 0
    for raw in raw_samples:
        if not isinstance(raw, dict):
            raise PayloadError("sample is not an object")
        t_ms = raw.get("t")
        if type(t_ms) is not int:  # bools and everything else get _int_field's error
            t_ms = _int_field(raw, "t")
        if t_ms < MIN_TS_MS:
            raise PayloadError("sample timestamp before 2000")
        if now_ms is not None and t_ms > now_ms + MAX_FUTURE_MS:
            raise PayloadError("sample timestamp in the future")
        values = raw.get("m")
        if not isinstance(values, dict) or not values:
            raise PayloadError("sample 'm' must be a non-empty object")
        pairs = _fast_pairs(values)
        if pairs is None:
            pairs = _checked_pairs(values)
        readings += len(pairs)
        if readings > MAX_READINGS_PER_MESSAGE:
            raise PayloadError("too many readings in one message")
        samples.append(Sample(t_ms=t_ms, values=tuple(pairs)))
    return TelemetryBatch(device_id=device_id, seq=seq, samples=tuple(samples))


def _fast_samples(raw_samples: list[Any], now_ms: int | None) -> tuple[Sample, ...] | None:
    """The whole batch checked with C-level map/set/all calls, no Python code per sample or reading.

    Accepts only what the checked per-sample loop would accept with the same result (dict samples, int ``t`` in
    range, non-empty ``m`` of known signal names with finite float values, reading limit); anything else returns
    None and the loop below runs, so error reasons and their order are unchanged. Why: the per-sample loop was the
    largest entry of the ingest worker's profile once the COPY rows stopped being built per reading.
    """
    if set(map(type, raw_samples)) != _DICT_ONLY:
        return None
    stamps: list[Any] = list(map(dict.get, raw_samples, repeat("t")))
    if set(map(type, stamps)) != _INT_ONLY or min(stamps) < MIN_TS_MS:
        return None
    if now_ms is not None and max(stamps) > now_ms + MAX_FUTURE_MS:
        return None
    measures: list[Any] = list(map(dict.get, raw_samples, repeat("m")))
    if set(map(type, measures)) != _DICT_ONLY or not all(map(len, measures)):
        return None
    if not all(map(_known_signals.issuperset, measures)):
        return None
    values = list(chain.from_iterable(map(dict.values, measures)))
    if len(values) > MAX_READINGS_PER_MESSAGE or set(map(type, values)) != _FLOAT_ONLY:
        return None
    if not all(map(math.isfinite, values)):
        return None
    return tuple(map(Sample, stamps, map(tuple, map(dict.items, measures))))


def _fast_pairs(values: dict[str, Any]) -> tuple[tuple[str, float], ...] | None:
    """The common case in C-level calls: known names, finite float values. None = take the checked path."""
    if not values.keys() <= _known_signals:
        return None
    vals = values.values()
    if all(type(v) is float for v in vals) and all(map(math.isfinite, vals)):
        return tuple(values.items())
    return None


def _checked_pairs(values: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    """Every name and value checked in order, so the first problem is the one reported."""
    pairs: list[tuple[str, float]] = []
    for name, value in values.items():
        if not isinstance(name, str) or not _SIGNAL_RE.match(name):
            raise PayloadError("invalid signal name")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PayloadError(f"signal '{name}' value is not a number")
        fvalue = float(value)
        if not math.isfinite(fvalue):
            raise PayloadError(f"signal '{name}' value is not finite")
        pairs.append((name, fvalue))
    if len(_known_signals) < _KNOWN_SIGNALS_MAX:
        _known_signals.update(name for name, _ in pairs)
    return tuple(pairs)


def decode_status(topic_device: str, payload: bytes) -> StatusMessage:
    obj = _load_object(payload)
    state = obj.get("state")
    if state not in ("online", "offline"):
        raise PayloadError("status state must be 'online' or 'offline'")
    t = obj.get("t")
    t_ms = t if isinstance(t, int) and not isinstance(t, bool) else None
    return StatusMessage(device_id=topic_device, online=state == "online", t_ms=t_ms)


def decode_command_result(topic_device: str, payload: bytes) -> CommandResult:
    obj = _load_object(payload)
    cid = obj.get("id")
    if not isinstance(cid, str) or not cid:
        raise PayloadError("command result without id")
    result = obj.get("result")
    t = obj.get("t")
    return CommandResult(
        device_id=topic_device,
        command_id=cid,
        ok=bool(obj.get("ok")),
        result=result if isinstance(result, dict) else {},
        t_ms=t if isinstance(t, int) and not isinstance(t, bool) else None,
    )


def decode_event(topic_device: str, payload: bytes, now_ms: int | None = None) -> EventMessage:
    obj = _load_object(payload)
    seq = _int_field(obj, "seq")
    if seq < 0 or seq > 2**62:
        raise PayloadError("seq out of range")
    t_ms = _int_field(obj, "t")
    if t_ms < MIN_TS_MS:
        raise PayloadError("event timestamp before 2000")
    if now_ms is not None and t_ms > now_ms + MAX_FUTURE_MS:
        raise PayloadError("event timestamp in the future")
    kind = obj.get("kind")
    if not isinstance(kind, str) or not _EVENT_KIND_RE.match(kind):
        raise PayloadError("event kind must match [a-z0-9_]{1,48}")
    data = obj.get("data", {})
    if not isinstance(data, dict):
        raise PayloadError("event 'data' must be an object")
    if len(json.dumps(data)) > MAX_EVENT_DATA_BYTES:
        raise PayloadError(f"event 'data' larger than {MAX_EVENT_DATA_BYTES} bytes")
    return EventMessage(device_id=topic_device, seq=seq, t_ms=t_ms, kind=kind, data=data)


def peek_seq(topic_device: str, payload: bytes) -> int | None:
    """The seq of a message that failed validation, if it still names one for this device.

    Why: a dead-lettered batch is stored (in the dead-letter table) just as durably as a good one, so the device
    is acknowledged for it too; otherwise it would resend a batch the server can never accept until its buffer
    dropped it. None when the payload is too broken to name a seq.
    """
    try:
        obj = _load_object(payload)
    except PayloadError:
        return None
    seq = obj.get("seq")
    if obj.get("device_id", topic_device) != topic_device or isinstance(seq, bool) or not isinstance(seq, int):
        return None
    return seq if 0 <= seq <= 2**62 else None


def encode_acks(seqs: list[int], t_ms: int) -> list[bytes]:
    """End-to-end acknowledgements for one device: the seqs whose effects are committed, ascending, in messages
    of at most ACK_MAX_SEQS seqs each. Published on ``qf/v1/{device}/ack`` (docs/contracts.md)."""
    ordered = sorted(set(seqs))
    return [json.dumps({"v": SCHEMA_VERSION, "seqs": ordered[i:i + ACK_MAX_SEQS], "t": int(t_ms)},
                       separators=(",", ":")).encode()
            for i in range(0, len(ordered), ACK_MAX_SEQS)]


def encode_command(command_id: str, cmd: str, args: dict[str, Any], issued_at_ms: int, expires_at_ms: int,
                   issued_by: str) -> bytes:
    return json.dumps({"v": SCHEMA_VERSION, "id": command_id, "cmd": cmd, "args": args,
                       "issued_at": issued_at_ms, "expires_at": expires_at_ms,
                       "issued_by": issued_by}).encode()
