"""Learned model of normal behaviour: what each signal should read at the current operating point.

Why this shape: equipment signals move together with the load / operating point over the day, so a fixed
threshold is either blind at low load or noisy at high load. The operating point is the first principal
components of healthy standardised data (``OP_VARIANCE``); each sample's operating point is estimated
*robustly* -- re-fitted without the signals that look faulty -- so one faulty signal does not smear
residuals onto its healthy neighbours. The per-signal residual z-scores are then the explanation a
technician wants ("flow 6 sigma below what this load implies"). Hotelling T^2 and Q/SPE from the full PCA
add sensitivity to faults that shift several signals coherently.

The model also carries *shift statistics* for steady-state equipment (a test rig, a constant-speed pump)
where the signals themselves, not residuals, should stay put: the standardised signal vector is smoothed by an
EWMA (``shift_alpha``) and compared with its healthy mean through the healthy covariance *of the smoothed
vector*. Learning the spread after smoothing is what makes one limit fit all signals: a white-noise signal
shrinks under the EWMA (a small sustained shift stands out), a slowly wandering thermal signal does not (its
healthy wander is not mistaken for a fault). See :mod:`diagnostics.shift` for the alarm stage.

Serialisation is JSON (not pickle) so that loading a model stored in the database can never execute code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import lfilter
from sklearn.decomposition import PCA

from diagnostics.config import equipment_config

FORMAT = "quietfix.normal_model/1"
OP_VARIANCE = 0.8  # operating-point components: enough to explain 80 % of healthy variance (load, ambient)
ROBUST_Z = 4.0  # worst signal above this |residual z| is dropped, one at a time, and the operating point refitted
PCA_VARIANCE = 0.9  # components kept for T^2/Q; 90 % of healthy variance is load, the rest is noise
LIMIT_QUANTILE = 0.995  # alarm limits at the 99.5th healthy percentile: ~0.5 % raw false alarm before smoothing
MIN_SCALE = 1e-6  # floor for standard deviations so constant training signals do not divide by zero
SHIFT_ALPHA = 0.1  # EWMA weight of the shift statistics (~10 s memory at 1 Hz); chosen on SKAB by leave-one-file-out
SHIFT_WARMUP = 5.0  # EWMA time constants skipped before learning the smoothed covariance (start-up transient)


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
        rz = self._residual_z(z)
        t = (z - p["pca_mean"]) @ p["components"].T
        t2 = np.sum(t * t / p["eigen"], axis=1)
        recon = t @ p["components"] + p["pca_mean"]
        q = np.sum((z - recon) ** 2, axis=1)
        r2 = np.sqrt(np.mean(rz * rz, axis=1))
        score = np.maximum.reduce([t2 / p["t2_limit"], q / p["q_limit"], r2 / p["r_limit"]])
        return score, t2, q, rz

    # ----------------------------------------------------------- shift stats
    @property
    def shift_alpha(self) -> float | None:
        """EWMA weight the shift statistics were fitted with; None for models stored before they existed."""
        a = self._p.get("shift_alpha")
        return None if a is None else float(a)

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """Signals in healthy-training z units (rows x signals)."""
        return (np.asarray(x, dtype=float) - self._p["mean"]) / self._p["scale"]

    def shift_distance(self, smoothed_z: np.ndarray) -> np.ndarray:
        """RMS whitened distance of EWMA-smoothed z rows from their healthy mean (~1 when healthy)."""
        d = np.atleast_2d(smoothed_z) - self._p["shift_mean"]
        w = d @ self._p["shift_whiten"]
        return np.sqrt(np.mean(w * w, axis=1))

    def shift_matrix(self, x: np.ndarray, init: np.ndarray | None = None) -> np.ndarray:
        """Vectorised shift distance of consecutive rows ``x``; the EWMA starts at the first row (or ``init``).

        Identical to feeding the rows one by one to :class:`diagnostics.shift.ShiftTracker`.
        """
        if self.shift_alpha is None:
            raise ValueError("model has no shift statistics (trained before they existed): retrain it")
        return self.shift_distance(ewma_rows(self.standardise(x), self.shift_alpha, init))

    def _residual_z(self, z: np.ndarray) -> np.ndarray:
        """Residual z per signal after robustly estimating each row's operating point."""
        p = self._p
        load = p["op_loadings"]  # signals x k
        k = load.shape[1]
        w = np.ones_like(z)
        rows = np.arange(z.shape[0])
        for _ in range(max(0, z.shape[1] - k - 1)):
            rz = self._fit_rows(z, w, load)
            masked = np.where(w > 0, np.abs(rz), -1.0)
            worst = np.argmax(masked, axis=1)
            drop = (masked[rows, worst] > ROBUST_Z) & (w.sum(axis=1) > k + 1)
            if not drop.any():
                return rz
            w[rows[drop], worst[drop]] = 0.0
        return self._fit_rows(z, w, load)

    def _fit_rows(self, z: np.ndarray, w: np.ndarray, load: np.ndarray) -> np.ndarray:
        """Weighted least-squares operating point per row, then residual z for every signal."""
        k = load.shape[1]
        a = np.einsum("ni,ik,il->nkl", w, load, load) + 1e-6 * np.eye(k)
        b = np.einsum("ni,ik,ni->nk", w, load, z)
        op = np.linalg.solve(a, b[..., None])[..., 0]
        return (z - op @ load.T) / self._p["resid_std"]

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


