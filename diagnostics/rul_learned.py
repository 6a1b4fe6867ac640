"""The fleet's own remaining-useful-life model: :class:`diagnostics.rul.RulModel` trained on run-to-failure
histories of this fleet, stored as JSON, scored without sklearn's pickle (pure: arrays in, arrays out).

Why this shape: a live fleet's "cycles" are time buckets (``CYCLE_S``, the same 10-minute means the trend
estimator uses), a history runs from the asset's last repair (or its first telemetry) to the opening of an incident
that a completed on-site repair confirmed (the label), and the target is capped at ``CAP_CYCLES`` because long
before a failure nothing is observable. The fitted trees are exported to plain arrays (``to_doc``) so a model read
back from the database is data, never code, and predicting needs no sklearn object (``LearnedRulModel``).

The interval is empirical: quantiles of the errors on histories held out of the fit (whole assets, so an asset's
own failure never grades itself). ``metrics`` reports that held-out error, honestly, beside the training size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from diagnostics.rul import RulModel, capped_rul, window_features

FORMAT = "quietfix.rul_model/1"
CYCLE_S = 600.0  # one cycle = 10 minutes of means: the trend estimator's bucket; wear moves over hours
CAP_CYCLES = 48  # 8 h: the slowest wear the fleet shows develops over about that long; beyond it nothing shows
WINDOW_CYCLES = 12  # 2 h of history summarised per prediction (level, slope) -- wear of 2-8 h
MIN_CYCLES = 6  # a history shorter than an hour carries no trend: not used for training, no live estimate
HOLDOUT_FRAC = 0.25  # share of failed assets held out to measure the error and the interval
INTERVAL_Q = (0.1, 0.9)  # 80 % empirical interval from the held-out errors
HEALTHY_FRAC = 0.75  # estimates above 3/4 of the cap read "no failure in sight" (healthy, no RUL); at 0.9 held-out
# healthy cycles were called degrading 3-8 % of the time, at 0.75 0.2-0.8 %, with the same warning lead before
# the held-out failures (2.5-9 h); measured on the seeded demo history (simulated), so a default to revisit


def fleet_features(history: np.ndarray, window: int = WINDOW_CYCLES) -> np.ndarray:
    """:func:`window_features` without the age column (cycles since the life started).

    Why: a fleet's faults arrive at random, not with age, and the histories a model learns from end in failures
    while the surviving assets' lives go on; with age as a feature the trees learned "old = about to fail" and
    flagged 19 of 20 healthy demo assets as degrading. Levels, slopes and the shift from the asset's own
    baseline are what wear changes.
    """
    f = window_features(history, window)
    m = np.asarray(history).shape[1]
    return np.delete(f, 3 * m, axis=1)


@dataclass(frozen=True)
class Failure:
    """One labelled run to failure: cycles x signals (10-minute means, forward-filled), ending at the failure."""

    device_id: str
    fault_mode: str
    history: np.ndarray


@dataclass(frozen=True)
class LearnedRulModel:
    """A trained model as data: the trees' node arrays, the signals it reads, and its held-out metrics."""

    equipment_type: str
    signals: tuple[str, ...]
    baseline: float
    trees: tuple[dict[str, np.ndarray], ...]
    interval: tuple[float, float]  # cycles added to the estimate for the low / high end
    likely_mode: str | None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    window: int = WINDOW_CYCLES
    cap: int = CAP_CYCLES

    def predict_features(self, x: np.ndarray) -> np.ndarray:
        """Raw regression output for feature rows (the same sum of leaves sklearn computes)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        out = np.full(x.shape[0], self.baseline)
        rows = np.arange(x.shape[0])
        for t in self.trees:
            idx = np.zeros(x.shape[0], dtype=np.int64)
            while True:
                inner = ~t["is_leaf"][idx]
                if not inner.any():
                    break
                r, n = rows[inner], idx[inner]
                v = x[r, t["feature"][n]]
                left = np.where(np.isnan(v), t["missing_left"][n], v <= t["threshold"][n])
                idx[inner] = np.where(left, t["left"][n], t["right"][n])
            out += t["value"][idx]
        return out

    def predict_last(self, history: np.ndarray) -> float:
        """RUL in cycles at the last row of a history that starts at the asset's last repair, in [0, cap]."""
        feats = fleet_features(np.asarray(history, dtype=float), self.window)[-1:]
        return float(np.clip(self.predict_features(feats)[0], 0, self.cap))

    def to_doc(self) -> dict[str, Any]:
        return {"format": FORMAT, "equipment_type": self.equipment_type, "signals": list(self.signals),
                "baseline": self.baseline, "interval": list(self.interval), "likely_mode": self.likely_mode,
                "window": self.window, "cap": self.cap, "metrics": dict(self.metrics),
                "trees": [{k: v.tolist() for k, v in t.items()} for t in self.trees]}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> LearnedRulModel:
        if doc.get("format") != FORMAT:
            raise ValueError(f"unsupported RUL model format: {doc.get('format')!r}")
        kinds = {"is_leaf": bool, "missing_left": bool, "feature": np.int64, "left": np.int64, "right": np.int64,
                 "threshold": float, "value": float}
        trees = tuple({k: np.asarray(t[k], dtype=kinds[k]) for k in kinds} for t in doc["trees"])
        lo, hi = doc["interval"]
        return cls(doc["equipment_type"], tuple(doc["signals"]), float(doc["baseline"]), trees,
                   (float(lo), float(hi)), doc.get("likely_mode"), dict(doc.get("metrics") or {}),
                   int(doc["window"]), int(doc["cap"]))


