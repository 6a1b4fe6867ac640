"""SKAB benchmark for quietfix's model-based detector (``skab_valve`` config: EWMA shift distance -> limit/hold).

Protocol (SKAB "Proposed Leaderboard", see DIR/LEADERBOARD.md): each labelled CSV is split into its first
400 rows (assumed normal, used to fit) and the rest (scored). Point metrics sum TP/FP/TN/FN over files:
F1 = TP / (TP + (FP + FN) / 2), FAR = FP / (FP + TN) * 100, MAR = FN / (FN + TP) * 100. Changepoints are
scored with SKAB's NAB implementation (windows of 60 s to the right of each true changepoint, standard
profile A_tp=1, A_fp=-0.11, A_fn=-1, sigmoid over the window extended by a quarter), after turning point
predictions into changepoints with ``rolling(30).max().diff().abs()`` as the upstream notebooks do.

Hyper-parameters are global (same for every file). The headline figures are *leave-one-file-out*: for each
file, the grid below is searched on the other 15 files (criterion: pooled F1) and the winner is applied to
the held-out file; the held-out predictions are pooled. The shipped ``skab_valve`` config (the winner on all
16 files) is also run, through the live streaming path (``DeviceMonitor``), and reported separately as
in-sample. The anomaly-free file (not part of the protocol) is a further out-of-sample false-alarm check.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from diagnostics import shift
from diagnostics.config import equipment_config
from diagnostics.detectors import Cusum
from diagnostics.monitor import DeviceMonitor
from diagnostics.normal_model import NormalModel, fit_matrix

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAIN_ROWS = 400  # upstream protocol: first 400 rows of each file are the normal training part
NAB_WINDOW = 60  # seconds (= rows at 1 Hz) right of each changepoint, current leaderboard
CP_ROLL = 30  # upstream notebooks: prediction.rolling(30).max().diff().abs()
NAB_STANDARD = (1.0, -0.11, -1.0)  # (A_tp, A_fp, A_fn) of NAB's standard profile

EQUIPMENT = "skab_valve"  # equipment type in diagnostics/default_config.json
SIGNALS = ("accelerometer1_rms_g", "accelerometer2_rms_g", "current_a", "pressure_bar", "temperature_c",
           "thermocouple_c", "voltage_v", "flow_rate_rms")  # SKAB column order, product signal names
# Grid searched leave-one-file-out (global parameters; the held-out file never takes part in its choice).
GRID = {"shift_alpha": (0.05, 0.1, 0.2), "shift_limit": (3.0, 4.0, 5.0, 6.0, 7.0),
        "shift_min_duration_s": (0.0, 4.0), "shift_hold_s": (0.0, 30.0, 60.0)}
FAR_CAP = 15.0  # secondary, declared selection rule: best F1 among points with FAR <= 15 % on the other files
# Previous detector, kept as a baseline line: CUSUM on log(normal-model score), k=0, h=5, clear 25 %.
CUSUM_K, CUSUM_H, CUSUM_CLEAR = 0.0, 5.0, 0.25


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
    """A SKAB CSV; files without labels (anomaly-free) get all-zero label columns."""
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    header = rows[0]
    data = np.array([[float(v) for v in r[1:]] for r in rows[1:] if r])
    cols = header[1:]
    if "anomaly" not in cols:
        zeros = np.zeros(len(data), dtype=int)
        return Labelled(path.name, data, zeros, zeros)
    ia, ic = cols.index("anomaly"), cols.index("changepoint")
    feats = [i for i in range(len(cols)) if i not in (ia, ic)]
    return Labelled(path.name, data[:, feats], data[:, ia].astype(int), data[:, ic].astype(int))


def fit(train: np.ndarray, alpha: float) -> NormalModel:
    signals = SIGNALS if train.shape[1] == len(SIGNALS) else tuple(f"s{i}" for i in range(train.shape[1]))
    return fit_matrix(train, signals, equipment_type=EQUIPMENT, version="bench", shift_alpha=alpha)


def shift_distance(x: np.ndarray, alpha: float) -> np.ndarray:
    """Shift distance of every row of a file (the EWMA runs through the training rows into the test rows)."""
    return fit(x[:TRAIN_ROWS], alpha).shift_matrix(x)


def detect(x: np.ndarray, params: dict[str, float], distance: np.ndarray | None = None) -> np.ndarray:
    """0/1 prediction for the test rows of one file, vectorised (same maths as the streaming monitor)."""
    d = shift_distance(x, params["shift_alpha"]) if distance is None else distance
    t = np.arange(len(d), dtype=float)  # SKAB samples at 1 Hz
    alarm = shift.alarm_series(t, d, params["shift_limit"], params["shift_min_duration_s"], params["shift_hold_s"])
    return alarm[TRAIN_ROWS:]


def detect_streaming(x: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, int]:
    """The live path: a DeviceMonitor for ``skab_valve`` fed sample by sample; (model alarm per test row,
    number of other findings (sensor-health) raised on the test rows)."""
    cfg = equipment_config(EQUIPMENT, config)
    model = fit(x[:TRAIN_ROWS], float(cfg["model"]["shift_alpha"]))
    mon = DeviceMonitor("skab", EQUIPMENT, config, model)
    out = np.zeros(len(x) - TRAIN_ROWS, dtype=int)
    others = 0
    for i, row in enumerate(x):
        found = mon.observe(float(i), dict(zip(SIGNALS, map(float, row))))
        if i >= TRAIN_ROWS:
            out[i - TRAIN_ROWS] = any(f.kind == "model_deviation" for f in mon.active())
            others += sum(f.kind != "model_deviation" for f in found)
    return out, others


def detect_cusum(x: np.ndarray) -> np.ndarray:
    """Baseline (previous method): CUSUM on log(normal-model score / healthy 99.5 % limit)."""
    model = fit(x[:TRAIN_ROWS], 0.1)
    log_score = np.log(np.maximum(model.score_matrix(x[TRAIN_ROWS:])[0], 1e-9))
    cusum = Cusum(k=CUSUM_K, h=CUSUM_H, clear=CUSUM_CLEAR)
    return np.array([1 if cusum.step(float(v)) > 0 else 0 for v in log_score], dtype=int)


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


def episode_changepoints(pred: np.ndarray) -> np.ndarray:
    """The detector's own changepoints: first row of each alarm episode and first row after it."""
    out = np.zeros(len(pred), dtype=int)
    for lo, hi in shift.episodes(pred):
        out[lo] = 1
        if hi + 1 < len(pred):
            out[hi + 1] = 1
    return out


