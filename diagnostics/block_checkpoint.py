"""Compact detector checkpoints: a device's row of a :class:`BlockMonitor` packed as float64 bytes.

Why: the scalar checkpoint (export the row into a DeviceMonitor, walk it into JSON, store ~20 kB of jsonb) cost
~1.5 ms of Python per device; at 20,000 devices checkpointed once a minute that is half a core, and it was the
largest cost of a diagnose pass (issue #17 profile). Here the rows of every due device of a block are gathered
with one numpy indexing per state array, so a checkpoint is a ``tobytes`` and a few small JSON values.

Format 2 (``state["format"] == 2``, bytes in ``detector_state.blob``): per vectorised detector, its state arrays in
declaration order (``Arrays.layout``), then the block's own per-row arrays (findings' active/severity/start/
reported/order per key, last time and values, the open wear bucket). ``state["widths"]`` says how many values
each part has: only a rate detector's ring varies (it doubles when a block sees more samples per window), so its
ring is written sorted by time and re-laid into whatever ring the loading block has. Python-object state (a
silence finding, findings restored from an old checkpoint and not re-evaluated yet, the model detector's stale
conditions, closed wear buckets) stays JSON through :mod:`diagnostics.checkpoint`'s codec.

The fingerprint hashes the layout (detector classes, field names, fixed shapes, keys, signals) with the config
and model version: a snapshot whose layout no longer fits the code is discarded and the detectors relearn, as
for the scalar format. Scalar (format 1) checkpoints are still restored by diagnostics/checkpoint.py.

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from diagnostics import checkpoint
from diagnostics.block import BlockMonitor
from diagnostics.vector_base import NAN, Arrays
from diagnostics.vector_detectors import VRate

FORMAT = 2
RING = frozenset({"bt", "bv", "head"})  # VRate's ring: written sorted by time, ``head`` implied by the count
DTYPE = np.dtype("<f8")


def _layout(v: Arrays) -> list[Any]:
    if isinstance(v, VRate):
        return ["ring", *[f for f in v.layout() if f[0] not in RING]]
    return list(v.layout())


def fingerprint(blk: BlockMonitor) -> str:
    """What a packed row means for this block: layout, keys, signals, config and model version."""
    doc = [FORMAT, blk.equipment_type, list(blk.cols), [k[2] for k in blk.keys], blk.wsig,
           [[type(v).__name__, _layout(v)] for v in blk.vdets], blk.cfg,
           blk.model.version if blk.model is not None else None]
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _pack_det(v: Arrays, rows: np.ndarray) -> np.ndarray:
    if isinstance(v, VRate):
        bt, bv = v.bt[rows], v.bv[rows]
        order = np.argsort(np.where(np.isnan(bt), np.inf, bt), axis=1, kind="stable")
        bt, bv = np.take_along_axis(bt, order, 1), np.take_along_axis(bv, order, 1)
        return np.hstack([bt, np.where(np.isnan(bt), NAN, bv), v.pack(rows, RING)])
    return v.pack(rows)


def _unpack_det(v: Arrays, rows: np.ndarray, seg: np.ndarray) -> None:
    if not isinstance(v, VRate):
        if v.unpack(rows, seg) != seg.shape[1]:
            raise ValueError(f"packed row of {type(v).__name__} has the wrong width")
        return
    fixed = sum(int(np.prod(shape)) if shape else 1 for name, shape, _ in v.layout() if name not in RING)
    ring, odd = divmod(seg.shape[1] - fixed, 2)
    if ring < 1 or odd:
        raise ValueError("packed rate ring has the wrong width")
    bt, bv = seg[:, :ring], seg[:, ring: 2 * ring]
    valid = ~np.isnan(bt)
    c = valid.sum(axis=1)
    if (valid != (np.arange(ring)[None, :] < c[:, None])).any():
        raise ValueError("packed rate ring is not sorted")
    while int(c.max()) >= v.ring:  # as VRate.load: the ring always has a free slot for the next sample
        v._widen()
    w = min(ring, v.ring)  # every valid entry is within the first c < v.ring columns
    v.bt[rows], v.bv[rows] = NAN, NAN
    v.bt[rows, :w], v.bv[rows, :w] = bt[:, :w], np.where(valid[:, :w], bv[:, :w], NAN)
    v.head[rows] = c % v.ring
    v.unpack(rows, seg[:, 2 * ring:], RING)


def pack(blk: BlockMonitor, device_ids: Sequence[str]) -> list[tuple[bytes, dict[str, Any]]]:
    """Each device's (blob, JSON part), in ``device_ids`` order; one numpy gather per state array for all."""
    if not device_ids:
        return []
    rows = np.array([blk.rows[d] for d in device_ids], dtype=np.int64)
    parts = [_pack_det(v, rows) for v in blk.vdets]
    own = np.hstack([blk.kact[:, rows].T, blk.ksev[:, rows].T, blk.kstart[:, rows].T, blk.kat[:, rows].T,
                     (blk.kseq[:, rows] - blk.seq).T,  # order relative to the block's counter (< 0)
                     blk.last_t[rows][:, None], blk.lastv[rows], blk.wb[rows], blk.wsum[rows], blk.wn[rows],
                     blk.wfirst[rows][:, None]]).astype(DTYPE)
    parts.append(own)
    widths = [p.shape[1] for p in parts]
    mat = np.ascontiguousarray(np.hstack(parts), dtype=DTYPE)
    out = []
    for j, i in enumerate(rows.tolist()):
        extra: dict[str, Any] = {"format": FORMAT, "widths": widths}
        if i in blk.silent:
            extra["silent"] = checkpoint.encode(blk.silent[i])
        if i in blk.restored:
            extra["restored"] = checkpoint.encode(blk.restored[i])
        if blk.vmodel is not None and i in blk.vmodel.stale:
            extra["stale"] = checkpoint.encode(blk.vmodel.stale[i])
        if blk.wclosed.get(i):
            extra["wclosed"] = {s: [list(r) for r in rs] for s, rs in blk.wclosed[i].items()}
        out.append((mat[j].tobytes(), extra))
    return out


