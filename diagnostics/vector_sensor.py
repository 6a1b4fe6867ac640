"""Vectorised sensor-health detectors: stuck, spike, out of range, dropout (twins of sensor_health.py).

The spike detector's rolling median/MAD is a sort of each device's window (NaN-padded while it fills), which gives
the same numbers as the scalar detector's sorted list (mean of the two middles when even; |x - median| equals the
scalar's two-sided deviations bit for bit).
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar

import numpy as np

from diagnostics.detectors import EPS, MAD_TO_SIGMA, Condition
from diagnostics.sensor_health import (
    RETURN_SHARE,
    DropoutDetector,
    RangeDetector,
    SpikeDetector,
    StuckDetector,
)
from diagnostics.vector_base import NAN, Arrays, opt
from diagnostics.vector_detectors import Status


def _median_rows(s: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Median of each ascending row's first ``n`` values (NaN after them)."""
    rows = np.arange(len(n))
    return (s[rows, (n - 1) // 2] + s[rows, n // 2]) / 2


class VStuck(Arrays):
    kinds: ClassVar[list[str]] = ["stuck"]

    def __init__(self, det: StuckDetector, col: int, cap: int) -> None:
        super().__init__(cap)
        self.det, self.col = det, col
        self.field("ref")
        self.field("since", 0.0)
        self.field("count", 0, dtype=np.int64)

    def step(self, ix: np.ndarray, t: np.ndarray, v: np.ndarray, _rz: object = None) -> list[Status]:
        d = self.det
        ok = ~np.isnan(v)
        r, tt, vv = ix[ok], t[ok], v[ok]
        ref = self.ref[r]
        reset = np.isnan(ref) | (np.abs(vv - ref) > d.tol)
        if d.ignore_zero:
            reset |= vv == 0.0
        self.ref[r] = np.where(reset, vv, ref)
        since = np.where(reset, tt, self.since[r])
        count = np.where(reset, 1, self.count[r] + 1)
        self.since[r], self.count[r] = since, count
        act = np.zeros(len(ix), dtype=bool)
        act[ok] = ~reset & (tt - since >= d.min_duration_s) & (count >= d.min_samples)
        return [(act, np.full(len(ix), 2), self.since[ix])]

    def condition(self, i: int, kind: str, t: float, v: float) -> Condition:
        since = float(self.since[i])
        held = t - since
        return Condition("stuck", (self.det.signal,), 2, since, held / self.det.min_duration_s,
                         {"value": float(v), "held_s": held, "samples": int(self.count[i])})

    def load(self, i: int, det: StuckDetector) -> None:
        self.ref[i] = NAN if det._ref is None else det._ref
        self.since[i], self.count[i] = det._since, det._count

    def export(self, i: int, det: StuckDetector) -> None:
        det._ref, det._since, det._count = opt(self.ref[i]), float(self.since[i]), int(self.count[i])


class VSpike(Arrays):
    kinds: ClassVar[list[str]] = ["spike"]

    def __init__(self, det: SpikeDetector, col: int, cap: int) -> None:
        super().__init__(cap)
        self.det, self.col = det, col
        self.w = det._buf.maxlen or 1
        self.p = det.max_len + 1  # pending holds up to max_len, one more means a level shift
        self.field("buf", shape=(self.w,))
        self.field("head", 0, dtype=np.int64)
        self.field("blen", 0, dtype=np.int64)
        for n in ("pt", "pv", "pz"):
            self.field(n, shape=(self.p,))
        self.field("pn", 0, dtype=np.int64)
        for n in ("lat", "lval", "lz"):
            self.field(n)  # the last confirmed spike; lat NaN = none
        self.field("lcount", 0, dtype=np.int64)

    def _push(self, r: np.ndarray, v: np.ndarray) -> None:
        h = self.head[r]
        self.buf[r, h] = v
        self.head[r] = (h + 1) % self.w
        self.blen[r] = np.minimum(self.blen[r] + 1, self.w)

    def median_sigma(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = self.blen[r]
        s = np.sort(self.buf[r], axis=1)  # empty slots are NaN and sort last
        med = _median_rows(s, n)
        devs = np.sort(np.abs(s - med[:, None]), axis=1)
        mad = _median_rows(devs, n)
        return med, np.maximum(np.maximum(mad * MAD_TO_SIGMA, EPS), 1e-6 * np.abs(med))

    def step(self, ix: np.ndarray, t: np.ndarray, v: np.ndarray, _rz: object = None) -> list[Status]:
        d = self.det
        ok = ~np.isnan(v)
        r, tt, vv = ix[ok], t[ok], v[ok]
        judge = self.blen[r] >= d.warmup
        self._push(r[~judge], vv[~judge])
        j, tj, vj = r[judge], tt[judge], vv[judge]
        if len(j):
            med, sigma = self.median_sigma(j)
            z = (vj - med) / sigma
            # an open excursion ends only back near the median (sensor_health.RETURN_SHARE), else it goes on
            out = (np.abs(z) > d.z_limit) | ((self.pn[j] > 0) & (np.abs(z) > d.z_limit * RETURN_SHARE))
            o = j[out]
            if len(o):
                k = self.pn[o]
                self.pt[o, k], self.pv[o, k], self.pz[o, k] = tj[out], vj[out], z[out]
                self.pn[o] = k + 1
                shift = o[self.pn[o] > d.max_len]  # a level shift, not a spike: the readings join the window
                for m in range(self.p):
                    rows = shift[self.pn[shift] > m]
                    self._push(rows, self.pv[rows, m])
                self.pn[shift] = 0
            inl, vin = j[~out], vj[~out]
            back = inl[self.pn[inl] > 0]
            if len(back):
                pn = self.pn[back]
                az = np.where(np.arange(self.p)[None, :] < pn[:, None], np.abs(self.pz[back]), -np.inf)
                k = np.argmax(az, axis=1)  # first of equal maxima, as max() with a key
                rows = np.arange(len(back))
                had = ~np.isnan(self.lat[back])
                self.lcount[back] = np.where(had, self.lcount[back], 0) + 1
                self.lat[back], self.lval[back], self.lz[back] = (self.pt[back][rows, k], self.pv[back][rows, k],
                                                                  self.pz[back][rows, k])
                self.pn[back] = 0
            self._push(inl, vin)
        lat = self.lat[ix]
        has = ~np.isnan(lat)
        live = has & (t - lat <= d.hold_s)
        gone = ix[has & ~live]
        self.lat[gone], self.lval[gone], self.lz[gone] = NAN, NAN, NAN
        self.lcount[gone] = 0
        return [(live, np.ones(len(ix), dtype=np.int64), np.where(live, lat, NAN))]

    def condition(self, i: int, kind: str, t: float, v: float) -> Condition:
        z = float(self.lz[i])
        return Condition("spike", (self.det.signal,), 1, float(self.lat[i]), abs(z) / self.det.z_limit,
                         {"value": float(self.lval[i]), "robust_z": z, "count": int(self.lcount[i])})

    def load(self, i: int, det: SpikeDetector) -> None:
        self.reset(i)
        n = len(det._buf)
        self.buf[i, :n] = list(det._buf)
        self.head[i], self.blen[i] = n % self.w, n
        for m, (pt, pv, pz) in enumerate(det._pending):
            self.pt[i, m], self.pv[i, m], self.pz[i, m] = pt, pv, pz
        self.pn[i] = len(det._pending)
        if det._last is not None:
            self.lat[i], self.lval[i], self.lz[i], self.lcount[i] = det._last

    def export(self, i: int, det: SpikeDetector) -> None:
        n, h = int(self.blen[i]), int(self.head[i])
        vals = self.buf[i, :n] if n < self.w else np.roll(self.buf[i], -h)
        det._buf = deque((float(x) for x in vals), maxlen=self.w)
        det._sorted = sorted(det._buf)
        det._pending = [(float(self.pt[i, m]), float(self.pv[i, m]), float(self.pz[i, m]))
                        for m in range(int(self.pn[i]))]
        det._last = None if self.lat[i] != self.lat[i] else (
            float(self.lat[i]), float(self.lval[i]), float(self.lz[i]), int(self.lcount[i]))


class VRange(Arrays):
    kinds: ClassVar[list[str]] = ["out_of_range"]

    def __init__(self, det: RangeDetector, col: int, cap: int) -> None:
        super().__init__(cap)
        self.det, self.col = det, col
        self.field("since")

    def step(self, ix: np.ndarray, t: np.ndarray, v: np.ndarray, _rz: object = None) -> list[Status]:
        out = ~np.isnan(v) & ((v < self.det.low) | (v > self.det.high))
        cur = self.since[ix]
        since = np.where(out, np.where(np.isnan(cur), t, cur), NAN)
        self.since[ix] = since
        return [(out, np.full(len(ix), 2), since)]

    def condition(self, i: int, kind: str, t: float, v: float) -> Condition:
        return Condition("out_of_range", (self.det.signal,), 2, float(self.since[i]), 1.0,
                         {"value": float(v), "range": [self.det.low, self.det.high]})

    def load(self, i: int, det: RangeDetector) -> None:
        self.since[i] = NAN if det._since is None else det._since

    def export(self, i: int, det: RangeDetector) -> None:
        det._since = opt(self.since[i])


class VDropout(Arrays):
    kinds: ClassVar[list[str]] = ["dropout"]

    def __init__(self, det: DropoutDetector, col: int, cap: int) -> None:
        super().__init__(cap)
        self.det, self.col = det, col
        self.field("seen")
        self.field("first")

    def step(self, ix: np.ndarray, t: np.ndarray, v: np.ndarray, _rz: object = None) -> list[Status]:
        first = self.first[ix]
        first = np.where(np.isnan(first), t, first)
        self.first[ix] = first
        ok = ~np.isnan(v)
        seen = np.where(ok, t, self.seen[ix])
        self.seen[ix] = seen
        last = np.where(np.isnan(seen), first, seen)
        act = ~ok & (t - last > self.det.gap_s)
        return [(act, np.ones(len(ix), dtype=np.int64), last)]

    def condition(self, i: int, kind: str, t: float, v: float) -> Condition:
        seen = opt(self.seen[i])
        last = seen if seen is not None else float(self.first[i])
        return Condition("dropout", (self.det.signal,), 1, last, (t - last) / self.det.gap_s,
                         {"last_seen": seen, "missing_s": t - last})

    def load(self, i: int, det: DropoutDetector) -> None:
        self.seen[i] = NAN if det._seen is None else det._seen
        self.first[i] = NAN if det._first is None else det._first

    def export(self, i: int, det: DropoutDetector) -> None:
        det._seen, det._first = opt(self.seen[i]), opt(self.first[i])
