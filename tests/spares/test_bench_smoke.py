"""Tiny run of the month simulation's core: same stream through every policy, sane and consistent metrics."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from bench.matching import smallest_reaching
from bench.spares_month import (
    MATCHED,
    Z_RANGE,
    Config,
    build_world,
    daily_history,
    generate,
    make_stream,
    run_month,
    run_policy,
    run_seeds,
    signal_probability,
    static_levels,
)

TINY = Config(seed=3, days=4, techs=4, depots=3, assets=200, skus_per_type=4, jobs_per_day=8.0)


def test_month_core_runs_every_policy_on_the_same_stream() -> None:
    result = run_month(TINY)
    assert set(result) == {"static", "quietfix", "static_sourcing", "quietfix_no_signals"}
    jobs = {r["jobs"] for r in result.values()}
    assert len(jobs) == 1 and jobs.pop() > 0
    for r in result.values():
        assert 0.0 <= r["first_visit_fix_rate"] <= 1.0
        assert 0.0 <= r["van_fill_rate"] <= r["fill_rate"] <= 1.0
        assert r["inventory_value_avg"] > 0
        misses = round(r["jobs"] * (1 - r["first_visit_fix_rate"]))
        assert r["expedited_shipments"] == misses + r["couriers_to_first_visit"]
    assert result["static"]["depot_pickups"] == 0  # the static policy does not source beyond the van


def test_stream_is_reproducible_and_signals_precede_failures() -> None:
    a = generate(TINY, build_world(TINY, np.random.default_rng(1)), np.random.default_rng(2), 0.0, 4)
    b = generate(TINY, build_world(TINY, np.random.default_rng(1)), np.random.default_rng(2), 0.0, 4)
    assert a == b
    failures, signals = a
    times = {(f.asset, f.sku): f.t for f in failures}
    true_signals = [s for s in signals if (s.asset, s.sku) in times]
    assert true_signals and all(s.issued < times[(s.asset, s.sku)] for s in true_signals)


def test_static_min_max_follows_average_demand() -> None:
    world = build_world(TINY, np.random.default_rng(5))
    failures, signals = generate(TINY, world, np.random.default_rng(6), 0.0, 20)
    total, unannounced = daily_history(world, failures, signals, 0.0, 20)
    levels = static_levels(world, total)
    busiest = max(total, key=lambda k: sum(total[k]))
    assert levels[busiest][0] >= 1 and levels[busiest][1] >= levels[busiest][0]
    assert all(sum(unannounced[k]) <= sum(total[k]) for k in unannounced)


def test_imperfect_signals_name_the_wrong_part_or_week_at_the_stated_rates() -> None:
    cfg = replace(TINY, days=60, assets=2000, jobs_per_day=40.0, predictable_share=1.0, false_alarm_ratio=0.0,
                  rul_noise_days=0.1, wrong_part_rate=0.2, wrong_week_rate=0.3)
    world = build_world(cfg, np.random.default_rng(1))
    failures, signals = generate(cfg, world, np.random.default_rng(2), 0.0, cfg.days)
    by_asset = {}
    for f in failures:
        by_asset.setdefault(f.asset, []).append(f)
    sole = {a: fs[0] for a, fs in by_asset.items() if len(fs) == 1}  # assets failing once: unambiguous
    paired = [(s, sole[s.asset]) for s in signals if s.asset in sole]
    assert len(paired) > 500
    wrong_part = np.mean([s.sku != f.sku for s, f in paired])
    wrong_week = np.mean([abs(s.est_t - f.t) > 4 * 86_400 for s, f in paired])
    assert 0.15 < wrong_part < 0.25 and 0.25 < wrong_week < 0.35
    assert all(s.issued < f.t for s, f in paired)
    assert all(s.probability == pytest.approx(signal_probability(cfg)) for s in signals)
    assert signal_probability(cfg) == pytest.approx(0.8 * 0.7)


def test_smallest_reaching_finds_the_first_step_at_the_target() -> None:
    step = lambda x: math.floor(x) / 10
    x, fx = smallest_reaching(step, 0.3, -1.0, 9.0, tol=1e-4)
    assert fx >= 0.3 and x == pytest.approx(3.0, abs=1e-3)
    assert smallest_reaching(step, 0.0, 0.0, 9.0) == (0.0, 0.0)  # already there at the low end
    assert smallest_reaching(step, 2.0, 0.0, 9.0) == (9.0, 0.9)  # never reached: the high end, reported
    with pytest.raises(ValueError):
        smallest_reaching(step, 0.3, 1.0, 0.0)


def test_matched_static_reaches_quietfixs_first_visit_rate_over_the_seeds() -> None:
    out = run_seeds(TINY, [3, 4])
    qf, matched = out["quietfix"], out[MATCHED]
    assert out["seeds"] == [3, 4] and len(out["per_seed"][MATCHED]) == 2
    assert matched["first_visit_fix_rate"] >= qf["first_visit_fix_rate"] or matched["safety_factor_z"] == Z_RANGE[1]
    assert out["quietfix_inventory_over_matched"] == pytest.approx(
        qf["inventory_value_avg"] / matched["inventory_value_avg"], abs=1e-3)
    looser = run_policy(make_stream(replace(TINY, seed=3)), MATCHED, matched["safety_factor_z"] - 0.5)
    tighter = run_policy(make_stream(replace(TINY, seed=3)), MATCHED, matched["safety_factor_z"] + 0.5)
    assert looser["inventory_value_avg"] <= tighter["inventory_value_avg"]


def test_nightly_depot_transfers_move_only_true_excess_and_keep_every_unit() -> None:
    """The sim's depot-to-depot transfers (the live advice's rule): excess above a depot's target goes to a depot
    below its target, never more than the source's shelf, never below the source's target; units are conserved."""
    from bench.spares_sim import Sim
    from spares.models import MovementKind

    stream = make_stream(TINY)
    sim = Sim(stream.cfg, stream.world, "quietfix", stream.failures, stream.signals, stream.unannounced,
              static_levels(stream.world, stream.total), stream.start)
    a, b, c = sorted(stream.world.depots)
    sku = stream.world.skus[0]
    sim._mv(MovementKind.RECEIPT, a, sku, 7, stream.start)
    sim._mv(MovementKind.RECEIPT, c, sku, 2, stream.start)
    before = sum(sim.book.level(d, sku).on_hand for d in (a, b, c))
    sim.transfer({(a, sku): 3, (b, sku): 6, (c, sku): 2}, stream.start + 3600.0)
    assert sim.book.level(b, sku).on_hand == 4  # all of a's excess (7 - 3), none of c's (at its target)
    assert sim.book.level(a, sku).on_hand == 3
    assert sim.book.level(c, sku).on_hand == 2
    assert sum(sim.book.level(d, sku).on_hand for d in (a, b, c)) == before
    assert sim.m["transfers"] == 1
