"""Streaming single-device detectors.

Every detector is a small state machine fed one time-ordered sample at a time. ``step`` returns the
conditions that are *currently* active; the monitor turns newly active (or worsened) conditions into
findings and forgets cleared ones. Keeping "active now" as the output (rather than edge events) makes
hysteresis, minimum durations and restarts easy to reason about and to test.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this equals its standard deviation
EPS = 1e-9  # floor for spreads so a perfectly flat history never divides by zero


@dataclass(frozen=True)
class Condition:
    """A currently active abnormal condition, as reported by one detector."""

    kind: str
    signals: tuple[str, ...]
    severity: int
    started_at: float
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)


class Detector(Protocol):
    name: str

    def step(self, t: float, values: Mapping[str, float]) -> list[Condition]:
        ...


def _value(values: Mapping[str, float], signal: str) -> float | None:
    v = values.get(signal)
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def severity_from_score(score: float) -> int:
    """1 just past the limit, 2 at twice the limit, 3 at four times: a log scale of 'how far off'."""
    return 3 if score >= 4 else 2 if score >= 2 else 1


class Cusum:
    """One-sided upper CUSUM with hysteresis on already standardised input (z units).

    Returns the current sum when alarmed, else 0. Alarm starts when the sum exceeds ``h`` and ends when it
    drops below ``clear * h``, so a marginal signal does not flap.
    """

    def __init__(self, k: float, h: float, clear: float = 0.0) -> None:
        self.k, self.h, self.clear = k, h, clear
        self.s = 0.0
        self.alarm = False

    def step(self, z: float) -> float:
        self.s = max(0.0, self.s + z - self.k)
        if self.alarm and self.s <= self.clear * self.h:
            self.alarm = False
        elif not self.alarm and self.s > self.h:
            self.alarm = True
        return self.s if self.alarm else 0.0


class _Hold:
    """Minimum-duration + hysteresis latch shared by threshold-like detectors."""

    def __init__(self, min_duration_s: float) -> None:
        self.min_duration_s = min_duration_s
        self.since: float | None = None
        self.active = False

    def update(self, t: float, tripped: bool, cleared: bool) -> bool:
        if self.active:
            if cleared:
                self.active, self.since = False, None
            return self.active
        if tripped:
            if self.since is None:
                self.since = t
            if t - self.since >= self.min_duration_s:
                self.active = True
        else:
            self.since = None
        return self.active


class ThresholdDetector:
    """Fixed limits with hysteresis and minimum duration; ``*_critical`` limits raise severity to 3."""

    def __init__(self, signal: str, *, high: float | None = None, low: float | None = None,
                 hysteresis: float = 0.0, min_duration_s: float = 0.0, severity: int = 2,
                 high_critical: float | None = None, low_critical: float | None = None) -> None:
        self.name = f"threshold:{signal}"
        self.signal, self.high, self.low, self.hyst = signal, high, low, hysteresis
        self.high_critical, self.low_critical, self.severity = high_critical, low_critical, severity
        self._hi, self._lo = _Hold(min_duration_s), _Hold(min_duration_s)

    def step(self, t: float, values: Mapping[str, float]) -> list[Condition]:
        v = _value(values, self.signal)
        if v is None:
            return self._current(t, None)
        if self.high is not None:
            self._hi.update(t, v > self.high, v < self.high - self.hyst)
        if self.low is not None:
            self._lo.update(t, v < self.low, v > self.low + self.hyst)
        return self._current(t, v)

    def _current(self, t: float, v: float | None) -> list[Condition]:
        out = []
        for hold, limit, crit, kind, direction in (
                (self._hi, self.high, self.high_critical, "threshold_high", "up"),
                (self._lo, self.low, self.low_critical, "threshold_low", "down")):
            if hold.active and limit is not None:
                sev = self.severity
                if crit is not None and v is not None and (v >= crit if direction == "up" else v <= crit):
                    sev = 3
                score = 1.0 + abs((v if v is not None else limit) - limit) / max(abs(limit), EPS)
                out.append(Condition(kind, (self.signal,), sev, hold.since or t, score,
                                     {"value": v, "limit": limit, "direction": direction}))
        return out


class RateDetector:
    """Least-squares slope over a sliding time window; catches sudden changes (trips, bursts).

    A step is over in seconds, so a confirmed rate condition stays active for ``hold_s`` afterwards: the
    classifier needs to know "this started as a step" long after the slope itself is flat again.

    ``min_span_s``: the slope may trip only once the window's samples span at least this long. A slope over
    two or three readings a second apart is their noise divided by one second, which at 1 Hz reads as a trip
    on a healthy machine starting up (or reconnecting after a gap). Steps in a running stream are unaffected:
    there the window is always full.
    """

    def __init__(self, signal: str, *, window_s: float = 30.0, max_rise_per_s: float | None = None,
                 max_fall_per_s: float | None = None, min_duration_s: float = 0.0, hold_s: float = 3600.0,
                 severity: int = 2, min_span_s: float = 0.0) -> None:
        self.name = f"rate:{signal}"
        self.signal, self.window_s, self.severity, self.hold_s = signal, window_s, severity, hold_s
        self.min_span_s = min(min_span_s, window_s)  # a span longer than the window would never be reached
        self.limits = {"rate_rise": max_rise_per_s, "rate_fall": max_fall_per_s}
        self._buf: deque[tuple[float, float]] = deque()
        self._holds = {"rate_rise": _Hold(min_duration_s), "rate_fall": _Hold(min_duration_s)}
        self._episodes: dict[str, list[float]] = {}  # kind -> [started_at, last confirmed at, max score]

    def slope(self) -> float:
        """Two-pass (centred) least squares in plain Python: the window holds tens of points, where numpy's
        per-call overhead cost ~10x the arithmetic; centring keeps epoch-sized timestamps exact enough."""
        buf = self._buf
        n = len(buf)
        if n < 2:
            return 0.0
        tm = math.fsum(p[0] for p in buf) / n
        xm = math.fsum(p[1] for p in buf) / n
        denom = sxy = 0.0
        for t, x in buf:
            dt = t - tm
            denom += dt * dt
            sxy += dt * (x - xm)
        return sxy / denom if denom > 0 else 0.0

    def step(self, t: float, values: Mapping[str, float]) -> list[Condition]:
        v = _value(values, self.signal)
        if v is not None:
            self._buf.append((t, v))
        while self._buf and t - self._buf[0][0] > self.window_s:
            self._buf.popleft()
        slope = self.slope()
        judged = bool(self._buf) and self._buf[-1][0] - self._buf[0][0] >= self.min_span_s
        out = []
        for kind, limit in self.limits.items():
            if limit is None:
                continue
            signed = slope if kind == "rate_rise" else -slope
            tripped = judged and signed > limit
            if self._holds[kind].update(t, tripped, not tripped):
                ep = self._episodes.setdefault(kind, [self._holds[kind].since or t, t, 0.0])
                ep[1], ep[2] = t, max(ep[2], signed / limit)
            cur = self._episodes.get(kind)
            if cur is not None and t - cur[1] > self.hold_s:
                del self._episodes[kind]
            elif cur is not None:
                out.append(Condition(kind, (self.signal,), self.severity, cur[0], cur[2],
                                     {"max_rate_ratio": cur[2], "slope_per_s": slope,
                                      "direction": "up" if kind == "rate_rise" else "down"}))
        return out


class DriftDetector:
    """Slow drift of a signal's residual: two-sided CUSUM plus EWMA on robust z-scores.

    The residual is ``value - expected``. Without a normal model "expected" is the median of a warm-up
    window and the spread its MAD (robust z-score); with a model the monitor feeds residual z-scores
    directly via ``residual_z``. CUSUM catches small persistent shifts, EWMA moderate ones quickly.
    """

    def __init__(self, signal: str, *, warmup: int = 120, ewma_alpha: float = 0.05, ewma_limit: float = 3.0,
                 cusum_k: float = 0.5, cusum_h: float = 25.0, clear: float = 0.2,
                 min_duration_s: float = 0.0) -> None:
        self.name = f"drift:{signal}"
        self.signal, self.warmup, self.alpha, self.ewma_limit = signal, warmup, ewma_alpha, ewma_limit
        self._warm: list[float] = []
        self.median: float | None = None
        self.sigma = 1.0
        self._up, self._down = Cusum(cusum_k, cusum_h, clear), Cusum(cusum_k, cusum_h, clear)
        self.ewma = 0.0
        self._ewma_alarm = {"up": False, "down": False}
        self._since: dict[str, float] = {}
        self._hold = {"up": _Hold(min_duration_s), "down": _Hold(min_duration_s)}

    def robust_z(self, v: float) -> float | None:
        """Robust z of ``v`` against the warm-up baseline, learning the baseline first."""
        if self.median is None:
            self._warm.append(v)
            if len(self._warm) >= self.warmup:
                arr = np.array(self._warm)
                self.median = float(np.median(arr))
                self.sigma = max(float(np.median(np.abs(arr - self.median))) * MAD_TO_SIGMA, EPS)
                self._warm = []
            return None
        return (v - self.median) / self.sigma

    def step(self, t: float, values: Mapping[str, float], residual_z: float | None = None) -> list[Condition]:
        if residual_z is None:
            v = _value(values, self.signal)
            residual_z = None if v is None else self.robust_z(v)
        if residual_z is None:
            return self.current(t)
        z = max(-50.0, min(50.0, residual_z))  # clip: one wild sample must not dominate the sums
        up, down = self._up.step(z), self._down.step(-z)
        self.ewma = self.alpha * z + (1 - self.alpha) * self.ewma
        for d, sign, cus in (("up", 1.0, up), ("down", -1.0, down)):
            e = sign * self.ewma
            if self._ewma_alarm[d]:
                self._ewma_alarm[d] = e > self.ewma_limit / 2
            else:
                self._ewma_alarm[d] = e > self.ewma_limit
            tripped = cus > 0 or self._ewma_alarm[d]
            if self._hold[d].update(t, tripped, not tripped):
                self._since.setdefault(d, self._hold[d].since or t)
            else:
                self._since.pop(d, None)
        return self.current(t)

    def current(self, t: float) -> list[Condition]:
        """Conditions active as of the last processed sample (no state change)."""
        out = []
        for d, cus in (("up", self._up), ("down", self._down)):
            if d in self._since:
                score = max(cus.s / cus.h, abs(self.ewma) / self.ewma_limit)
                out.append(Condition(f"drift_{d}", (self.signal,), severity_from_score(score), self._since[d],
                                     score, {"ewma_z": self.ewma, "cusum": cus.s, "direction": d,
                                             "baseline": self.median, "sigma": self.sigma}))
        return out
