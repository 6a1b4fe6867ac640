"""Smoke test of the day simulation's logic on a tiny input (fast; the real run is a benchmark)."""

from __future__ import annotations

from bench.dispatch_day import Config, scenario, simulate


def test_tiny_day_runs_both_policies_and_reports_the_kpis() -> None:
    cfg = Config(technicians=3, rate_per_h=3.0, arrival_hours=1.0, replan_seconds=0.05, seed=2)
    _, jobs = scenario(cfg)
    for policy in ("baseline", "optimiser"):
        out = simulate(cfg, policy)
        assert out["jobs"] == len(jobs) and 0.0 <= out["onsite_2h_rate"] <= 1.0
        assert out["checker_violations"] == 0 and out["dropped"] <= len(jobs)
    assert out["replans"] > 0
