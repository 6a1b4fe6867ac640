"""Tiny run of the month simulation's core: same stream through every policy, sane and consistent metrics."""

from __future__ import annotations

import numpy as np

from bench.spares_month import Config, build_world, daily_history, generate, run_month, static_levels

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
