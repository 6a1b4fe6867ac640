"""Detectors for broken sensors rather than broken equipment: stuck, spike, dropout, out of range.

They matter because a sensor fault must never dispatch a mechanic: it is fixed by a recalibration or a
reset, and it would otherwise fire every process detector on that signal.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Mapping

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


def _median_sorted(s: list[float]) -> float:
    """Median of an already sorted list, bit-identical to ``np.median`` (mean of the two middles when even)."""
    n = len(s)
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2


RETURN_SHARE = 0.5  # a spike has ended when the signal is back within this share of the z limit


class SpikeDetector:
    """Isolated outliers: a sample far from the rolling median that is *not* followed by a level shift.

    A spike is confirmed only when the signal returns within ``max_len`` samples, so a genuine step
    (a trip) is left to the process detectors. "Returns" means back near the median (|z| at most
    ``RETURN_SHARE`` of the limit), not merely under the limit: a signal ramping through the limit (a motor
    heating up) with noise on top pokes out and falls back under it sample by sample, and each of those
    was confirmed as a spike, so a developing process fault was filed as a broken sensor (bench.pipeline's
    fleet at 20,000 devices, seed 2: 10 of 40 faults). Samples between the two levels keep the excursion open; it
    becomes a level shift as any longer excursion does. The condition stays active for ``hold_s`` so the classifier
    and incident logic see it. Nothing is judged before ``warmup`` samples of history: a median/MAD of a
    handful of start-up readings is too narrow and reads ordinary noise as a spike.

    Why a sorted copy of the window: the detector runs for every signal of every sample of the fleet, and
    re-computing median and MAD with numpy per sample was the largest single cost of a diagnose pass. The
    sorted window is kept with bisect (O(log n) search + one memmove per insert/evict); the median is read
    off it and the MAD is the median of two already-sorted runs of deviations, which ``sorted`` merges in
    linear time. Results are bit-identical to ``np.median`` on the deque (tests/diagnostics/test_sensor_health).
    """

    def __init__(self, signal: str, *, window: int = 60, z_limit: float = 8.0, max_len: int = 2,
                 hold_s: float = 600.0, warmup: int = 10) -> None:
        self.name = f"spike:{signal}"
        self.signal, self.z_limit, self.max_len, self.hold_s = signal, z_limit, max_len, hold_s
        self.warmup = max(1, min(warmup, window))  # a window smaller than the warm-up could never judge
        self._buf: deque[float] = deque(maxlen=window)
        self._sorted: list[float] = []  # the same values as _buf, ascending
        self._pending: list[tuple[float, float, float]] = []
        self._last: tuple[float, float, float, int] | None = None  # (at, value, z, count)

    def _push(self, v: float) -> None:
        buf, srt = self._buf, self._sorted
        if buf.maxlen is not None and len(buf) == buf.maxlen:
            del srt[bisect_left(srt, buf[0])]  # evicted by the append below
        buf.append(v)
        insort(srt, v)

    def median_sigma(self) -> tuple[float, float]:
        """Rolling median of the window and its robust spread (MAD as a standard deviation, floored)."""
        srt = self._sorted
        med = _median_sorted(srt)
        j = bisect_left(srt, med)
        below = [med - x for x in srt[:j]]
        below.reverse()  # ascending deviations; those at/above the median already are
        devs = sorted(below + [x - med for x in srt[j:]])  # two ascending runs: a linear merge
        return med, max(_median_sorted(devs) * MAD_TO_SIGMA, EPS, 1e-6 * abs(med))

    def step(self, t: float, values: Mapping[str, float]) -> list[Condition]:
        v = _value(values, self.signal)
        if v is not None:
            if len(self._buf) >= self.warmup:
                med, sigma = self.median_sigma()
                z = (v - med) / sigma
                if abs(z) > self.z_limit or (self._pending and abs(z) > self.z_limit * RETURN_SHARE):
                    self._pending.append((t, v, z))
                    if len(self._pending) > self.max_len:  # a level shift, not a spike
                        for p in self._pending:
                            self._push(p[1])
                        self._pending = []
                else:
                    if self._pending:
                        at, val, zz = max(self._pending, key=lambda p: abs(p[2]))
                        count = (self._last[3] if self._last else 0) + 1
                        self._last = (at, val, zz, count)
                        self._pending = []
                    self._push(v)
            else:
                self._push(v)
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
