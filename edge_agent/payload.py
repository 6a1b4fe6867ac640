"""Wire encoding of the edge side, schema v1 (see docs/contracts.md).

edge_agent must not import quietfix.core, so it carries its own encoder; tests pin it to the contract text.
Pure functions only: no clock, no I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from edge_agent.models import Command, CommandResult

SCHEMA_VERSION = 1
TOPIC_ROOT = "qf/v1"
MAX_READINGS_PER_MESSAGE = 10_000  # contract limit per telemetry message
MAX_PAYLOAD_BYTES = 256 * 1024  # contract limit per telemetry message
_SIGNAL_RE = re.compile(r"[a-z0-9_]{1,48}")
_valid_names: set[str] = set()  # names already checked: the regex per reading was a top profile entry

Sample = tuple[int, Mapping[str, float]]  # (device time in epoch ms, signal -> value)


def topic(device_id: str, leaf: str) -> str:
    """``qf/v1/{device_id}/{leaf}`` with leaf one of telemetry, status, event, cmd, cmd/result, ack."""
    return f"{TOPIC_ROOT}/{device_id}/{leaf}"


def _dumps(obj: Any) -> bytes:
    # Compact separators: the payload is what crosses the network thousands of times a second.
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def encode_batch(device_id: str, seq: int, samples: Sequence[Sample]) -> bytes:
    """A telemetry batch. Non-finite values (and samples left empty) are dropped: the contract allows finite
    floats only, and one bad reading must not cost the whole batch."""
    if seq < 0:
        raise ValueError("seq must be >= 0")
    out = []
    readings = 0
    for t_ms, m in samples:
        if not m.keys() <= _valid_names:
            for name in m:
                if not _SIGNAL_RE.fullmatch(name):
                    raise ValueError(f"invalid signal name {name!r}")
                _valid_names.add(name)
        values = m.values()
        if all(type(x) is float for x in values) and all(map(math.isfinite, values)):
            vals = m  # fast path: already finite floats
        else:
            vals = {}
            for name, value in m.items():
                f = float(value)
                if math.isfinite(f):
                    vals[name] = f
        if vals:  # the contract requires a non-empty 'm'
            readings += len(vals)
            out.append({"t": int(t_ms), "m": vals})
    if not out:
        raise ValueError("a batch needs at least one sample with a finite value")
    if readings > MAX_READINGS_PER_MESSAGE:
        raise ValueError(f"{readings} readings exceed the per-message limit")
    body = _dumps({"v": SCHEMA_VERSION, "device_id": device_id, "seq": seq, "samples": out})
    if len(body) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of {len(body)} bytes exceeds the limit")
    return body


def encode_event(seq: int, t_ms: int, kind: str, data: Mapping[str, Any]) -> bytes:
    """A device event; ``seq`` comes from the same counter as telemetry, so the server dedups and acks it alike."""
    if seq < 0:
        raise ValueError("seq must be >= 0")
    if not _SIGNAL_RE.fullmatch(kind):
        raise ValueError(f"invalid event kind {kind!r}")
    return _dumps({"v": SCHEMA_VERSION, "seq": seq, "t": int(t_ms), "kind": kind, "data": dict(data)})


def decode_ack(payload: bytes) -> list[int]:
    """The seqs of an end-to-end ack from ingest (``qf/v1/{id}/ack``); ValueError on anything else."""
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("v") != SCHEMA_VERSION:
        raise ValueError("not a v1 ack")
    seqs = obj.get("seqs")
    if not isinstance(seqs, list) or not all(type(s) is int and s >= 0 for s in seqs):
        raise ValueError("ack needs 'seqs': a list of non-negative integers")
    return seqs


def encode_status(state: str, t_ms: int | None = None) -> bytes:
    """Retained status; the last-will form has no ``t`` because it is composed at connect time."""
    if state not in ("online", "offline"):
        raise ValueError(f"bad state {state!r}")
    obj: dict[str, Any] = {"v": SCHEMA_VERSION, "state": state}
    if t_ms is not None:
        obj["t"] = int(t_ms)
    return _dumps(obj)


def encode_cmd_result(res: CommandResult, t_ms: int) -> bytes:
    return _dumps({"v": SCHEMA_VERSION, "id": res.id, "ok": res.ok, "result": res.result, "t": int(t_ms)})


def decode_command(payload: bytes) -> Command:
    """Parse a cmd payload; raises ValueError on anything that is not a v1 command."""
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("v") != SCHEMA_VERSION:
        raise ValueError("not a v1 command")
    cid, cmd, args = obj.get("id"), obj.get("cmd"), obj.get("args", {})
    if not isinstance(cid, str) or not cid or not isinstance(cmd, str) or not isinstance(args, dict):
        raise ValueError("command needs string id, string cmd and object args")
    issued_at, expires_at = obj.get("issued_at", 0), obj.get("expires_at", 0)
    if not isinstance(issued_at, int) or not isinstance(expires_at, int):
        raise ValueError("issued_at/expires_at must be integer epoch ms")  # noqa: TRY004 - one error type per bad payload
    return Command(
        id=cid,
        cmd=cmd,
        args=args,
        issued_at=issued_at,
        expires_at=expires_at,
        issued_by=str(obj.get("issued_by", "")),
    )
