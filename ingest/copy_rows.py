"""PostgreSQL binary COPY data for ``telemetry_samples`` rows, built per batch. Pure: no I/O.

Why hand-built: one row per sample is ``(device_id text, ts timestamptz, signals text[], readings float8[],
batch_id int8)``.
Within a batch the device and (normally) the signal names are the same for every sample, so their encoded bytes
are computed once and only the timestamp and the values change. A whole batch is packed by ONE ``struct`` call
whose argument list is filled with C-level slice assignments (one per signal column), so there is no Python code
per reading and none per sample on the common path. psycopg's ``write_row`` would re-encode the device id, the
name array and every float per row in Python-level adapters (the previous per-reading ``write_row`` path was a
visible share of worker CPU).

Format reference: PostgreSQL "COPY ... (FORMAT BINARY)" (file header, per tuple an int16 field count then per
field an int32 length and the type's binary ``send`` representation, int16 -1 trailer); arrays use
``array_send``: ndim, has-null flag, element type OID, then per dimension (length, lower bound), then elements
as (int32 length, bytes).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter

from core.contracts import Sample

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # signature, flags, ext. length
TRAILER = b"\xff\xff"
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in µs since the Unix epoch: timestamptz's zero
TEXT_OID = 25
FLOAT8_OID = 701
FIELDS = 5  # device_id, ts, signals, readings, batch_id: the column list of ingest's COPY statement

_NAME = itemgetter(0)
_VALUE = itemgetter(1)
_I4 = struct.Struct(">i")


@dataclass(frozen=True, slots=True)
class BatchRows:
    """One batch as COPY tuples, plus what ingest needs beside the rows."""

    data: bytes  # tuples only: no file header, no trailer (``SIGNATURE`` + batches + ``TRAILER`` is a file)
    rows: int  # samples
    readings: int  # signal values
    newest: tuple[tuple[str, int, float], ...]  # (signal, t_ms, value): the newest value of each signal


def _field(payload: bytes) -> bytes:
    return _I4.pack(len(payload)) + payload


def text_array(names: Sequence[str]) -> bytes:
    """``array_send`` of a one-dimensional text[] without NULLs."""
    out = [struct.pack(">iiiii", 1, 0, TEXT_OID, len(names), 1)]
    for name in names:
        out.append(_field(name.encode()))
    return b"".join(out)


@lru_cache(maxsize=8192)
def _parts(device_id: str, names: tuple[str, ...]) -> tuple[bytes, bytes]:
    """The constant bytes around a row's timestamp: (field count + device + ts length, names + values header)."""
    n = len(names)
    head = struct.pack(">h", FIELDS) + _field(device_id.encode()) + _I4.pack(8)
    mid = (_field(text_array(names)) + _I4.pack(20 + 12 * n)
           + struct.pack(">iiiii", 1, 0, FLOAT8_OID, n, 1))
    return head, mid


@lru_cache(maxsize=512)
def _packer(head_len: int, mid_len: int, n: int, samples: int) -> tuple[struct.Struct, list[object]]:
    """A Struct for ``samples`` rows of ``n`` values and an argument template
    (head, ts, mid, 8, v, 8, v, ..., 8, batch_id)."""
    row = f"{head_len}sq{mid_len}s" + "id" * n + "iq"
    template: list[object] = ([b"", 0, b""] + [8, 0.0] * n + [8, 0]) * samples
    return struct.Struct(">" + row * samples), template


def encode_rows(device_id: str, samples: Sequence[Sample], batch_id: int = 0) -> BatchRows:
    """COPY tuples for one batch's samples, in sample order (one device: consecutive index entries).

    ``batch_id`` (``ingest_batches.id``) goes into every row: diagnose reads a batch's samples by it."""
    names = tuple(map(_NAME, samples[0].values))
    if all(tuple(map(_NAME, s.values)) == names for s in samples):
        return _encode_uniform(device_id, names, samples, batch_id)
    return _encode_general(device_id, samples, batch_id)


def _encode_uniform(device_id: str, names: tuple[str, ...], samples: Sequence[Sample],
                    batch_id: int) -> BatchRows:
    n, count = len(names), len(samples)
    head, mid = _parts(device_id, names)
    packer, template = _packer(len(head), len(mid), n, count)
    args = template.copy()
    stride = 5 + 2 * n
    args[stride - 1::stride] = [batch_id] * count
    args[0::stride] = [head] * count
    t_list = [s.t_ms for s in samples]
    args[1::stride] = [t * 1000 - PG_EPOCH_US for t in t_list]
    args[2::stride] = [mid] * count
    columns = list(zip(*[tuple(map(_VALUE, s.values)) for s in samples]))
    for j, column in enumerate(columns):
        args[4 + 2 * j::stride] = column
    t_max = max(t_list)
    at = t_list.index(t_max)  # the first sample with the newest time wins, as in the general path
    newest = tuple((name, t_max, column[at]) for name, column in zip(names, columns))
    return BatchRows(packer.pack(*args), count, n * count, newest)


def _encode_general(device_id: str, samples: Sequence[Sample], batch_id: int) -> BatchRows:
    """Samples with differing signal sets: one Struct call per sample; newest value folded per reading."""
    out: list[bytes] = []
    newest: dict[str, tuple[int, float]] = {}
    readings = 0
    for s in samples:
        names = tuple(map(_NAME, s.values))
        values = tuple(map(_VALUE, s.values))
        head, mid = _parts(device_id, names)
        packer, template = _packer(len(head), len(mid), len(names), 1)
        args = template.copy()
        args[0], args[1], args[2] = head, s.t_ms * 1000 - PG_EPOCH_US, mid
        args[4:4 + 2 * len(values):2] = values
        args[-1] = batch_id
        out.append(packer.pack(*args))
        readings += len(names)
        for name, value in s.values:
            prev = newest.get(name)
            if prev is None or prev[0] < s.t_ms:
                newest[name] = (s.t_ms, value)
    return BatchRows(b"".join(out), len(samples), readings,
                     tuple((name, t, v) for name, (t, v) in newest.items()))
