"""The live replenishment uses the levels bench.spares_month measures (issue #16 stretch): one aggregate fill per
location spent by value (spares.replenishment.cost_weighted_base_stock), topped up at every review."""

from __future__ import annotations

import time

import psycopg
import pytest

from core.settings import SparesSettings
from quietfix.seed import seed
from spares import service as flow
from spares.replenishment import cost_weighted_base_stock, horizon_demand_pmf
from spares.repository import SparesRepository

pytestmark = pytest.mark.integration
DAY = 86_400.0


def test_live_levels_are_the_benchs_cost_weighted_levels(conn: psycopg.Connection) -> None:
    seed(conn, devices=4, technicians=2, users=False, spares=True)
    depot = conn.execute("SELECT id FROM stock_locations WHERE name = 'Depot North'").fetchone()[0]
    cheap, dear = [r[0] for r in conn.execute("SELECT sku FROM parts ORDER BY sku LIMIT 2")]
    conn.execute("UPDATE parts SET unit_cost = 20 WHERE sku = %s", (cheap,))
    conn.execute("UPDATE parts SET unit_cost = 1500 WHERE sku = %s", (dear,))
    repo = SparesRepository(conn)
    now = time.time()
    for day in range(30, 0, -1):  # both fitted once a day for a month: the same demand, 75x the price apart
        for sku in (cheap, dear):
            repo.receive(depot, sku, 1, now - day * DAY, note="test")
            repo.issue(None, depot, sku, 1, now - day * DAY + 60, note="fitted")
    conn.commit()

    s = SparesSettings()
    history = {sku: series for (loc, sku), series in flow._history(conn, now, s.history_days).items() if loc == depot}
    assert set(history) == {cheap, dear}
    rows = {r["sku"]: r for r in flow.replenishment(conn, now, s, depot)}
    horizon = s.depot_lead_time_days + s.review_days
    pmfs = {sku: horizon_demand_pmf(sku, history[sku], horizon) for sku in history}
    others = {sku: horizon_demand_pmf(sku, [0.0] * (s.history_days + 1), horizon) for sku in rows if sku not in history}
    expected = cost_weighted_base_stock({**pmfs, **others},
                                        {r[0]: float(r[1]) for r in conn.execute("SELECT sku, unit_cost FROM parts")},
                                        s.depot_system_fill)
    assert {sku: r["base_stock"] for sku, r in rows.items()} == {sku: expected[sku] for sku in rows}
    assert rows[cheap]["base_stock"] > rows[dear]["base_stock"]  # the same service from the cheaper units
    for r in rows.values():  # topped up to the level whenever below it, as the bench's nightly review
        assert r["order_qty"] == max(0, r["base_stock"] - r["position"])

    per_sku = {r["sku"]: r for r in flow.replenishment(conn, now, s.model_copy(update={"cost_weighted": False}),
                                                       depot)}
    assert per_sku[cheap]["base_stock"] == per_sku[dear]["base_stock"]  # blind to price
