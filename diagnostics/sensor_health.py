"""Detectors for broken sensors rather than broken equipment: stuck, spike, dropout, out of range.

They matter because a sensor fault must never dispatch a mechanic: it is fixed by a recalibration or a
reset, and it would otherwise fire every process detector on that signal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

import numpy as np

from diagnostics.detectors import EPS, MAD_TO_SIGMA, Condition, _value


class StuckDetector:
    """Same reading (within ``tolerance``) for at least ``min_duration_s`` on a signal that normally moves."""

    def __init__(self, signal: str, *, min_duration_s: float = 120.0, tolerance: float = 1e-9,
                 min_samples: int = 5, ignore_zero: bool = True) -> None:
        self.name = f"stuck:{signal}"
        self.signal, self.min_duration_s, self.tol, self.min_samples = signal, min_duration_s, tolerance, min_samples
        self._ref: float | None = None
        self._since = 0.0
        self._count = 0
        self.ignore_zero = ignore_zero  # a tripped/stopped machine reads exactly 0: that is not a stuck sensor

    def step(self, t: float, values: Mapping[str, float]) -> list[Condition]:
        v = _value(values, self.signal)
        if v is None:
            return []
        if self._ref is None or abs(v - self._ref) > self.tol or (self.ignore_zero and v == 0.0):
            self._ref, self._since, self._count = v, t, 1
            return []
        self._count += 1
        held = t - self._since
        if held >= self.min_duration_s and self._count >= self.min_samples:
            return [Condition("stuck", (self.signal,), 2, self._since, held / self.min_duration_s,
                              {"value": v, "held_s": held, "samples": self._count})]
        return []


class SpikeDetector:
    """Isolated outliers: a sample far from the rolling median that is *not* followed by a level shift.

    A spike is confirmed only when the signal returns within ``max_len`` samples, so a genuine step
    (a trip) is left to the process detectors. The condition stays active for ``hold_s`` so the classifier
    and incident logic see it.
    """

    def __init__(self, signal: str, *, window: int = 60, z_limit: float = 8.0, max_len: int = 2,
                 hold_s: float = 600.0) -> None:
        self.name = f"spike:{signal}"
        self.signal, self.z_limit, self.max_len, self.hold_s = signal, z_limit, max_len, hold_s
        self._buf: deque[float] = deque(maxlen=window)
        self._pending: list[tuple[float, float, float]] = []
        self._last: tuple[float, float, float, int] | None = None  # (at, value, z, count)

    def step(self, t: float, values: Mapping[str, float]) -> list[Condition]:
        v = _value(values, self.signal)
        if v is not None:
            if len(self._buf) >= 10:
                arr = np.fromiter(self._buf, float)
                med = float(np.median(arr))
                sigma = max(float(np.median(np.abs(arr - med))) * MAD_TO_SIGMA, EPS, 1e-6 * abs(med))
                z = (v - med) / sigma
                if abs(z) > self.z_limit:
                    self._pending.append((t, v, z))
                    if len(self._pending) > self.max_len:  # a level shift, not a spike
                        self._buf.extend(p[1] for p in self._pending)
                        self._pending = []
                else:
                    if self._pending:
                        at, val, zz = max(self._pending, key=lambda p: abs(p[2]))
                        count = (self._last[3] if self._last else 0) + 1
                        self._last = (at, val, zz, count)
                        self._pending = []
                    self._buf.append(v)
            else:
                self._buf.append(v)
        if self._last is not None and t - self._last[0] <= self.hold_s:
            at, val, z, count = self._last
            return [Condition("spike", (self.signal,), 1, at, abs(z) / self.z_limit,
                              {"value": val, "robust_z": z, "count": count})]
        if self._last is not None:
            self._last = None
        return []


class RangeDetector:
    """Physically impossible readings (negative pressure, 500 degC pump motor): immediate, no duration."""

    def __init__(self, signal: str, *, low: float, high: float) -> None:
        self.name = f"range:{signal}"
        self.signal, self.low, self.high = signal, low, high
        self._since: float | None = None

    def step(self, t: float, values: Mapping[str, float]) -> list[Condition]:
        v = _value(values, self.signal)
        if v is None or self.low <= v <= self.high:
            self._since = None
            return []
        if self._since is None:
            self._since = t
        return [Condition("out_of_range", (self.signal,), 2, self._since, 1.0,
                          {"value": v, "range": [self.low, self.high]})]


class DropoutDetector:
    """A signal missing (absent or NaN) from a device's samples for more than ``gap_s``."""

    def __init__(self, signal: str, *, gap_s: float = 120.0) -> None:
        self.name = f"dropout:{signal}"
        self.signal, self.gap_s = signal, gap_s
        self._seen: float | None = None
        self._first: float | None = None

    def step(self, t: float, values: Mapping[str, float]) -> list[Condition]:
        if self._first is None:
            self._first = t
        if _value(values, self.signal) is not None:
            self._seen = t
            return []
        last = self._seen if self._seen is not None else self._first
        if t - last > self.gap_s:
            return [Condition("dropout", (self.signal,), 1, last, (t - last) / self.gap_s,
                              {"last_seen": self._seen, "missing_s": t - last})]
        return []
