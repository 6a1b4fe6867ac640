"""Building blocks of the vectorised detectors: per-device state arrays and the latch/CUSUM steps on them.

Why arrays indexed by device: diagnose feeds a whole fleet, and a Python state machine per sample per signal cost
~40 us a sample. Each vectorised detector mirrors one scalar detector (diagnostics/detectors.py,
sensor_health.py, monitor.py) field by field, with ``None`` stored as NaN, so one numpy update advances every
device of a block by one sample and ``load``/``export`` convert a row to and from the scalar object exactly (the
scalar objects stay the checkpoint format and the reference the equivalence tests compare against).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

NAN = float("nan")


class Arrays:
    """Named state arrays whose first axis is the device row; grown together, reset row by row."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._fields: dict[str, tuple[tuple[int, ...], Any, Any]] = {}

    if TYPE_CHECKING:  # state arrays are set by name in field(); to the type checker any attribute is one
        def __getattr__(self, name: str) -> np.ndarray: ...

    def field(self, name: str, init: Any = NAN, shape: tuple[int, ...] = (), dtype: Any = float) -> None:
        self._fields[name] = (shape, dtype, init)
        setattr(self, name, np.full((self._cap, *shape), init, dtype=dtype))

    def grow(self, cap: int) -> None:
        """Room for ``cap`` device rows; new rows start as a fresh detector."""
        for name, (shape, dtype, init) in self._fields.items():
            old = getattr(self, name)
            new = np.full((cap, *shape), init, dtype=dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)
        self._cap = cap

    def reset(self, i: int) -> None:
        """Row ``i`` back to a freshly built detector's state."""
        for name, (_shape, _dtype, init) in self._fields.items():
            getattr(self, name)[i] = init

    # --- compact checkpoints (diagnostics/block_checkpoint.py) ------------------------------------------------

    def layout(self) -> list[tuple[str, tuple[int, ...], str]]:
        """Field names, shapes and dtypes in declaration order: what a packed row means (part of its fingerprint)."""
        return [(name, shape, np.dtype(dtype).str) for name, (shape, dtype, _init) in self._fields.items()]

    def pack(self, rows: np.ndarray, skip: frozenset[str] = frozenset()) -> np.ndarray:
        """The rows' state as one float64 matrix (rows x width), fields in declaration order. float64 holds the
        bool and int64 fields exactly (counters and indices stay far below 2**53)."""
        parts = [getattr(self, name)[rows].reshape(len(rows), -1).astype(float) for name in self._fields
                 if name not in skip]
        return np.hstack(parts) if parts else np.zeros((len(rows), 0))

    def unpack(self, rows: np.ndarray, mat: np.ndarray, skip: frozenset[str] = frozenset()) -> int:
        """Write packed rows (``pack``'s layout, one per entry of ``rows``) back; returns the width it read."""
        pos = 0
        n = len(rows)
        for name, (shape, dtype, _init) in self._fields.items():
            if name in skip:
                continue
            w = int(np.prod(shape)) if shape else 1
            seg = mat[:, pos: pos + w]
            if seg.shape[1] != w:
                raise ValueError(f"packed row too short for {type(self).__name__}.{name}")
            getattr(self, name)[rows] = seg.reshape((n, *shape)).astype(dtype)
            pos += w
        return pos


def opt(x: float) -> float | None:
    """A stored optional float (NaN = None) as the scalar detectors hold it."""
    x = float(x)
    return None if math.isnan(x) else x


def since_or_t(since: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``since or t`` of the scalar code: None and 0.0 both fall back to ``t``."""
    return np.where(np.isnan(since) | (since == 0.0), t, since)


def hold_update(since: np.ndarray, act: np.ndarray, ix: np.ndarray, t: np.ndarray, tripped: np.ndarray,
                cleared: np.ndarray, min_duration_s: float) -> np.ndarray:
    """Vectorised ``detectors._Hold.update`` for rows ``ix``; returns the rows' new active flags."""
    a = act[ix]
    s = since[ix]
    na = ~a
    s = np.where(na & tripped & np.isnan(s), t, s)
    s = np.where(na & ~tripped, NAN, s)
    becomes = na & tripped & (t - s >= min_duration_s)
    new = (a & ~cleared) | becomes
    act[ix] = new
    since[ix] = np.where(a & cleared, NAN, s)
    return new


def hold_load(since: np.ndarray, act: np.ndarray, i: int, hold: Any) -> None:
    since[i] = NAN if hold.since is None else hold.since
    act[i] = bool(hold.active)


def hold_export(since: np.ndarray, act: np.ndarray, i: int, hold: Any) -> None:
    hold.since, hold.active = opt(since[i]), bool(act[i])


def cusum_update(s: np.ndarray, alarm: np.ndarray, ix: np.ndarray, z: np.ndarray, k: float, h: float,
                 clear: float) -> np.ndarray:
    """Vectorised ``detectors.Cusum.step`` for rows ``ix``: the sum when alarmed, else 0."""
    new = np.maximum(0.0, s[ix] + z - k)
    al = alarm[ix]
    al = np.where(al, ~(new <= clear * h), new > h)
    s[ix], alarm[ix] = new, al
    return np.where(al, new, 0.0)


def severity_from_score(score: np.ndarray) -> np.ndarray:
    """Vectorised ``detectors.severity_from_score``."""
    return np.where(score >= 4, 3, np.where(score >= 2, 2, 1))
