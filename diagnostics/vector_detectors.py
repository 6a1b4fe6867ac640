"""Vectorised process detectors: threshold, rate and drift over a block of devices (one numpy update a sample).

Each class mirrors its scalar twin in diagnostics/detectors.py decision for decision; see vector_base.py for why.
``step`` advances rows ``ix`` by one sample (times ``t``, values ``v`` with NaN for missing) and returns, per key
(kind), the rows' (active, severity, started_at) after it; ``condition`` builds the current Condition of one row
(only rows with an active key are ever materialised, so a healthy fleet costs no Python per device).
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar

import numpy as np

from diagnostics.detectors import EPS, MAD_TO_SIGMA, Condition, DriftDetector, RateDetector, ThresholdDetector
from diagnostics.detectors import severity_from_score as severity_one
from diagnostics.vector_base import (
    NAN,
    Arrays,
    cusum_update,
    hold_export,
    hold_load,
    hold_update,
    opt,
    severity_from_score,
    since_or_t,
)

Status = tuple[np.ndarray, np.ndarray, np.ndarray]  # active, severity, started_at for the stepped rows


class VThreshold(Arrays):
    def __init__(self, det: ThresholdDetector, col: int, cap: int) -> None:
        super().__init__(cap)
        self.det, self.col = det, col
        self.sides = [(k, lim, crit, up) for k, lim, crit, up in (
            ("threshold_high", det.high, det.high_critical, True),
            ("threshold_low", det.low, det.low_critical, False)) if lim is not None]
        self.kinds = [s[0] for s in self.sides]
        for k in ("hi", "lo"):
            self.field(f"{k}_since")
            self.field(f"{k}_act", False, dtype=bool)

    def step(self, ix: np.ndarray, t: np.ndarray, v: np.ndarray, _rz: object = None) -> list[Status]:
        d = self.det
        ok = ~np.isnan(v)
        r, tt, vv = ix[ok], t[ok], v[ok]
        if d.high is not None:
            hold_update(self.hi_since, self.hi_act, r, tt, vv > d.high, vv < d.high - d.hyst, d._hi.min_duration_s)
        if d.low is not None:
            hold_update(self.lo_since, self.lo_act, r, tt, vv < d.low, vv > d.low + d.hyst, d._lo.min_duration_s)
        out = []
        for _kind, _limit, crit, up in self.sides:
            act, since = (self.hi_act, self.hi_since) if up else (self.lo_act, self.lo_since)
            sev = np.full(len(ix), d.severity)
            if crit is not None:
                sev = np.where(ok & ((v >= crit) if up else (v <= crit)), 3, sev)
            out.append((act[ix], sev, since_or_t(since[ix], t)))
        return out

    def condition(self, i: int, kind: str, t: float, v: float) -> Condition:
        d = self.det
        up = kind == "threshold_high"
        since = opt((self.hi_since if up else self.lo_since)[i])
        val = None if np.isnan(v) else float(v)
        limit = d.high if up else d.low
        crit = d.high_critical if up else d.low_critical
        sev = d.severity
        if crit is not None and val is not None and (val >= crit if up else val <= crit):
            sev = 3
        assert limit is not None
        score = 1.0 + abs((val if val is not None else limit) - limit) / max(abs(limit), EPS)
        return Condition(kind, (d.signal,), sev, since or t, score,
                         {"value": val, "limit": limit, "direction": "up" if up else "down"})

    def load(self, i: int, det: ThresholdDetector) -> None:
        hold_load(self.hi_since, self.hi_act, i, det._hi)
        hold_load(self.lo_since, self.lo_act, i, det._lo)

    def export(self, i: int, det: ThresholdDetector) -> None:
        hold_export(self.hi_since, self.hi_act, i, det._hi)
        hold_export(self.lo_since, self.lo_act, i, det._lo)


class VRate(Arrays):
    """Sliding-window slope: a per-device ring of (t, v) with NaN marking empty or evicted slots; the ring doubles
    when a device sends more samples per window than it holds, so no sample is ever dropped."""

    bt: np.ndarray
    bv: np.ndarray
    head: np.ndarray

    def __init__(self, det: RateDetector, col: int, cap: int, ring: int = 32) -> None:
        super().__init__(cap)
        self.det, self.col, self.ring = det, col, ring
        self.sides = [(k, lim) for k, lim in det.limits.items() if lim is not None]
        self.kinds = [k for k, _ in self.sides]
        self.field("bt", shape=(ring,))
        self.field("bv", shape=(ring,))
        self.field("head", 0, dtype=np.int64)
        self.field("slope", 0.0)
        for k in ("rate_rise", "rate_fall"):
            self.field(f"{k}_since")
            self.field(f"{k}_act", False, dtype=bool)
            self.field(f"{k}_start")  # episode: NaN = none
            self.field(f"{k}_last")
            self.field(f"{k}_max")

    def _widen(self) -> None:
        old_t: np.ndarray = self.bt
        old_v: np.ndarray = self.bv
        order = np.argsort(np.where(np.isnan(old_t), np.inf, old_t), axis=1, kind="stable")
        bt, bv = np.take_along_axis(old_t, order, 1), np.take_along_axis(old_v, order, 1)
        n = self.ring
        self.ring *= 2
        self._fields["bt"] = ((self.ring,), float, NAN)
        self._fields["bv"] = ((self.ring,), float, NAN)
        self.bt = np.concatenate([bt, np.full_like(bt, NAN)], axis=1)
        self.bv = np.concatenate([bv, np.full_like(bv, NAN)], axis=1)
        self.head = (~np.isnan(bt)).sum(axis=1).astype(np.int64) % (2 * n)

    def step(self, ix: np.ndarray, t: np.ndarray, v: np.ndarray, _rz: object = None) -> list[Status]:
        d = self.det
        bt = self.bt[ix]
        keep = t[:, None] - bt <= d.window_s  # NaN compares False: empty slots stay empty
        bt = np.where(keep, bt, NAN)
        self.bt[ix] = bt
        ok = ~np.isnan(v)
        if ok.any():
            if ((~np.isnan(bt[ok])).sum(axis=1) >= self.ring).any():
                self._widen()
            r = ix[ok]
            h = self.head[r]
            self.bt[r, h], self.bv[r, h] = t[ok], v[ok]
            self.head[r] = (h + 1) % self.ring
        bt, bv = self.bt[ix], self.bv[ix]
        w = ~np.isnan(bt)
        cnt = w.sum(axis=1)
        rt = np.where(w, bt - t[:, None], 0.0)  # relative times: sums of epoch seconds would lose digits
        x = np.where(w, bv, 0.0)
        safe = np.maximum(cnt, 1)
        tm, xm = rt.sum(axis=1) / safe, x.sum(axis=1) / safe
        dt = np.where(w, rt - tm[:, None], 0.0)
        denom = (dt * dt).sum(axis=1)
        sxy = (dt * np.where(w, x - xm[:, None], 0.0)).sum(axis=1)
        slope = np.where((cnt >= 2) & (denom > 0), sxy / np.where(denom > 0, denom, 1.0), 0.0)
        self.slope[ix] = slope
        span = np.where(w, bt, -np.inf).max(axis=1) - np.where(w, bt, np.inf).min(axis=1)
        judged = (cnt > 0) & (span >= d.min_span_s)
        out = []
        for kind, limit in self.sides:
            signed = slope if kind == "rate_rise" else -slope
            tripped = judged & (signed > limit)
            since, act = getattr(self, f"{kind}_since"), getattr(self, f"{kind}_act")
            start, last, mx = (getattr(self, f"{kind}_{n}") for n in ("start", "last", "max"))
            a = hold_update(since, act, ix, t, tripped, ~tripped, d._holds[kind].min_duration_s)
            st, la, m = start[ix], last[ix], mx[ix]
            fresh = a & np.isnan(st)
            st = np.where(fresh, since_or_t(since[ix], t), st)
            m = np.where(fresh, 0.0, m)
            la = np.where(a, t, la)
            m = np.where(a, np.maximum(m, signed / limit), m)
            gone = ~np.isnan(st) & (t - la > d.hold_s)
            st, la, m = np.where(gone, NAN, st), np.where(gone, NAN, la), np.where(gone, NAN, m)
            start[ix], last[ix], mx[ix] = st, la, m
            out.append((~np.isnan(st), np.full(len(ix), d.severity), st))
        return out

    def condition(self, i: int, kind: str, t: float, v: float) -> Condition:
        d = self.det
        m = float(getattr(self, f"{kind}_max")[i])
        return Condition(kind, (d.signal,), d.severity, float(getattr(self, f"{kind}_start")[i]), m,
                         {"max_rate_ratio": m, "slope_per_s": float(self.slope[i]),
                          "direction": "up" if kind == "rate_rise" else "down"})

    def load(self, i: int, det: RateDetector) -> None:
        while len(det._buf) >= self.ring:
            self._widen()
        self.bt[i], self.bv[i] = NAN, NAN
        for j, (bt, bv) in enumerate(det._buf):
            self.bt[i, j], self.bv[i, j] = bt, bv
        self.head[i] = len(det._buf) % self.ring
        self.slope[i] = det.slope()
        for kind in ("rate_rise", "rate_fall"):
            hold_load(getattr(self, f"{kind}_since"), getattr(self, f"{kind}_act"), i, det._holds[kind])
            ep = det._episodes.get(kind)
            for n, val in zip(("start", "last", "max"), ep if ep is not None else (NAN, NAN, NAN), strict=True):
                getattr(self, f"{kind}_{n}")[i] = val

    def export(self, i: int, det: RateDetector) -> None:
        bt, bv = self.bt[i], self.bv[i]
        order = [j for j in np.argsort(np.where(np.isnan(bt), np.inf, bt), kind="stable") if bt[j] == bt[j]]
        det._buf = deque((float(bt[j]), float(bv[j])) for j in order)
        det._episodes = {}
        for kind in ("rate_rise", "rate_fall"):
            hold_export(getattr(self, f"{kind}_since"), getattr(self, f"{kind}_act"), i, det._holds[kind])
            st = getattr(self, f"{kind}_start")[i]
            if not np.isnan(st):
                det._episodes[kind] = [float(st), float(getattr(self, f"{kind}_last")[i]),
                                       float(getattr(self, f"{kind}_max")[i])]


class VDrift(Arrays):
    """Two-sided CUSUM + EWMA on robust z (no model: warm-up median/MAD per device) or on model residual z."""

    kinds: ClassVar[list[str]] = ["drift_up", "drift_down"]

    def __init__(self, det: DriftDetector, col: int, cap: int, warm: bool) -> None:
        super().__init__(cap)
        self.det, self.col = det, col
        self.k, self.h, self.clear = det._up.k, det._up.h, det._up.clear
        if warm:  # only a block without a normal model learns raw baselines
            self.field("warm", shape=(det.warmup,))
        self.has_warm = warm
        self.field("wn", 0, dtype=np.int64)
        self.field("median")
        self.field("sigma", 1.0)
        self.field("ewma", 0.0)
        for d in ("up", "down"):
            self.field(f"{d}_s", 0.0)
            self.field(f"{d}_alarm", False, dtype=bool)
            self.field(f"{d}_ea", False, dtype=bool)
            self.field(f"{d}_hsince")
            self.field(f"{d}_hact", False, dtype=bool)
            self.field(f"{d}_since")

    def _robust(self, ix: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Vectorised ``DriftDetector.robust_z``: NaN while learning (and for missing values)."""
        ok = ~np.isnan(v)
        med = self.median[ix]
        learn = ok & np.isnan(med)
        if learn.any():
            r = ix[learn]
            n = self.wn[r]
            self.warm[r, n] = v[learn]
            self.wn[r] = n + 1
            full = r[self.wn[r] >= self.det.warmup]
            if len(full):
                arr = self.warm[full]
                m = np.median(arr, axis=1)
                self.median[full] = m
                self.sigma[full] = np.maximum(np.median(np.abs(arr - m[:, None]), axis=1) * MAD_TO_SIGMA, EPS)
                self.wn[full] = 0
                self.warm[full] = NAN
        return np.where(ok & ~learn, (v - med) / self.sigma[ix], NAN)

    def step(self, ix: np.ndarray, t: np.ndarray, v: np.ndarray, rz: np.ndarray | None = None) -> list[Status]:
        """``rz``: residual z per row (NaN = none this sample, keep state); None = learn a raw baseline."""
        if rz is None:
            rz = self._robust(ix, v)
        go = ~np.isnan(rz)
        if go.any():
            r, tt = ix[go], t[go]
            z = np.clip(rz[go], -50.0, 50.0)
            rets = {"up": cusum_update(self.up_s, self.up_alarm, r, z, self.k, self.h, self.clear),
                    "down": cusum_update(self.down_s, self.down_alarm, r, -z, self.k, self.h, self.clear)}
            a = self.det.alpha
            ew = a * z + (1 - a) * self.ewma[r]
            self.ewma[r] = ew
            lim = self.det.ewma_limit
            for d, sign in (("up", 1.0), ("down", -1.0)):
                e = sign * ew
                ea = getattr(self, f"{d}_ea")
                was = ea[r]
                now = np.where(was, e > lim / 2, e > lim)
                ea[r] = now
                tripped = (rets[d] > 0) | now
                hs = getattr(self, f"{d}_hsince")
                act = hold_update(hs, getattr(self, f"{d}_hact"), r, tt, tripped, ~tripped,
                                  self.det._hold[d].min_duration_s)
                since = getattr(self, f"{d}_since")
                cur = since[r]
                since[r] = np.where(act, np.where(np.isnan(cur), since_or_t(hs[r], tt), cur), NAN)
        out = []
        for d in ("up", "down"):
            since = getattr(self, f"{d}_since")[ix]
            score = np.maximum(getattr(self, f"{d}_s")[ix] / self.h, np.abs(self.ewma[ix]) / self.det.ewma_limit)
            out.append((~np.isnan(since), severity_from_score(score), since))
        return out

    def condition(self, i: int, kind: str, t: float, v: float) -> Condition:
        d = kind.removeprefix("drift_")
        s = float(getattr(self, f"{d}_s")[i])
        ewma = float(self.ewma[i])
        score = max(s / self.h, abs(ewma) / self.det.ewma_limit)
        return Condition(kind, (self.det.signal,), severity_one(score), float(getattr(self, f"{d}_since")[i]),
                         score, {"ewma_z": ewma, "cusum": s, "direction": d, "baseline": opt(self.median[i]),
                                 "sigma": float(self.sigma[i])})

    def load(self, i: int, det: DriftDetector) -> None:
        if self.has_warm:
            self.warm[i] = NAN
            self.warm[i, : len(det._warm)] = det._warm
        self.wn[i] = len(det._warm)
        self.median[i] = NAN if det.median is None else det.median
        self.sigma[i], self.ewma[i] = det.sigma, det.ewma
        for d, cus in (("up", det._up), ("down", det._down)):
            getattr(self, f"{d}_s")[i], getattr(self, f"{d}_alarm")[i] = cus.s, cus.alarm
            getattr(self, f"{d}_ea")[i] = det._ewma_alarm[d]
            hold_load(getattr(self, f"{d}_hsince"), getattr(self, f"{d}_hact"), i, det._hold[d])
            getattr(self, f"{d}_since")[i] = det._since.get(d, NAN)

    def export(self, i: int, det: DriftDetector) -> None:
        det._warm = [float(x) for x in self.warm[i, : self.wn[i]]] if self.has_warm else []
        det.median, det.sigma, det.ewma = opt(self.median[i]), float(self.sigma[i]), float(self.ewma[i])
        det._since = {}
        for d, cus in (("up", det._up), ("down", det._down)):
            cus.s, cus.alarm = float(getattr(self, f"{d}_s")[i]), bool(getattr(self, f"{d}_alarm")[i])
            det._ewma_alarm[d] = bool(getattr(self, f"{d}_ea")[i])
            hold_export(getattr(self, f"{d}_hsince"), getattr(self, f"{d}_hact"), i, det._hold[d])
            s = opt(getattr(self, f"{d}_since")[i])
            if s is not None:
                det._since[d] = s
