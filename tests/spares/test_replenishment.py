from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from spares.replenishment import (
    PredictedFailure,
    RestockLine,
    StockAlert,
    Transfer,
    base_stock_for_fill_rate,
    bernoulli_sum_pmf,
    cost_weighted_base_stock,
    demand_pmf,
    ewma_rate,
    fill_rate,
    horizon_demand_pmf,
    negbin_pmf,
    out_of_stock_alerts,
    plan_target,
    poisson_pmf,
    quantile,
    suggest_transfers,
    van_restock_list,
)


@pytest.mark.parametrize("mean", [0.05, 0.4, 1.0, 3.7, 12.0, 55.0])
@pytest.mark.parametrize("level", [0.5, 0.9, 0.95, 0.99])
def test_poisson_quantile_matches_scipy(mean: float, level: float) -> None:
    assert quantile(poisson_pmf(mean), level) == int(stats.poisson.ppf(level, mean))


@pytest.mark.parametrize("mean,variance", [(0.5, 1.0), (2.0, 5.0), (8.0, 20.0)])
@pytest.mark.parametrize("level", [0.8, 0.95])
def test_negbin_quantile_matches_scipy(mean: float, variance: float, level: float) -> None:
    n = mean * mean / (variance - mean)
    p = n / (n + mean)
    pmf = negbin_pmf(mean, variance)
    assert quantile(pmf, level) == int(stats.nbinom.ppf(level, n, p))
    k = np.arange(len(pmf))
    assert np.dot(k, pmf) == pytest.approx(mean, rel=1e-6)


def test_negbin_falls_back_to_poisson_when_not_overdispersed() -> None:
    assert np.allclose(negbin_pmf(2.0, 1.5), poisson_pmf(2.0))


def test_zero_mean() -> None:
    assert quantile(poisson_pmf(0.0), 0.99) == 0
    assert fill_rate(poisson_pmf(0.0), 0) == 1.0


def test_bernoulli_sum_matches_binomial() -> None:
    pmf = bernoulli_sum_pmf([(0.3, 1)] * 6)
    assert np.allclose(pmf, stats.binom.pmf(np.arange(7), 6, 0.3))


def test_bernoulli_sum_with_quantities() -> None:
    pmf = bernoulli_sum_pmf([(0.5, 2), (0.25, 1)])
    assert np.allclose(pmf, [0.375, 0.125, 0.375, 0.125])
    with pytest.raises(ValueError):
        bernoulli_sum_pmf([(1.5, 1)])


def test_demand_pmf_mean_adds_up() -> None:
    pmf = demand_pmf(1.5, [(0.8, 1), (0.4, 2)])
    assert pmf.sum() == pytest.approx(1.0)
    assert np.dot(np.arange(len(pmf)), pmf) == pytest.approx(1.5 + 0.8 + 0.8)


def test_certain_prediction_raises_base_stock_by_its_qty() -> None:
    base = quantile(demand_pmf(2.0), 0.95)
    assert quantile(demand_pmf(2.0, [(1.0, 2)]), 0.95) == base + 2


def test_fill_rate_formula() -> None:
    pmf = np.array([0.5, 0.3, 0.2])  # mean 0.7; with 1 unit, short 0.2 of 0.7
    assert fill_rate(pmf, 1) == pytest.approx(1 - 0.2 / 0.7)
    assert fill_rate(pmf, 2) == 1.0
    assert base_stock_for_fill_rate(pmf, 0.7) == 1
    assert base_stock_for_fill_rate(pmf, 0.99) == 2


def test_fill_rate_grows_with_stock() -> None:
    pmf = poisson_pmf(4.0)
    rates = [fill_rate(pmf, s) for s in range(12)]
    assert all(b >= a for a, b in itertools.pairwise(rates))


def test_ewma_weights_recent_days() -> None:
    assert ewma_rate([]) == 0.0
    assert ewma_rate([2.0] * 10) == pytest.approx(2.0)
    assert ewma_rate([0.0] * 10 + [5.0]) > ewma_rate([5.0] + [0.0] * 10)
    assert ewma_rate([0, 1], halflife_days=1.0) == pytest.approx(1 / 1.5)


def test_plan_target_uses_predictions() -> None:
    hist = [0.0, 1.0] * 15
    plain = plan_target(1, "A", hist, lead_time_days=2, review_days=1)
    pred = plan_target(1, "A", hist, 2, 1, [PredictedFailure("p1", "A", 1, 0.9), PredictedFailure("p2", "B", 1, 1.0)])
    assert pred.mean_demand == pytest.approx(plain.mean_demand + 0.9)
    assert pred.base_stock >= plain.base_stock
    assert plain.reorder_point <= plain.base_stock


