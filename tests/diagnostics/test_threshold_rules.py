from datetime import datetime, timezone

import pytest

from diagnostics import DEFAULT_RULES, DiagnoseLoop, ThresholdRule
from diagnostics.repository import WindowStat

NOW = 1_767_225_600.0
VIB = ThresholdRule("vibration_mm_s", "above", 7.1, 120, "bearing_wear", 2, ("mechanical",), 120)


def stat(lo: float, hi: float, first_ago: float, last_ago: float = 0.0, n: int = 100,
         eq: str = "pump", signal: str = "vibration_mm_s") -> WindowStat:
    ts = lambda ago: datetime.fromtimestamp(NOW - ago, tz=timezone.utc)  # noqa: E731
    return WindowStat("pump-0001", eq, signal, n, lo, hi, ts(first_ago), ts(last_ago))


def test_fires_when_every_reading_is_beyond_the_limit_for_the_whole_duration() -> None:
    assert DiagnoseLoop._rule_fires(VIB, stat(7.5, 9.0, first_ago=119))


@pytest.mark.parametrize(("s", "why"), [
    (stat(6.0, 12.0, first_ago=119), "one reading back under the limit (a spike, not a trend)"),
    (stat(7.5, 9.0, first_ago=60), "beyond the limit for only half the minimum duration"),
    (stat(7.5, 9.0, first_ago=119, last_ago=80), "the readings span only 39 s of the 120 s"),
    (stat(7.5, 9.0, first_ago=119, n=2), "too few readings to judge"),
    (stat(7.5, 9.0, first_ago=119, signal="motor_temp_c"), "another signal"),
])
def test_does_not_fire(s: WindowStat, why: str) -> None:
    assert not DiagnoseLoop._rule_fires(VIB, s), why


def test_below_rules_and_equipment_scope() -> None:
    low = next(r for r in DEFAULT_RULES if r.op == "below")
    assert low.fires(lo=0.5, hi=1.5)
    assert not low.fires(lo=0.5, hi=low.limit + 0.1)
    chiller_only = next(r for r in DEFAULT_RULES if r.equipment_types == ("chiller",))
    assert not DiagnoseLoop._rule_fires(chiller_only, stat(20, 25, 179, eq="pump", signal=chiller_only.signal))
    assert DiagnoseLoop._rule_fires(chiller_only, stat(20, 25, 179, eq="chiller", signal=chiller_only.signal))