def evaluate(files: list[Labelled], preds: list[np.ndarray]) -> dict[str, Any]:
    """Pooled point metrics, NAB (upstream CP conversion and the detector's own episodes), per-file spread."""
    counts = [point_counts(f.anomaly[TRAIN_ROWS:], p) for f, p in zip(files, preds)]
    m: dict[str, Any] = point_metrics(*(sum(c[i] for c in counts) for i in range(4)))
    m["nab_standard"] = nab_normalised([nab_file(f.changepoint[TRAIN_ROWS:], to_changepoints(p))
                                        for f, p in zip(files, preds)])
    m["nab_standard_episodes"] = nab_normalised([nab_file(f.changepoint[TRAIN_ROWS:], episode_changepoints(p))
                                                 for f, p in zip(files, preds)])
    per = [point_metrics(*c) for c in counts]
    for key in ("f1", "far"):
        v = np.array([x[key] for x in per])
        m[f"per_file_{key}"] = {"min": float(v.min()), "median": float(np.median(v)), "max": float(v.max())}
    m["per_file_counts"] = {f.name: c for f, c in zip(files, counts)}
    return m


def grid() -> list[dict[str, float]]:
    keys = list(GRID)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(GRID[k] for k in keys))]


def leave_one_file_out(files: list[Labelled], far_cap: float | None = None
                       ) -> tuple[list[np.ndarray], list[dict[str, float]], list[dict]]:
    """Held-out predictions: each file is predicted with the grid point that maximises pooled F1 (ties: lower
    FAR) on the *other* files, optionally only among points whose pooled FAR there is <= ``far_cap`` %.
    Returns (predictions, chosen params per file, full grid)."""
    points = grid()
    dist = {a: [shift_distance(f.x, a) for f in files] for a in GRID["shift_alpha"]}
    preds = [[detect(f.x, p, dist[p["shift_alpha"]][i]) for i, f in enumerate(files)] for p in points]
    counts = np.array([[point_counts(f.anomaly[TRAIN_ROWS:], pr[i]) for i, f in enumerate(files)]
                       for pr in preds])  # grid x files x (tp, tn, fp, fn)
    held, chosen = [], []
    for i in range(len(files)):
        tot = counts.sum(axis=1) - counts[:, i]
        ms = [point_metrics(*map(int, t)) for t in tot]
        keyed = [(far_cap is None or m["far"] <= far_cap, m["f1"], -m["far"]) for m in ms]
        best = max(range(len(points)), key=lambda j: keyed[j])
        held.append(preds[best][i])
        chosen.append(points[best])
    return held, chosen, points


