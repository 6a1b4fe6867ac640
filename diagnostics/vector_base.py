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