def unpack(blk: BlockMonitor, items: Sequence[tuple[str, bytes, Mapping[str, Any]]]) -> list[str]:
    """Restore devices' rows from ``pack``'s output, as (device, blob, JSON part); vectorised over the devices
    that share a layout (a hand-over restores thousands at once). Each device gets a row if it has none. Returns
    the devices restored; one whose checkpoint does not fit is left out (its row is whatever it was: the caller
    gives it a fresh one)."""
    groups: dict[tuple[int, ...], list[tuple[str, bytes, Mapping[str, Any]]]] = {}
    for device_id, blob, extra in items:
        try:
            widths = tuple(int(w) for w in extra["widths"])
        except (KeyError, TypeError, ValueError):
            continue
        if extra.get("format") == FORMAT and len(widths) == len(blk.vdets) + 1 and sum(widths) * 8 == len(blob):
            groups.setdefault(widths, []).append((device_id, blob, extra))
    done: list[str] = []
    for widths, group in groups.items():
        try:
            _unpack_group(blk, widths, group)
        except (ValueError, KeyError, TypeError, IndexError):
            continue
        done += [d for d, _, _ in group]
    return done


def _unpack_group(blk: BlockMonitor, widths: tuple[int, ...],
                  group: Sequence[tuple[str, bytes, Mapping[str, Any]]]) -> None:
    k, nc, nw = len(blk.keys), len(blk.cols), len(blk.wsig)
    if widths[-1] != 5 * k + 2 + nc + 3 * nw:
        raise ValueError("packed block row has the wrong width")
    mat = np.frombuffer(b"".join(b for _, b, _ in group), dtype=DTYPE).reshape(len(group), sum(widths))
    decoded = [_decode_extra(blk, x) for _, _, x in group]  # before any row is touched: may raise
    rows = np.array([blk.add(d) for d, _, _ in group], dtype=np.int64)
    pos = 0
    for v, w in zip(blk.vdets, widths, strict=False):
        _unpack_det(v, rows, mat[:, pos: pos + w])
        pos += w
    own = mat[:, pos:]
    blk.kact[:, rows] = own[:, :k].T.astype(bool)
    blk.ksev[:, rows] = own[:, k: 2 * k].T.astype(np.int64)
    blk.kstart[:, rows], blk.kat[:, rows] = own[:, 2 * k: 3 * k].T, own[:, 3 * k: 4 * k].T
    blk.kseq[:, rows] = blk.seq + own[:, 4 * k: 5 * k].T.astype(np.int64)  # before anything activating later
    p = 5 * k
    blk.last_t[rows] = own[:, p]
    blk.lastv[rows] = own[:, p + 1: p + 1 + nc]
    p += 1 + nc
    blk.wb[rows], blk.wsum[rows], blk.wn[rows] = own[:, p: p + nw], own[:, p + nw: p + 2 * nw], \
        own[:, p + 2 * nw: p + 3 * nw]
    blk.wfirst[rows] = own[:, p + 3 * nw]
    for i, (silent, restored, stale, wclosed) in zip(rows.tolist(), decoded, strict=True):
        blk.silent.pop(i, None)
        blk.restored.pop(i, None)
        if silent is not None:
            blk.silent[i] = silent
        if restored is not None:
            blk.restored[i] = restored
        blk.is_over[i] = i in blk.silent or i in blk.restored
        if blk.vmodel is not None:
            blk.vmodel.stale.pop(i, None)
            if stale is not None:
                blk.vmodel.stale[i] = stale
        blk.wclosed.pop(i, None)
        if wclosed is not None:
            blk.wclosed[i] = wclosed


def _decode_extra(blk: BlockMonitor, extra: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
    silent = checkpoint.decode(extra["silent"]) if "silent" in extra else None
    restored = checkpoint.decode(extra["restored"]) if "restored" in extra else None
    stale = checkpoint.decode(extra["stale"]) if "stale" in extra and blk.vmodel is not None else None
    wclosed = {str(s): [[float(x) for x in r] for r in rs] for s, rs in extra["wclosed"].items()} \
        if "wclosed" in extra else None
    return silent, restored, stale, wclosed
