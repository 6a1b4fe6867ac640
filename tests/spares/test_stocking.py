"""spares/stocking.py: where predicted failures are counted, with which probability, and the marginal van rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spares.replenishment import cost_weighted_base_stock, demand_pmf, poisson_pmf
from spares.stocking import (
    DAY_S,
    Horizons,
    LevelTargets,
    StockingForecast,
    location_levels,
    location_pmfs,
    marginal_base_stock,
    predicted_by_location,
)

H = Horizons(van_days=4.0, van_background_days=1.0, depot_days=3.0)
NOW = 1_000_000.0


def phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_a_forecast_counts_on_its_van_and_depot_each_within_its_own_horizon() -> None:
    f = StockingForecast("a", 7, 1, NOW + 3.5 * DAY_S, {"P": 2}, confidence=0.6)  # no bounds: a step at 3.5 d
    got = predicted_by_location([f], NOW, H)
    assert set(got) == {(7, "P")}  # inside the van's 4 days, beyond the depot's 3
    (pf,) = got[(7, "P")]
    assert (pf.qty, pf.probability) == (2, pytest.approx(0.6))
    near = StockingForecast("b", 7, 1, NOW + 1 * DAY_S, {"P": 1})
    assert set(predicted_by_location([near], NOW, H)) == {(7, "P"), (1, "P")}
    assert predicted_by_location([StockingForecast("c", None, 1, NOW + DAY_S, {"P": 1})], NOW, H).keys() == {
        (1, "P")}  # no van: depot only


def test_handled_stale_and_far_forecasts_add_nothing() -> None:
    fs = [StockingForecast("h", 7, 1, NOW + DAY_S, {"P": 1}, handled=True),
          StockingForecast("s", 7, 1, NOW - 1.5 * DAY_S, {"P": 1}),  # median passed 1.5 days ago: stale
          StockingForecast("f", 7, 1, NOW + 9 * DAY_S, {"P": 1})]
    assert predicted_by_location(fs, NOW, H) == {}
    overdue = StockingForecast("o", 7, 1, NOW - 0.5 * DAY_S, {"P": 1})  # overdue by half a day: still needed
    assert [p.probability for p in predicted_by_location([overdue], NOW, H)[(7, "P")]] == [1.0]
    with pytest.raises(ValueError):
        predicted_by_location([StockingForecast("x", 7, 1, NOW, {"P": 1}, confidence=1.5)], NOW, H)


def test_probability_is_conditional_on_the_machine_still_running() -> None:
    # median in 1 day, +-2 sigma = +-1 day (sigma 0.5 d); now is 1 sigma before the median
    f = StockingForecast("a", 7, None, NOW + DAY_S, {"P": 1}, NOW, NOW + 2 * DAY_S)
    p_day = predicted_by_location([f], NOW, Horizons(1.0, 1.0, 3.0))[(7, "P")][0].probability
    assert p_day == pytest.approx((phi(0.0) - phi(-2.0)) / (1 - phi(-2.0)), abs=1e-9)
    later = NOW + 1.5 * DAY_S  # past the median, not failed yet: the remaining mass says it is due soon
    p_late = predicted_by_location([f], later, Horizons(1.0, 1.0, 3.0))[(7, "P")][0].probability
    assert p_late == pytest.approx((phi(3.0) - phi(1.0)) / (1 - phi(1.0)), abs=1e-9) and p_late > p_day


def test_marginal_rule_holds_a_unit_while_it_earns_its_price() -> None:
    pmfs = {"cheap": poisson_pmf(0.05), "dear": poisson_pmf(0.05), "sure": demand_pmf(0.0, [(0.9, 1)])}
    cost = {"cheap": 20.0, "dear": 1500.0, "sure": 1500.0}
    lam = 1e-4  # cheap needs P >= 0.002, dear P >= 0.15
    got = marginal_base_stock(pmfs, cost, lam)
    for sku, pmf in pmfs.items():
        tails = 1 - np.cumsum(pmf)
        s = got[sku]
        assert tails[s - 1] >= lam * cost[sku] if s else True  # the last unit held earns its price
        assert s >= len(tails) or tails[s] < lam * cost[sku]  # the next one would not
    assert got["cheap"] >= 1 and got["dear"] == 0 and got["sure"] == 1  # a likely predicted part rides along
    with pytest.raises(ValueError):
        marginal_base_stock(pmfs, cost, 0.0)


def test_location_levels_use_the_marginal_rule_on_vans_and_the_fill_on_depots() -> None:
    hist = {(7, "A"): [0.0, 1.0, 0.0, 0.0], (1, "A"): [2.0, 1.0, 3.0, 2.0], (1, "B"): [1.0, 0.0, 1.0, 0.0]}
    keys = set(hist) | {(7, "B")}
    is_van = {7: True, 1: False}
    pmfs = location_pmfs(keys, is_van, hist, {}, H)
    cost = {"A": 50.0, "B": 900.0}
    got = location_levels(pmfs, is_van, cost, LevelTargets(0.95, 0.99, van_lambda=1e-4))
    assert {k: v for k, v in got.items() if k[0] == 7} == {(7, s): q for s, q in
                                                           marginal_base_stock(pmfs[7], cost, 1e-4).items()}
    assert {k: v for k, v in got.items() if k[0] == 1} == {(1, s): q for s, q in
                                                           cost_weighted_base_stock(pmfs[1], cost, 0.99).items()}