def fmt(m: dict[str, Any]) -> dict[str, float]:
    return {k: round(float(m[k]), 4 if k == "f1" else 2) for k in ("f1", "far", "mar", "nab_standard", "nab_standard_episodes")}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets/skab"),
                    help="SKAB folder, relative paths resolve against the repo root (default %(default)s)")
    args = ap.parse_args(argv)
    data = resolve_data(args.data)
    paths = sorted((p for p in data.rglob("*.csv") if "anomaly-free" not in p.parts),
                   key=lambda p: (p.parent.name, int(p.stem) if p.stem.isdigit() else 0, p.stem))
    if not paths:
        raise SystemExit(f"no labelled CSV files under {data}")
    print(f"detect_skab: {len(paths)} labelled files under {data}", file=sys.stderr)
    t0 = time.time()
    files = [load_csv(p) for p in paths]

    held, chosen, points = leave_one_file_out(files)
    lofo = evaluate(files, held)
    picks = Counter(json.dumps(c, sort_keys=True) for c in chosen)
    capped = evaluate(files, leave_one_file_out(files, far_cap=FAR_CAP)[0])

    shipped_params = {k: float(v) for k, v in equipment_config(EQUIPMENT)["model"].items() if k in GRID}
    streamed = [detect_streaming(f.x) for f in files]
    vectorised = [detect(f.x, shipped_params) for f in files]
    same = all(np.array_equal(s[0], v) for s, v in zip(streamed, vectorised))
    shipped = evaluate(files, [s[0] for s in streamed])
    baseline = evaluate(files, [detect_cusum(f.x) for f in files])

    free_far = free_far_10 = None
    free = [load_csv(p) for p in sorted(data.rglob("*.csv")) if "anomaly-free" in p.parts]
    if free:
        alarms = [detect(f.x, shipped_params) for f in free]
        free_far = 100 * sum(int(a.sum()) for a in alarms) / sum(len(a) for a in alarms)
        free_far_10 = 100 * sum(int(a[:600].sum()) for a in alarms) / sum(len(a[:600]) for a in alarms)

    print("per file (held-out params | tp,tn,fp,fn):", file=sys.stderr)
    for f, c in zip(files, chosen):
        print(f"  {f.name}: {lofo['per_file_counts'][f.name]}  chosen {c}", file=sys.stderr)
    print(f"grid: {len(points)} points {GRID}; selection: max pooled F1 on the other files (ties: lower FAR)",
          file=sys.stderr)
    print(f"leave-one-file-out: {fmt(lofo)}", file=sys.stderr)
    print(f"shipped config {shipped_params} (chosen on all 16 files, in-sample): {fmt(shipped)}; "
          f"streaming == vectorised: {same}", file=sys.stderr)
    print(f"baseline CUSUM on normal-model score: {fmt(baseline)}", file=sys.stderr)
    print(f"leave-one-file-out, only grid points with FAR <= {FAR_CAP} % on the other files: {fmt(capped)}",
          file=sys.stderr)
    if free_far is not None:
        print(f"anomaly-free file (fit on its first {TRAIN_ROWS} rows), shipped config: FAR {free_far:.2f} % over "
              f"the remaining {sum(len(f.x) - TRAIN_ROWS for f in free)} rows, {free_far_10:.2f} % in the first "
              "600 (slow warm-up drift over hours: see docs)", file=sys.stderr)
    result = {
        "method": "EWMA(alpha) of standardised signals -> whitened distance vs healthy smoothed covariance "
                  "-> limit + min duration + hold (diagnostics.shift, config skab_valve)",
        "evaluation": "leave-one-file-out over the grid (params chosen on the other 15 files by pooled F1)",
        **fmt(lofo), "files": len(files),
        "per_file_f1": {k: round(v, 3) for k, v in lofo["per_file_f1"].items()},
        "per_file_far": {k: round(v, 2) for k, v in lofo["per_file_far"].items()},
        "lofo_choices": {k: v for k, v in picks.most_common()},
        f"lofo_far_cap_{FAR_CAP:g}": fmt(capped),
        "shipped": {"params": shipped_params, "in_sample": True, **fmt(shipped),
                    "streaming_equals_vectorised": same,
                    "other_findings": int(sum(s[1] for s in streamed)),
                    "anomaly_free_far": None if free_far is None else round(free_far, 2),
                    "anomaly_free_far_first_600": None if free_far_10 is None else round(free_far_10, 2)},
        "baseline_cusum": fmt(baseline),
        "params": {"train_rows": TRAIN_ROWS, "nab_window_s": NAB_WINDOW, "grid": GRID},
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
