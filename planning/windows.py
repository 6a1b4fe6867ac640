"""When a preventive visit may start: the site's access hours and the contract's coverage, in the site's zone.

A preventive work order has a window of days (planning.preventive). Inside it, a technician may only be on site
while the customer lets them in (the site's access hours) and while the contract covers work (its coverage
hours), both local to the customer: an inspection at 02:00 is an inspection nobody can open the door for
(issue #15 item 4, #16 item 3). This module turns the window of days into the service-start windows that
satisfy both, each shortened by the visit's duration so the visit also ends inside them. The dispatch optimiser
plans the visit in the first window that is still open (dispatch.planner.preventive_fields).

Pure: weekly hours in, epoch-second intervals out. DST is handled by building each local day's times in the
zone (a window on the day clocks change is as long as that day's wall clock says).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from planning.models import Contract


@dataclass(frozen=True)
class Weekly:
    """Weekly hours: ISO weekdays (1 = Monday) and one daily window; ``end`` None (or time.max) is midnight."""

    days: tuple[int, ...]
    start: time
    end: time | None

    def on(self, day: date, tz: ZoneInfo) -> tuple[float, float] | None:
        if day.isoweekday() not in self.days:
            return None
        a = datetime.combine(day, self.start, tz).timestamp()
        if self.end is None or self.end == time.max:
            b = datetime.combine(day + timedelta(days=1), time(0), tz).timestamp()
        else:
            b = datetime.combine(day, self.end, tz).timestamp()
        return (a, b) if b > a else None


ALWAYS = Weekly((1, 2, 3, 4, 5, 6, 7), time(0), None)


def open_hours(lo: float, hi: float, rules: Sequence[Weekly], tz: ZoneInfo) -> list[tuple[float, float]]:
    """The intervals inside [lo, hi] where every rule is open (consecutive days that touch are merged, so 24x7
    is one interval)."""
    out: list[tuple[float, float]] = []
    day = datetime.fromtimestamp(lo, tz).date() - timedelta(days=1)
    last = datetime.fromtimestamp(hi, tz).date()
    while day <= last:
        spans = [r.on(day, tz) for r in rules]
        if all(s is not None for s in spans):
            a = max([lo] + [s[0] for s in spans if s is not None])
            b = min([hi] + [s[1] for s in spans if s is not None])
            if b > a:
                if out and out[-1][1] >= a:
                    out[-1] = (out[-1][0], max(out[-1][1], b))
                else:
                    out.append((a, b))
        day += timedelta(days=1)
    return out


def service_windows(lo: float, hi: float, duration_s: float, rules: Sequence[Weekly],
                    tz: ZoneInfo) -> list[tuple[float, float]]:
    """Service-start windows inside [lo, hi + duration]: the visit starts in one and ends before its hours
    close. ``hi`` is the latest start of the window of days. Empty if the hours never leave room for the visit
    (the caller keeps the plain window of days and says so)."""
    return [(a, b - duration_s) for a, b in open_hours(lo, hi + duration_s, rules, tz) if b - duration_s >= a]


def visit_windows(site: Mapping[str, Any], contract: Contract | None, lo: float, hi: float,
                  minutes: int) -> list[tuple[float, float]]:
    """A preventive visit's service-start windows at ``site`` (a ``device_site`` row: the customer's zone and the
    site's access hours) under ``contract`` (its coverage hours; None: time and materials, any hour the site is
    open)."""
    rules = [Weekly(tuple(int(d) for d in site["access_days"]), site["access_start"], site["access_end"])]
    if contract is not None:
        rules.append(Weekly(contract.coverage_days, contract.coverage_start, contract.coverage_end))
    return service_windows(lo, hi, minutes * 60.0, rules, ZoneInfo(site["timezone"] or "UTC"))
