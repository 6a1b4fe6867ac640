"""Vectorised normal-model detector: PCA T^2/Q/residual score of every complete sample of a step in one
``score_matrix`` call, then CUSUM on log(score) or the EWMA shift distance with its alarm latch (monitor.ModelDetector
and diagnostics/shift.py, row for row). The model's own matrix code already takes many rows: the per-sample cost
of the scalar detector was numpy call overhead on one row, which a block of devices amortises.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from diagnostics.detectors import Condition
from diagnostics.monitor import ModelDetector, model_conditions
from diagnostics.vector_base import NAN, Arrays, cusum_update, opt, severity_from_score
from diagnostics.vector_detectors import Status


class VModel(Arrays):
    kinds: ClassVar[list[str]] = ["model_deviation"]

    def __init__(self, det: ModelDetector, cols: list[int], cap: int) -> None:
        super().__init__(cap)
        self.det, self.cols = det, cols
        self.model = det.model
        m = len(det.model.signals)
        self.shift = det._tracker is not None
        self.field("cs", 0.0)
        self.field("calarm", False, dtype=bool)
        self.field("ewma", shape=(m,))
        self.field("has_ewma", False, dtype=bool)
        self.field("run_since")
        self.field("confirmed_at")
        self.field("ssince")
        self.field("since")
        self.field("score", 0.0)
        self.field("rz", shape=(m,))  # residual z of the last complete sample
        self.field("fresh", False, dtype=bool)  # the last sample was complete (last_residuals non-empty)
        self.stale: dict[int, list[Condition]] = {}  # rows restored mid-gap: the scalar's _last, kept verbatim

    def residuals(self, ix: np.ndarray) -> np.ndarray:
        """Residual z (rows x model signals) of the rows' current sample; NaN rows had an incomplete sample."""
        return np.where(self.fresh[ix][:, None], self.rz[ix], NAN)

    def step(self, ix: np.ndarray, t: np.ndarray, x: np.ndarray, _rz: object = None) -> list[Status]:
        """``x``: the rows' model signals (rows x model signals)."""
        complete = np.isfinite(x).all(axis=1)
        self.fresh[ix] = complete
        if complete.any():
            r, tt, xx = ix[complete], t[complete], x[complete]
            if self.stale:
                for i in r.tolist():
                    self.stale.pop(i, None)
            score, _t2, _q, rz = self.model.score_matrix(xx)
            self.rz[r] = rz
            if self.shift:
                z = self.model.standardise(xx)
                a = float(self.det._tracker.alpha)  # type: ignore[union-attr]
                ew = np.where(self.has_ewma[r][:, None], a * z + (1 - a) * self.ewma[r], z)
                self.ewma[r], self.has_ewma[r] = ew, True
                dist = self.model.shift_distance(ew)
                alarm, since = self._shift_step(r, tt, dist)
                score = dist / self.det._shift.limit
            else:
                c = self.det._cusum
                alarm = cusum_update(self.cs, self.calarm, r, np.log(np.maximum(score, 1e-9)), c.k, c.h,
                                     c.clear) > 0
                since = tt
            cur = self.since[r]
            self.since[r] = np.where(alarm, np.where(np.isnan(cur), since, cur), NAN)
            self.score[r] = score
        since = self.since[ix]
        return [(~np.isnan(since), severity_from_score(self.score[ix]), since)]

    def _shift_step(self, r: np.ndarray, t: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised ``shift.ShiftAlarm.step``: (alarm, episode start) per row."""
        sa = self.det._shift
        above = dist > sa.limit
        run = self.run_since[r]
        run = np.where(above, np.where(np.isnan(run), t, run), NAN)
        conf = above & (t - run >= sa.min_duration_s)
        ss = self.ssince[r]
        ss = np.where(conf & np.isnan(ss), t, ss)
        ca = np.where(conf, t, self.confirmed_at[r])
        expire = ~np.isnan(ca) & (t - ca > sa.hold_s)
        ca, ss = np.where(expire, NAN, ca), np.where(expire, NAN, ss)
        self.run_since[r], self.confirmed_at[r], self.ssince[r] = run, ca, ss
        return ~np.isnan(ss), ss

    def conditions(self, i: int) -> list[Condition]:
        if i in self.stale:
            return self.stale[i]
        d = self.det
        rz = {s: float(v) for s, v in zip(self.model.signals, self.rz[i])} if self.rz[i][0] == self.rz[i][0] \
            else {}
        smoothed = self.ewma[i] if self.shift and self.has_ewma[i] else None
        return model_conditions(self.model, d.confirm, d.residual_z, opt(self.since[i]), float(self.score[i]),
                                rz, smoothed)

    def condition(self, i: int, kind: str, t: float, v: float) -> Condition:
        return self.conditions(i)[0]

    def load(self, i: int, det: ModelDetector) -> None:
        self.reset(i)
        self.stale.pop(i, None)
        self.cs[i], self.calarm[i] = det._cusum.s, det._cusum.alarm
        if det._tracker is not None and det._tracker._ewma is not None:
            self.ewma[i], self.has_ewma[i] = det._tracker._ewma, True
        sa = det._shift
        for name, val in (("run_since", sa._run_since), ("confirmed_at", sa._confirmed_at), ("ssince", sa.since),
                          ("since", det._since)):
            getattr(self, name)[i] = NAN if val is None else val
        self.fresh[i] = bool(det.last_residuals)
        if det.last_residuals:
            self.rz[i] = [det.last_residuals[s] for s in self.model.signals]
        elif det._last:
            self.stale[i] = list(det._last)
        if det._last:
            self.score[i] = det._last[0].score

    def export(self, i: int, det: ModelDetector) -> None:
        det._cusum.s, det._cusum.alarm = float(self.cs[i]), bool(self.calarm[i])
        if det._tracker is not None:
            det._tracker._ewma = self.ewma[i].copy() if self.has_ewma[i] else None
        sa = det._shift
        sa._run_since, sa._confirmed_at, sa.since = opt(self.run_since[i]), opt(self.confirmed_at[i]), \
            opt(self.ssince[i])
        det._since = opt(self.since[i])
        det.last_residuals = {s: float(v) for s, v in zip(self.model.signals, self.rz[i])} if self.fresh[i] else {}
        det._last = self.conditions(i)