def export(reg: RulModel, equipment_type: str, signals: Sequence[str], interval: tuple[float, float],
           likely_mode: str | None, metrics: Mapping[str, Any]) -> LearnedRulModel:
    """Copy a fitted :class:`RulModel`'s trees into plain arrays (sklearn's HistGradientBoosting predictors)."""
    est = reg._reg
    trees = []
    for (pred,) in est._predictors:
        n = pred.nodes
        trees.append({"is_leaf": n["is_leaf"].astype(bool), "missing_left": n["missing_go_to_left"].astype(bool),
                      "feature": n["feature_idx"].astype(np.int64), "left": n["left"].astype(np.int64),
                      "right": n["right"].astype(np.int64), "threshold": n["num_threshold"].astype(float),
                      "value": n["value"].astype(float)})
    base = float(np.ravel(est._baseline_prediction)[0])
    return LearnedRulModel(equipment_type, tuple(signals), base, tuple(trees), interval, likely_mode,
                           dict(metrics), reg.window, reg.cap)


def _fit(histories: Sequence[np.ndarray], censored: Sequence[np.ndarray], max_iter: int) -> RulModel:
    # One thread: on a few thousand rows OpenMP's per-iteration overhead dominates, and on a busy 2-core host
    # a threaded fit measured 14-18 s against 1 s single-threaded (same trees).
    with threadpool_limits(1):
        return RulModel(window=WINDOW_CYCLES, max_iter=max_iter, cap=CAP_CYCLES,
                        features=fleet_features).fit(histories, censored)