def test_plan_target_overdispersed_history_needs_more() -> None:
    steady = plan_target(1, "A", [1.0] * 30, 3, 1, fill_target=0.99)
    bursty = plan_target(1, "A", ([0.0] * 4 + [5.0]) * 6, 3, 1, fill_target=0.99)
    assert bursty.base_stock > steady.base_stock


def test_transfers_move_excess_to_deficit_nearest_first() -> None:
    positions = {(1, "A"): 6, (2, "A"): 0, (3, "A"): 4, (4, "A"): 1}
    targets = {(1, "A"): 2, (2, "A"): 3, (3, "A"): 2, (4, "A"): 3}
    dist = {(1, 2): 50.0, (3, 2): 10.0, (1, 4): 5.0, (3, 4): 40.0}
    transfers = suggest_transfers(positions, targets, lambda a, b: dist[(a, b)])
    moved: dict[tuple[int, int], int] = {}
    for t in transfers:
        moved[(t.from_location_id, t.to_location_id)] = moved.get((t.from_location_id, t.to_location_id), 0) + t.qty
    assert moved[(3, 2)] == 2  # the nearest source gives all its excess first
    end = dict(positions)
    for t in transfers:
        end[(t.from_location_id, "A")] -= t.qty
        end[(t.to_location_id, "A")] += t.qty
    assert all(end[k] >= targets[k] for k in targets)  # total excess 6 covers total deficit 5


def test_transfers_never_push_source_below_target() -> None:
    transfers = suggest_transfers({(1, "A"): 3, (2, "A"): 0}, {(1, "A"): 2, (2, "A"): 5})
    assert transfers == [Transfer(1, 2, "A", 1)]


def test_no_transfer_when_balanced() -> None:
    assert suggest_transfers({(1, "A"): 2}, {(1, "A"): 2}) == []


def test_van_restock_list_limited_by_depot() -> None:
    lines = van_restock_list({"A": 1, "B": 3}, {"A": 3, "B": 2, "C": 2}, 9, {"A": 1, "C": 5})
    assert lines == [RestockLine("A", 1, 9), RestockLine("C", 2, 9)]


def test_out_of_stock_alerts_earlier_jobs_claim_first() -> None:
    available = {(1, "A"): 1, (2, "A"): 0, (2, "B"): 2}
    jobs = [(100, {"A": 1}, [1, 2]), (101, {"A": 1, "B": 1}, [1, 2]), (102, {"B": 1}, [1])]
    assert out_of_stock_alerts(jobs, available) == [StockAlert(101, "A", 1, 0), StockAlert(102, "B", 1, 0)]


def test_plan_target_cycle_measure_skips_rare_parts() -> None:
    rare = [0.0] * 29 + [1.0]  # about 0.03 a day
    assert plan_target(1, "A", rare, 0, 1, fill_target=0.9, measure="fill").base_stock == 1
    assert plan_target(1, "A", rare, 0, 1, fill_target=0.9, measure="cycle").base_stock == 0
    likely = plan_target(1, "A", rare, 0, 1, [PredictedFailure("p", "A", 1, 0.7)], fill_target=0.9, measure="cycle")
    assert likely.base_stock == 1
    with pytest.raises(ValueError):
        plan_target(1, "A", rare, 0, 1, measure="other")


def test_failure_probability_by_uses_the_bounds_of_the_forecast() -> None:
    from spares.replenishment import failure_probability_by
    day = 86_400.0
    # Median at day 5, earliest day 3 (sigma 1 day below), latest day 9 (sigma 2 days above).
    assert failure_probability_by(5 * day, 5 * day, 3 * day, 9 * day) == pytest.approx(0.5)
    assert failure_probability_by(4 * day, 5 * day, 3 * day, 9 * day) == pytest.approx(stats.norm.cdf(-1.0))
    assert failure_probability_by(7 * day, 5 * day, 3 * day, 9 * day) == pytest.approx(stats.norm.cdf(1.0))
    # No usable bound on the side the horizon ends on: count it whole when the median is inside, else not at all.
    assert failure_probability_by(6 * day, 5 * day, 3 * day, None) == 1.0
    assert failure_probability_by(4 * day, 5 * day, None, None) == 0.0
    assert failure_probability_by(4 * day, 4 * day, 4 * day, 4 * day) == 1.0  # at_limit: RUL 0, no spread


