"""Alarm stage for sustained shifts of steady-state equipment: EWMA shift distance -> limit -> min duration/hold.

Why this exists next to the CUSUM on the normal-model score: on a rig whose healthy signals sit still (SKAB's
valve test bench, a constant-speed pump), a fault is a *segment* -- the flow drops and stays down for minutes --
and the per-sample T^2/Q score of a model fitted on a few minutes of data alarms on every slow thermal wander
afterwards. Smoothing the standardised signal vector and whitening it with the healthy covariance of the
*smoothed* vector (:meth:`NormalModel.shift_matrix`) gives a distance that is ~1 on healthy data for every
signal alike, so one limit in "healthy standard deviations" holds across files and equipment. Alarms then
need ``min_duration_s`` above the limit and are held ``hold_s`` after the last confirmed sample, because a
real fault segment dips briefly under the limit and each flap would be a new changepoint / finding.

Everything here is pure; the same code runs vectorised in the benchmark and sample by sample in the monitor
(:class:`ShiftTracker` + :class:`ShiftAlarm`), and a unit test checks that both give the same alarms.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from diagnostics.normal_model import NormalModel

LIMIT = 5.0  # RMS whitened distance (healthy sd of the smoothed vector); chosen on SKAB by leave-one-file-out
MIN_DURATION_S = 0.0  # the EWMA already integrates ~1/alpha samples; a further delay only costs detection time
HOLD_S = 30.0  # keep alarming 30 s after the last sample above the limit: one fault segment, one alarm


class ShiftTracker:
    """Streaming EWMA of the standardised signal vector and its shift distance (same maths as shift_matrix)."""

    def __init__(self, model: NormalModel) -> None:
        if model.shift_alpha is None:
            raise ValueError("model has no shift statistics (trained before they existed): retrain it")
        self.model, self.alpha = model, model.shift_alpha
        self._ewma: np.ndarray | None = None

    def step(self, x: Sequence[float]) -> float:
        z = self.model.standardise(np.asarray(x, dtype=float)[None, :])[0]
        self._ewma = z if self._ewma is None else self.alpha * z + (1 - self.alpha) * self._ewma
        return float(self.model.shift_distance(self._ewma)[0])

    @property
    def last_z(self) -> np.ndarray | None:
        """Current smoothed z per model signal (None before the first sample)."""
        return self._ewma


class ShiftAlarm:
    """Limit + minimum duration + hold latch on a distance stream; ``since`` is the current episode's start."""

    def __init__(self, limit: float = LIMIT, min_duration_s: float = MIN_DURATION_S, hold_s: float = HOLD_S) -> None:
        self.limit, self.min_duration_s, self.hold_s = limit, min_duration_s, hold_s
        self._run_since: float | None = None  # start of the current run above the limit
        self._confirmed_at: float | None = None  # last sample that was above the limit long enough
        self.since: float | None = None  # start of the active alarm episode

    def step(self, t: float, distance: float) -> bool:
        if distance > self.limit:
            if self._run_since is None:
                self._run_since = t
            if t - self._run_since >= self.min_duration_s:
                if self.since is None:
                    self.since = t
                self._confirmed_at = t
        else:
            self._run_since = None
        if self._confirmed_at is not None and t - self._confirmed_at > self.hold_s:
            self._confirmed_at, self.since = None, None
        return self.since is not None


def alarm_series(t: np.ndarray, distance: np.ndarray, limit: float = LIMIT, min_duration_s: float = MIN_DURATION_S,
                 hold_s: float = HOLD_S) -> np.ndarray:
    """Vectorised :class:`ShiftAlarm` over time-ordered samples: 0/1 alarm per sample."""
    t = np.asarray(t, dtype=float)
    raw = np.asarray(distance) > limit
    idx = np.arange(len(raw))
    run_start = np.maximum.accumulate(np.where(~raw, idx + 1, 0))  # first index of the current run
    run_start = np.minimum(run_start, len(raw) - 1) if len(raw) else run_start
    confirmed = raw & (t - t[run_start] >= min_duration_s)
    last = np.maximum.accumulate(np.where(confirmed, t, -np.inf)) if len(raw) else np.zeros(0)
    return (t - last <= hold_s).astype(int)


def episodes(alarm: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of each contiguous alarm episode: the detector's own changepoints."""
    d = np.diff(np.r_[0, np.asarray(alarm, dtype=int), 0])
    return list(zip(np.flatnonzero(d == 1).tolist(), (np.flatnonzero(d == -1) - 1).tolist()))