def train_learned(equipment_type: str, signals: Sequence[str], failures: Sequence[Failure],
                  censored: Sequence[np.ndarray] = (), *, max_iter: int = 150, seed: int = 0) -> LearnedRulModel:
    """Fit on every failure (and censored healthy lives: assets that ran ``CAP_CYCLES`` past their end without
    failing); the interval and metrics come from a fit without a held-out quarter of the assets and lives.

    Raises ValueError with fewer than four usable histories (nothing to hold out).
    """
    usable = [f for f in failures if len(f.history) >= MIN_CYCLES]
    if len(usable) < 4:
        raise ValueError(f"only {len(usable)} run-to-failure histories of {MIN_CYCLES}+ cycles; need 4")
    lives = [h for h in censored if len(h) >= MIN_CYCLES]
    devices = sorted({f.device_id for f in usable})
    rng = np.random.default_rng(seed)
    held = set(rng.choice(devices, size=max(1, round(HOLDOUT_FRAC * len(devices))), replace=False).tolist())
    train = [f.history for f in usable if f.device_id not in held]
    test = [f for f in usable if f.device_id in held]
    if not train:  # one asset failed every time: hold out its latest failures instead
        train, test = [f.history for f in usable[:-1]], usable[-1:]
    n_held_lives = round(HOLDOUT_FRAC * len(lives))
    probe = export(_fit(train, lives[n_held_lives:], max_iter), equipment_type, signals, (0.0, 0.0), None, {})
    false_alarms = [probe.predict_features(fleet_features(h, WINDOW_CYCLES)) < HEALTHY_FRAC * CAP_CYCLES
                    for h in lives[:n_held_lives]]
    errors, preds, truth = [], [], []
    for f in test:  # every cycle of a held-out history, as a live estimate would have seen it
        x = fleet_features(f.history, WINDOW_CYCLES)
        p = np.clip(probe.predict_features(x), 0, CAP_CYCLES)
        y = capped_rul(len(f.history), CAP_CYCLES)
        errors.append(y - p)
        preds.append(p)
        truth.append(y)
    err = np.concatenate(errors)
    p_all, y_all = np.concatenate(preds), np.concatenate(truth)
    near = y_all < CAP_CYCLES  # the part of a life where a failure is coming: what the estimate is for
    q_lo, q_hi = (float(np.quantile(err, q)) for q in INTERVAL_Q)
    modes = [f.fault_mode for f in usable]
    metrics = {
        "failures": len(usable), "assets": len(devices), "held_out_assets": len(held),
        "cycle_s": CYCLE_S, "cap_cycles": CAP_CYCLES,
        "holdout_rmse_h": round(float(np.sqrt(np.mean(err ** 2))) * CYCLE_S / 3600, 3),
        "holdout_rmse_near_failure_h": (round(float(np.sqrt(np.mean((y_all[near] - p_all[near]) ** 2)))
                                        * CYCLE_S / 3600, 3) if near.any() else None),
        "interval_coverage": round(float(np.mean((err >= q_lo) & (err <= q_hi))), 3),
        "censored_lives": len(lives), "held_out_lives": n_held_lives,
        # share of held-out healthy cycles the model called degrading (a false "failure coming")
        "healthy_false_alarm_rate": (round(float(np.mean(np.concatenate(false_alarms))), 4)
                                     if false_alarms else None),
    }
    final = _fit([f.history for f in usable], lives, max_iter)
    return export(final, equipment_type, signals, (q_lo, q_hi), max(set(modes), key=modes.count), metrics)


def bucket_history(rows: Sequence[tuple[float, str, float]], signals: Sequence[str], start: float,
                   end: float) -> np.ndarray:
    """(bucket start s, signal, mean) rows -> cycles x signals over [start, end) in CYCLE_S steps, with gaps
    forward-filled (and leading gaps back-filled); an empty result when a signal never reported."""
    first = start - start % CYCLE_S
    n = int(max(0.0, end - first) // CYCLE_S)
    out = np.full((n, len(signals)), np.nan)
    col = {s: j for j, s in enumerate(signals)}
    for b, sig, v in rows:
        i = int((b - first) // CYCLE_S)
        if 0 <= i < n and sig in col:
            out[i, col[sig]] = v
    for j in range(out.shape[1]):
        c = out[:, j]
        ok = ~np.isnan(c)
        if not ok.any():
            return np.empty((0, len(signals)))
        idx = np.where(ok, np.arange(n), 0)
        np.maximum.accumulate(idx, out=idx)
        c[:] = c[idx]
        c[: int(np.argmax(ok))] = c[int(np.argmax(ok))]
    return out
