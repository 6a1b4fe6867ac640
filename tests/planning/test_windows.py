"""Service-start windows from access hours and coverage (planning/windows.py), pure."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

from planning.windows import ALWAYS, Weekly, open_hours, service_windows

AMS = ZoneInfo("Europe/Amsterdam")
WEEKDAYS = Weekly((1, 2, 3, 4, 5), time(8), time(18))


def _t(*args: int, tz: ZoneInfo = AMS) -> float:
    return datetime(*args, tzinfo=tz).timestamp()


def test_weekday_hours_over_a_weekend_give_one_window_per_working_day() -> None:
    lo, hi = _t(2026, 3, 6, 12), _t(2026, 3, 10, 12)  # Friday noon to Tuesday noon
    got = service_windows(lo, hi, 3600, [WEEKDAYS, ALWAYS], AMS)
    assert got == [(lo, _t(2026, 3, 6, 17)), (_t(2026, 3, 9, 8), _t(2026, 3, 9, 17)),
                   (_t(2026, 3, 10, 8), hi)]


def test_the_intersection_of_access_and_coverage_and_24x7_is_one_interval() -> None:
    lo, hi = _t(2026, 3, 2, 0), _t(2026, 3, 5, 0)
    assert open_hours(lo, hi, [ALWAYS, ALWAYS], AMS) == [(lo, hi)]
    cover = Weekly((1, 2, 3, 4, 5, 6), time(6), time(10))
    assert open_hours(lo, _t(2026, 3, 2, 23), [WEEKDAYS, cover], AMS) == [(_t(2026, 3, 2, 8), _t(2026, 3, 2, 10))]


def test_hours_in_the_sites_zone_across_a_clock_change() -> None:
    # Sunday 29 March 2026 clocks go forward in Amsterdam: Monday's 08:00 is 06:00 UTC, the Friday before 07:00.
    got = service_windows(_t(2026, 3, 27, 0), _t(2026, 3, 30, 23), 0, [WEEKDAYS], AMS)
    assert [datetime.fromtimestamp(a, AMS).time() for a, _ in got] == [time(8), time(8)]
    assert got[1][0] - got[0][0] == 3 * 86400 - 3600


def test_no_window_when_the_visit_does_not_fit() -> None:
    short = Weekly((1, 2, 3, 4, 5, 6, 7), time(8), time(8, 30))
    assert service_windows(_t(2026, 3, 2, 0), _t(2026, 3, 9, 0), 3600, [short], AMS) == []