def ewma_rows(z: np.ndarray, alpha: float, init: np.ndarray | None = None) -> np.ndarray:
    """Exponentially weighted moving average down the rows of ``z``; row 0 of the output is ``init`` blended
    with row 0 (``init`` defaults to row 0 itself, i.e. no start-up bias)."""
    z = np.atleast_2d(np.asarray(z, dtype=float))
    start = z[0] if init is None else np.asarray(init, dtype=float)
    zi = ((1 - alpha) * start)[None, :]
    out, _ = lfilter([alpha], [1.0, -(1 - alpha)], z, axis=0, zi=zi)
    return out


def _shift_params(z: np.ndarray, alpha: float) -> dict[str, Any]:
    """Healthy mean and whitening matrix of the EWMA-smoothed standardised signals."""
    skip = min(math.ceil(SHIFT_WARMUP / alpha), z.shape[0] // 2)
    sm = ewma_rows(z, alpha)[skip:]
    mu = sm.mean(axis=0)
    cov = np.atleast_2d(np.cov((sm - mu).T))
    vals, vecs = np.linalg.eigh(cov)
    floor = max(float(vals.max()) * 1e-6, MIN_SCALE ** 2)
    whiten = vecs / np.sqrt(np.maximum(vals, floor))  # d @ whiten has identity covariance on healthy data
    return {"shift_alpha": alpha, "shift_mean": mu, "shift_whiten": whiten}


def fit_matrix(x: np.ndarray, signals: Sequence[str], *, equipment_type: str, version: str,
               shift_alpha: float = SHIFT_ALPHA) -> NormalModel:
    """Fit on a healthy matrix (rows x signals) of consecutive samples. Needs ``len(signals) + 2`` rows.

    Row order matters only for the shift statistics (they smooth over time); ``shift_alpha`` is a
    training-time parameter because the smoothed covariance depends on it.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != len(signals) or x.shape[0] < len(signals) + 2:
        raise ValueError("need a rows x signals matrix with more rows than signals")
    mean = x.mean(axis=0)
    scale = np.maximum(x.std(axis=0), MIN_SCALE)
    z = (x - mean) / scale
    n_sig = z.shape[1]
    full = PCA(svd_solver="full").fit(z)
    k_op = int(np.searchsorted(np.cumsum(full.explained_variance_ratio_), OP_VARIANCE) + 1)
    k_op = max(1, min(k_op, n_sig - 2))
    load = full.components_[:k_op].T  # signals x k, orthonormal columns
    resid = z - (z @ load) @ load.T
    resid_std = np.maximum(resid.std(axis=0), MIN_SCALE)
    pca = PCA(n_components=PCA_VARIANCE, svd_solver="full").fit(z)
    params: dict[str, Any] = {
        "mean": mean, "scale": scale, "op_loadings": load, "resid_std": resid_std,
        "pca_mean": pca.mean_, "components": pca.components_,
        "eigen": np.maximum(pca.explained_variance_, MIN_SCALE),
        "t2_limit": 1.0, "q_limit": 1.0, "r_limit": 1.0,
        **_shift_params(z, shift_alpha),
    }
    model = NormalModel(equipment_type=equipment_type, version=version, signals=signals, params=params)
    _, t2, q, rz = model.score_matrix(x)
    r2 = np.sqrt(np.mean(rz * rz, axis=1))
    params["t2_limit"] = max(float(np.quantile(t2, LIMIT_QUANTILE)), MIN_SCALE)
    params["q_limit"] = max(float(np.quantile(q, LIMIT_QUANTILE)), MIN_SCALE)
    params["r_limit"] = max(float(np.quantile(r2, LIMIT_QUANTILE)), MIN_SCALE)
    return NormalModel(equipment_type=equipment_type, version=version, signals=signals, params=params)


def train_normal_model(equipment_type: str, rows: Sequence[Mapping[str, float]], *, version: str,
                       signals: Sequence[str] | None = None, shift_alpha: float | None = None) -> NormalModel:
    """Train from healthy history rows ({signal: value}); signals default to those present in every row.

    ``shift_alpha`` defaults to the equipment type's ``model.shift_alpha`` in the diagnostics config (so it is
    tuned per type without a code change), else ``SHIFT_ALPHA``.
    """
    if not rows:
        raise ValueError("no training rows")
    if signals is None:
        common = set(rows[0])
        for r in rows[1:]:
            common &= set(r)
        signals = sorted(common)
    x = np.array([[float(r[s]) for s in signals] for r in rows])
    x = x[np.all(np.isfinite(x), axis=1)]
    if shift_alpha is None:
        shift_alpha = configured_shift_alpha(equipment_type)
    return fit_matrix(x, signals, equipment_type=equipment_type, version=version, shift_alpha=shift_alpha)


def configured_shift_alpha(equipment_type: str, config: Mapping[str, Any] | None = None) -> float:
    """``model.shift_alpha`` of the effective config for this type; ``SHIFT_ALPHA`` for unknown types."""
    try:
        return float(equipment_config(equipment_type, config).get("model", {}).get("shift_alpha", SHIFT_ALPHA))
    except KeyError:
        return SHIFT_ALPHA
