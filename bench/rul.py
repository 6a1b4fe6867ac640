"""C-MAPSS FD001 RUL benchmark for diagnostics.rul (5-fold GroupKFold over whole engines).

Each held-out engine is truncated at a random cycle and the model predicts RUL at that last observed cycle;
truth is the true remaining cycles (uncapped, as in RUL_FD001.txt). Two truncation schemes: uniform over
the whole life (``rmse``/``score``; truths up to ~330 that no capped model can reach) and "official-like",
with the true RUL uniform over the official key's 7..145 range (``official_like``), closer to how FD001
test numbers in the literature are produced.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold

from bench.detect_skab import resolve_data
from diagnostics.rul import MAX_ITER, RUL_CAP, WINDOW, RulModel, phm08_score, rmse

# Sensors that carry FD001's degradation signal; the other 7 are constant at sea-level conditions.
SENSORS = (2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21)
MIN_PREFIX = 31  # shortest truncated history evaluated; the official test set's shortest is 31 cycles
OFFICIAL_RUL = (7, 145)  # true-RUL range of the official FD001 test key (RUL_FD001.txt)


def load(path: Path) -> dict[int, np.ndarray]:
    """unit -> cycles x informative sensors."""
    raw = np.loadtxt(path)
    cols = [4 + s for s in SENSORS]  # unit, cycle, 3 settings, then sensor 1 at column 5 (0-based 5)
    return {int(u): raw[raw[:, 0] == u][:, cols] for u in np.unique(raw[:, 0])}


def truncations(units: dict[int, np.ndarray], seed: int) -> dict[int, int]:
    rng = np.random.default_rng(seed)
    return {u: int(rng.integers(min(MIN_PREFIX, len(h)), len(h) + 1)) for u, h in units.items()}


def official_like_truncations(units: dict[int, np.ndarray], seed: int) -> dict[int, int]:
    """Cut so the true RUL is uniform over the official test key's range (7..145), prefix >= MIN_PREFIX."""
    rng = np.random.default_rng(seed + 1)
    cut = {}
    for u, h in units.items():
        hi = min(OFFICIAL_RUL[1], len(h) - MIN_PREFIX)
        cut[u] = len(h) - int(rng.integers(OFFICIAL_RUL[0], max(hi, OFFICIAL_RUL[0]) + 1))
    return cut


def cross_validate(units: dict[int, np.ndarray], folds: int = 5, seed: int = 0,
                   max_iter: int = MAX_ITER) -> dict[str, object]:
    ids = np.array(sorted(units))
    cut = truncations(units, seed)
    cut2 = official_like_truncations(units, seed)
    preds, trues, per_fold = [], [], []
    preds2, trues2 = [], []
    for k, (tr, te) in enumerate(GroupKFold(n_splits=folds).split(ids, groups=ids)):
        model = RulModel(random_state=seed, max_iter=max_iter).fit([units[u] for u in ids[tr]])
        p = np.array([model.predict_last(units[u][:cut[u]]) for u in ids[te]])
        t = np.array([len(units[u]) - cut[u] for u in ids[te]], dtype=float)
        p2 = np.array([model.predict_last(units[u][:cut2[u]]) for u in ids[te]])
        t2 = np.array([len(units[u]) - cut2[u] for u in ids[te]], dtype=float)
        preds.append(p)
        trues.append(t)
        preds2.append(p2)
        trues2.append(t2)
        per_fold.append({"fold": k, "engines": len(te), "rmse": round(rmse(p, t), 2),
                         "rmse_capped": round(rmse(p, np.minimum(t, RUL_CAP)), 2),
                         "rmse_official_like": round(rmse(p2, t2), 2)})
        print(f"fold {k}: {per_fold[-1]}", file=sys.stderr)
    p, t = np.concatenate(preds), np.concatenate(trues)
    p2, t2 = np.concatenate(preds2), np.concatenate(trues2)
    return {"rmse": round(rmse(p, t), 2), "rmse_capped_truth": round(rmse(p, np.minimum(t, RUL_CAP)), 2),
            "score": round(phm08_score(p, t), 1),
            "official_like": {"rmse": round(rmse(p2, t2), 2), "score": round(phm08_score(p2, t2), 1),
                              "true_rul_range": list(OFFICIAL_RUL)},
            "folds": per_fold}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets/cmapss"),
                    help="folder with train_FD001.txt, relative to the repo root (default %(default)s)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    data = resolve_data(args.data)
    print(f"rul: FD001 from {data}, {args.folds}-fold GroupKFold, window {WINDOW}, cap {RUL_CAP}", file=sys.stderr)
    t0 = time.time()
    units = load(data / "train_FD001.txt")
    result: dict[str, object] = {"method": "HistGradientBoosting on last-N mean/slope/last + mean minus own first-20-cycle baseline",
                                 "window": WINDOW, "cap": RUL_CAP, "sensors": list(SENSORS),
                                 "engines": len(units), **cross_validate(units, args.folds, args.seed)}
    test, key = data / "test_FD001.txt", data / "RUL_FD001.txt"
    if test.exists() and key.exists():
        model = RulModel(random_state=args.seed).fit(list(units.values()))
        tunits = load(test)
        p = np.array([model.predict_last(tunits[u]) for u in sorted(tunits)])
        t = np.loadtxt(key)
        result["official_test"] = {"rmse": round(rmse(p, t), 2), "score": round(phm08_score(p, t), 1)}
    result["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
