"""Live remaining useful life (pure): a wear signal's trend extrapolated to its threshold; healthy assets quiet."""

from __future__ import annotations

from diagnostics.config import equipment_config
from diagnostics.rul import RulPolicy, WearTracker, asset_rul, limits_from_config
from edge_agent.simulator import Equipment

T0 = 1_767_225_600.0
STEP_S = 60.0


def _run(eq: Equipment, hours: float, every_h: float = 1.0) -> tuple[dict[float, object], float | None]:
    w = WearTracker(limits_from_config(equipment_config(eq.equipment_type)))
    crossed, out = None, {}
    for i in range(int(hours * 3600 / STEP_S)):
        t = T0 + STEP_S * i
        v = eq.sample(t)
        w.observe(t, v)
        if crossed is None and v["vibration_mm_s"] > 7.1:
            crossed = t
        if i % int(every_h * 3600 / STEP_S) == 0:
            out[round((t - T0) / 3600, 2)] = asset_rul(w.estimate(t))
    return out, crossed


def test_bearing_wear_is_predicted_before_the_threshold_with_an_honest_interval() -> None:
    eq = Equipment("p1", "pump", seed=0)
    eq.inject("bearing_wear", T0 + 20 * 3600, develop_s=8 * 3600)
    est, crossed = _run(eq, 27)
    assert crossed is not None
    assert all(e is None or e.status == "learning" for h, e in est.items() if h < 18)  # less than a load cycle
    assert all(e is not None and e.status == "healthy" for h, e in est.items() if 18 <= h <= 20)
    for h in (22.0, 23.0, 24.0, 25.0):
        e = est[h]
        assert e is not None and e.status == "degrading" and e.signal == "vibration_mm_s" and e.direction == "up"
        truth = crossed - (T0 + h * 3600)
        assert e.rul_s is not None and abs(e.rul_s - truth) <= 0.25 * truth, (h, e.rul_s, truth)
        assert e.rul_low_s is not None and e.rul_low_s <= e.rul_s
        assert e.rul_high_s is None or e.rul_high_s >= e.rul_s
    assert est[26.0] is not None and est[26.0].status in ("degrading", "at_limit")


def test_healthy_assets_never_predict_a_failure_over_their_load_cycle() -> None:
    for et in ("pump", "chiller", "compressor"):
        est, _ = _run(Equipment(f"{et}-1", et, seed=5), 40, every_h=0.5)
        assert {e.status for e in est.values() if e is not None} <= {"learning", "healthy"}, et


def test_a_signal_already_past_its_limit_has_no_life_left() -> None:
    w = WearTracker({"x": (None, 10.0)}, RulPolicy(envelope_min_s=3600, history_s=3 * 3600))
    for i in range(4 * 60):
        t = T0 + 60 * i
        w.observe(t, {"x": 5.0 + (i / 60) * 2})  # +2 per hour: crosses 10 at 2.5 h
    e = asset_rul(w.estimate(T0 + 4 * 3600))
    assert e is not None and e.status == "at_limit" and e.rul_s == 0.0
