"""Smoke and scoring tests for bench.detect_skab and bench.rul on tiny hand-made input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from bench import detect_skab as sk
from bench import rul as br


def test_point_metrics_hand_example():
    counts = sk.point_counts(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]))
    assert counts == (1, 1, 1, 1)
    m = sk.point_metrics(*counts)
    assert m == {"f1": 0.5, "far": 50.0, "mar": 50.0}


def test_changepoints_from_predictions():
    p = np.zeros(100, dtype=int)
    p[40:50] = 1
    cps = sk.to_changepoints(p, roll=30)
    assert list(np.flatnonzero(cps)) == [40, 79]  # rolled max rises at 40, falls 30 rows after the last 1


def _sig(first):  # SKAB's scaled sigmoid for standard profile, slow width 15 of a 61-row window
    return 1.11 / (1 + math.exp(5 * first / 15)) - 0.11


@pytest.mark.parametrize("ones,expected", [
    ([], -1.0),  # missed changepoint: A_fn
    ([10], _sig(-61) - 0.11),  # at the changepoint: ~ +1, but SKAB's inclusive label slice also counts it as FP
    ([70], _sig(-1) - 0.11),  # at the window end; row 70 also falls in SKAB's FP tail (rows 24..99)
    ([5], -0.11 - 1.0),  # early false alarm and a miss
])
def test_nab_single_file(ones, expected):
    cps = np.zeros(100, dtype=int)
    cps[10] = 1
    pred = np.zeros(100, dtype=int)
    pred[ones] = 1
    score, null, perfect = sk.nab_file(cps, pred, window=60)
    assert (null, perfect) == (-1.0, 1.0)
    assert score == pytest.approx(expected)


def test_nab_normalisation():
    assert sk.nab_normalised([(1.0, -1.0, 1.0), (-1.0, -1.0, 1.0)]) == pytest.approx(50.0)


def test_detect_flags_a_shift_not_the_normal_part():
    rng = np.random.default_rng(0)
    load = rng.normal(0, 1, (700, 1))
    x = np.hstack([load * 2, load * -1, load * 0.5]) + rng.normal(0, 0.1, (700, 3))
    x[550:, 1] += 2.0
    pred = sk.detect(x, {"shift_alpha": 0.1, "shift_limit": 5.0, "shift_min_duration_s": 0.0, "shift_hold_s": 30.0})
    assert len(pred) == 300
    assert pred[:140].mean() < 0.1 and pred[160:].mean() > 0.9
    assert sk.detect_cusum(x)[160:].mean() > 0.9  # the baseline line still runs


def test_episode_changepoints_mark_start_and_first_row_after():
    pred = np.zeros(20, dtype=int)
    pred[5:9] = 1
    pred[15:] = 1
    assert list(np.flatnonzero(sk.episode_changepoints(pred))) == [5, 9, 15]


def test_leave_one_file_out_never_uses_the_held_out_file(monkeypatch):
    """The held-out file's labels must not influence its own parameters: flipping them changes nothing."""
    rng = np.random.default_rng(1)

    def make(name: str, shift_at: int) -> sk.Labelled:
        x = rng.normal(0, 1, (700, 3))
        x[shift_at:, 0] += 3.0
        y = np.zeros(700, dtype=int)
        y[shift_at:] = 1
        return sk.Labelled(name, x, y, np.diff(np.r_[0, y]).clip(0))

    monkeypatch.setattr(sk, "GRID", {"shift_alpha": (0.1,), "shift_limit": (2.0, 6.0, 50.0),
                                     "shift_min_duration_s": (0.0,), "shift_hold_s": (0.0,)})
    files = [make(f"{i}.csv", 550) for i in range(3)]
    _, chosen, points = sk.leave_one_file_out(files)
    assert len(points) == 3
    flipped = files[:2] + [sk.Labelled("2.csv", files[2].x, 1 - files[2].anomaly, files[2].changepoint)]
    _, chosen_flipped, _ = sk.leave_one_file_out(flipped)
    assert chosen_flipped[2] == chosen[2]


def test_rul_cross_validate_smoke(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for unit in range(1, 11):
        life = int(rng.integers(60, 90))
        for c in range(1, life + 1):
            wear = max(0, c - life + 40) / 40
            rows.append([unit, c, 0, 0, 100] + list(rng.normal(0, 0.1, 21) + wear))
    path = tmp_path / "train_FD001.txt"
    np.savetxt(path, np.array(rows))
    units = br.load(path)
    assert len(units) == 10 and units[1].shape[1] == len(br.SENSORS)
    with threadpool_limits(limits=1):  # tiny fits: OpenMP threads only add contention
        res = br.cross_validate(units, folds=2, seed=0, max_iter=20)
    assert len(res["folds"]) == 2 and res["rmse"] >= 0 and math.isfinite(res["score"])


def test_tuning_split_is_even_numbered_files_per_folder():
    paths = [Path("skab/valve1/0.csv"), Path("skab/valve1/1.csv"), Path("skab/valve2/2.csv"), Path("skab/valve2/3.csv")]
    files = [sk.Labelled(p.name, np.zeros((1, 1)), np.zeros(1, dtype=int), np.zeros(1, dtype=int)) for p in paths]
    assert sk.tuning_split(files, paths) == ([0, 2], [1, 3])


def test_select_keeps_the_far_bound_and_ignores_files_outside_the_split():
    y = np.r_[np.zeros(500, dtype=int), np.ones(100, dtype=int), np.zeros(100, dtype=int)]
    f = sk.Labelled("0.csv", np.zeros((700, 1)), y, np.diff(np.r_[0, y]).clip(0))
    test_y = y[sk.TRAIN_ROWS:]
    everything = np.ones_like(test_y)  # F1 0.67, FAR 100 %
    exact = test_y.copy()
    late, later = test_y.copy(), test_y.copy()
    late[100:150] = 0  # misses half of the fault, no false alarm
    later[100:160] = 0
    cands = [("shift", {"shift_limit": 1.0}, [everything, everything]),
             ("shift", {"shift_limit": 9.0}, [late, late]),
             ("cusum", {"cusum_h": 5.0}, [later, exact])]
    best, m, n_within = sk.select([f, f], cands, [0], far_bound=15.0)
    assert n_within == 2 and m["far"] == 0.0 and best == 1  # file 1 is outside the split: cusum's exact hit
    assert sk.select([f, f], cands, [0, 1], far_bound=15.0)[0] == 2  # ... only counts when file 1 tunes
    assert sk.select([f, f], cands[:1], [0], far_bound=15.0)[0] == 0  # nothing within the bound: lowest FAR
    assert sk.live_config("cusum", {"cusum_k": 0.5, "cusum_h": 20.0})["confirm"] == "cusum"
