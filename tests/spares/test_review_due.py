"""When the daily replenishment review is due: every review_days, or once a day at review_time (local)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from core.settings import SparesSettings
from spares.proposer import review_due

SH = ZoneInfo("Asia/Shanghai")


def _t(hh: int, mm: int = 0, day: int = 6) -> float:
    return datetime(2026, 12, day, hh, mm, tzinfo=SH).timestamp()


def test_first_review_is_always_due() -> None:
    assert review_due(None, _t(9), SparesSettings(review_time="21:00"), SH)


def test_review_time_binding_waits_for_the_evening_however_long_ago_the_last_was() -> None:
    s = SparesSettings(review_time="21:00")
    assert not review_due(_t(9), _t(20, 59), s, SH)  # eleven hours later, but before 21:00
    assert review_due(_t(9), _t(21, 0), s, SH)
    assert not review_due(_t(21, 5), _t(23), s, SH)  # reviewed tonight already
    assert review_due(_t(21, 5), _t(21, 1, day=7), s, SH)  # the next evening


def test_review_time_not_set_keeps_the_period_from_the_last_review() -> None:
    s = SparesSettings()
    assert not review_due(_t(9), _t(21), s, SH)
    assert review_due(_t(9), _t(9, day=7), s, SH)
