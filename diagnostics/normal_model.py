"""Learned model of normal behaviour: what each signal should read given all the others.

Why this shape: equipment signals move together with the load / operating point over the day, so a fixed
threshold is either blind at low load or noisy at high load. Predicting each signal from the others (ridge
regression on standardised data, MSET-like) turns that shared movement into small residuals, and a fault
shows up as a residual on the signals it affects -- which is also the explanation a technician wants.
A PCA on the same standardised data adds Hotelling T^2 (unusual operating point) and Q/SPE (broken
correlation) for faults that shift several signals coherently.

Serialisation is JSON (not pickle) so that loading a model stored in the database can never execute code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge

FORMAT = "quietfix.normal_model/1"
RIDGE_ALPHA = 1.0  # mild shrinkage: signals are standardised, keeps collinear pairs (flow/current) stable
PCA_VARIANCE = 0.9  # components kept for T^2/Q; 90 % of healthy variance is load, the rest is noise
LIMIT_QUANTILE = 0.995  # alarm limits at the 99.5th healthy percentile: ~0.5 % raw false alarm before smoothing
MIN_SCALE = 1e-6  # floor for standard deviations so constant training signals do not divide by zero


@dataclass(frozen=True)
class ModelScore:
    """Scores of one sample: combined ``score`` (>= 1 is abnormal) and per-signal residual z-scores."""

    score: float
    t2: float
    q: float
    residual_z: dict[str, float]


class NormalModel:
    """Trained normal-behaviour model for one equipment type or asset; immutable once built."""

    def __init__(self, *, equipment_type: str, version: str, signals: Sequence[str], params: Mapping[str, Any]):
        self.equipment_type = equipment_type
        self.version = version
        self.signals: tuple[str, ...] = tuple(signals)
        self._p = {k: np.asarray(v, dtype=float) for k, v in params.items()}

    # ---------------------------------------------------------------- scoring
    def score_matrix(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised scoring of rows ``x`` (n x signals): (score, t2, q, residual_z n x signals)."""
        p = self._p
        z = (np.asarray(x, dtype=float) - p["mean"]) / p["scale"]
        n_sig = z.shape[1]
        pred = np.empty_like(z)
        for j in range(n_sig):
            others = np.delete(z, j, axis=1)
            pred[:, j] = others @ p["coef"][j] + p["intercept"][j]
        rz = (z - pred) / p["resid_std"]
        t = (z - p["pca_mean"]) @ p["components"].T
        t2 = np.sum(t * t / p["eigen"], axis=1)
        recon = t @ p["components"] + p["pca_mean"]
        q = np.sum((z - recon) ** 2, axis=1)
        r2 = np.sqrt(np.mean(rz * rz, axis=1))
        score = np.maximum.reduce([t2 / p["t2_limit"], q / p["q_limit"], r2 / p["r_limit"]])
        return score, t2, q, rz

    def score(self, values: Mapping[str, float]) -> ModelScore:
        """Score one sample given as {signal: value}; every model signal must be present."""
        x = np.array([[float(values[s]) for s in self.signals]])
        s, t2, q, rz = self.score_matrix(x)
        return ModelScore(float(s[0]), float(t2[0]), float(q[0]),
                          {sig: float(rz[0, j]) for j, sig in enumerate(self.signals)})

    # ---------------------------------------------------------- serialisation
    def to_bytes(self) -> bytes:
        doc = {"format": FORMAT, "equipment_type": self.equipment_type, "version": self.version,
               "signals": list(self.signals), "params": {k: v.tolist() for k, v in self._p.items()}}
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> NormalModel:
        doc = json.loads(data.decode())
        if doc.get("format") != FORMAT:
            raise ValueError(f"unsupported normal model format: {doc.get('format')!r}")
        return cls(equipment_type=doc["equipment_type"], version=doc["version"], signals=doc["signals"],
                   params=doc["params"])


def fit_matrix(x: np.ndarray, signals: Sequence[str], *, equipment_type: str, version: str) -> NormalModel:
    """Fit on a healthy matrix (rows x signals). Needs at least ``len(signals) + 2`` rows."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != len(signals) or x.shape[0] < len(signals) + 2:
        raise ValueError("need a rows x signals matrix with more rows than signals")
    mean = x.mean(axis=0)
    scale = np.maximum(x.std(axis=0), MIN_SCALE)
    z = (x - mean) / scale
    n_sig = z.shape[1]
    coef = np.zeros((n_sig, max(n_sig - 1, 1)))
    intercept = np.zeros(n_sig)
    resid_std = np.ones(n_sig)
    for j in range(n_sig):
        others = np.delete(z, j, axis=1)
        if others.shape[1] == 0:
            continue
        reg = Ridge(alpha=RIDGE_ALPHA).fit(others, z[:, j])
        coef[j] = reg.coef_
        intercept[j] = reg.intercept_
        resid_std[j] = max(float(np.std(z[:, j] - reg.predict(others))), MIN_SCALE)
    pca = PCA(n_components=PCA_VARIANCE, svd_solver="full").fit(z)
    params: dict[str, Any] = {
        "mean": mean, "scale": scale, "coef": coef, "intercept": intercept, "resid_std": resid_std,
        "pca_mean": pca.mean_, "components": pca.components_,
        "eigen": np.maximum(pca.explained_variance_, MIN_SCALE),
        "t2_limit": 1.0, "q_limit": 1.0, "r_limit": 1.0,
    }
    model = NormalModel(equipment_type=equipment_type, version=version, signals=signals, params=params)
    _, t2, q, rz = model.score_matrix(x)
    r2 = np.sqrt(np.mean(rz * rz, axis=1))
    params["t2_limit"] = max(float(np.quantile(t2, LIMIT_QUANTILE)), MIN_SCALE)
    params["q_limit"] = max(float(np.quantile(q, LIMIT_QUANTILE)), MIN_SCALE)
    params["r_limit"] = max(float(np.quantile(r2, LIMIT_QUANTILE)), MIN_SCALE)
    return NormalModel(equipment_type=equipment_type, version=version, signals=signals, params=params)


def train_normal_model(equipment_type: str, rows: Sequence[Mapping[str, float]], *, version: str,
                       signals: Sequence[str] | None = None) -> NormalModel:
    """Train from healthy history rows ({signal: value}); signals default to those present in every row."""
    if not rows:
        raise ValueError("no training rows")
    if signals is None:
        common = set(rows[0])
        for r in rows[1:]:
            common &= set(r)
        signals = sorted(common)
    x = np.array([[float(r[s]) for s in signals] for r in rows])
    x = x[np.all(np.isfinite(x), axis=1)]
    return fit_matrix(x, signals, equipment_type=equipment_type, version=version)
