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


def test_idle_while_waiting_counts_a_free_qualified_technician_only_while_a_job_waits() -> None:
    """Hand-computed: shifts 0-100 s; job A (skill x) waits 10-40, job B (skill y) 20-70. T1 (x) is busy 30-90:
    free while A waits 10-30 = 20 s. T2 (x, y) is busy 50-60: free while A or B waits 10-50 and 60-70 = 50 s."""
    from bench.dispatch_day import Result, TechSim, _idle_while_waiting_s
    from dispatch.models import Job, Location, Technician

    here = Location(0.0, 0.0)
    t1 = TechSim(Technician("1", frozenset({"x"}), here, here, 0.0, 100.0), here, busy=[(30.0, 90.0)])
    t2 = TechSim(Technician("2", frozenset({"x", "y"}), here, here, 0.0, 100.0), here, busy=[(50.0, 60.0)])
    jobs = [Job("A", here, frozenset({"x"}), created_at=10.0), Job("B", here, frozenset({"y"}), created_at=20.0)]
    res = Result(departed={"A": 40.0, "B": 70.0})
    assert _idle_while_waiting_s(jobs, {"1": t1, "2": t2}, res) == 70.0