def test_forecast_demand_weights_parts_and_skips_assets_with_an_open_incident() -> None:
    from spares.replenishment import FailureForecast, forecast_demand
    day = 86_400.0
    f = FailureForecast("asset:p1", 5 * day, 3 * day, 9 * day, {"BRG": 2, "SEAL": 1, "NONE": 0})
    got = forecast_demand(f, 7 * day)
    assert [(x.sku, x.qty) for x in got] == [("BRG", 2), ("SEAL", 1)]
    assert all(x.probability == pytest.approx(stats.norm.cdf(1.0)) and x.asset_id == "asset:p1" for x in got)
    assert forecast_demand(FailureForecast("asset:p1", 5 * day, 3 * day, 9 * day, {"BRG": 2}, True), 7 * day) == []
    assert forecast_demand(FailureForecast("asset:p2", 40 * day, 30 * day, None, {"BRG": 2}), 7 * day) == []


def test_a_predicted_failure_raises_the_reorder_point_and_base_stock() -> None:
    from spares.replenishment import FailureForecast, forecast_demand
    day = 86_400.0
    hist = [0.0] * 25 + [1.0] * 5  # a rare part: a few uses a month
    plain = plan_target(1, "BRG", hist, lead_time_days=3, review_days=1)
    # A pump is predicted to fail in ~2 days (1.5 .. 3 days): almost surely within lead time + review (4 days).
    demand = forecast_demand(FailureForecast("asset:p1", 2 * day, 1.5 * day, 3 * day, {"BRG": 2}), 4 * day)
    assert demand and demand[0].probability > 0.99
    pred = plan_target(1, "BRG", hist, 3, 1, demand)
    assert pred.mean_demand == pytest.approx(plain.mean_demand + 2 * demand[0].probability)
    assert pred.reorder_point > plain.reorder_point and pred.base_stock > plain.base_stock
    # A position the plain plan is content with (at its order-up-to level) now triggers an order.
    position = plain.base_stock
    assert position <= pred.reorder_point and pred.base_stock - position > 0


def _aggregate_fill(pmfs: dict[str, np.ndarray], stock: dict[str, int]) -> float:
    demand = sum(float(np.dot(np.arange(len(p)), p)) for p in pmfs.values())
    short = sum(float(np.dot(np.maximum(np.arange(len(p)) - stock[k], 0), p)) for k, p in pmfs.items())
    return 1.0 - short / demand


def test_cost_weighted_base_stock_meets_the_aggregate_target_cheap_parts_first() -> None:
    pmfs = {"CHEAP": poisson_pmf(0.8), "DEAR": poisson_pmf(0.8), "RARE": poisson_pmf(0.05), "NONE": poisson_pmf(0.0)}
    cost = {"CHEAP": 20.0, "DEAR": 1500.0, "RARE": 300.0, "NONE": 50.0}
    stock = cost_weighted_base_stock(pmfs, cost, 0.9)
    assert _aggregate_fill(pmfs, stock) >= 0.9
    assert stock["NONE"] == 0
    assert stock["CHEAP"] > stock["DEAR"]  # same demand: the cheap part carries the safety stock
    lower = cost_weighted_base_stock(pmfs, cost, 0.6)
    assert _aggregate_fill(pmfs, lower) >= 0.6
    assert all(lower[k] <= stock[k] for k in pmfs) and lower["DEAR"] < stock["DEAR"]


def test_cost_weighted_base_stock_is_cheaper_than_one_target_per_sku() -> None:
    pmfs = {f"S{i}": poisson_pmf(m) for i, m in enumerate((0.1, 0.4, 1.5, 3.0))}
    cost = {"S0": 1200.0, "S1": 40.0, "S2": 700.0, "S3": 25.0}
    system = cost_weighted_base_stock(pmfs, cost, 0.95)
    per_sku = {k: base_stock_for_fill_rate(p, 0.95) for k, p in pmfs.items()}
    assert _aggregate_fill(pmfs, per_sku) >= 0.95 and _aggregate_fill(pmfs, system) >= 0.95
    assert sum(system[k] * cost[k] for k in pmfs) < sum(per_sku[k] * cost[k] for k in pmfs)


def test_cost_weighted_base_stock_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        cost_weighted_base_stock({"A": poisson_pmf(1.0)}, {"A": 10.0}, 1.0)
    with pytest.raises(ValueError):
        cost_weighted_base_stock({"A": poisson_pmf(1.0)}, {"A": 0.0}, 0.9)


def test_horizon_demand_pmf_is_what_plan_target_stocks_for() -> None:
    hist = [0.0, 1.0, 0.0, 2.0, 1.0] * 6
    pred = [PredictedFailure("p1", "A", 1, 0.8)]
    pmf = horizon_demand_pmf("A", hist, 3.0, pred)
    assert plan_target(1, "A", hist, 2, 1, pred, fill_target=0.95).base_stock == base_stock_for_fill_rate(pmf, 0.95)
    assert len(horizon_demand_pmf("A", [], 3.0, [PredictedFailure("p1", "B", 1, 1.0)])) == 1  # nothing for A

