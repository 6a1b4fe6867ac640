"""Dates, times and numbers per locale, in a given IANA zone, always naming the zone (Babel, CLDR data).

Why always the zone: a dispatcher in Shanghai, a technician in Urumqi and a server in UTC read the same ETA;
a bare "14:05" has already sent someone to the wrong place once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel import dates as bdates
from babel import numbers as bnumbers

# CLDR patterns: 24-hour clock everywhere (field service works around the clock; "2:05 PM" misreads);
# the zone's label follows (see _zone_label).
TIME_PATTERN = {"en": "HH:mm", "zh-CN": "HH:mm"}
DATETIME_PATTERN = {"en": "d MMM HH:mm", "zh-CN": "M月d日 HH:mm"}


@lru_cache(maxsize=64)
def _locale(tag: str) -> Locale:
    return Locale.parse(tag.replace("-", "_"))


@lru_cache(maxsize=256)
def zone_or_utc(name: str | None) -> ZoneInfo:
    """The named zone, or UTC when the name is empty or unknown (a bad stored zone must not stop a message)."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _aware(v: datetime) -> datetime:
    return v if v.tzinfo is not None else v.replace(tzinfo=UTC)


def _base(locale: str) -> str:
    return "zh-CN" if locale.lower().startswith("zh") else "en"


def _zone_label(v: datetime, zone: str | None, locale: str) -> str:
    """The zone's short name where CLDR has one ("UTC", "CET"), else the GMT offset ("GMT+8"), as browsers'
    Intl ``timeZoneName: "short"`` prints it, so an e-mail and a page show the same label."""
    local = v.astimezone(zone_or_utc(zone))
    short = bdates.get_timezone_name(local, "short", locale=_locale(locale))
    if short and short[:1] not in "+-":
        return short
    offset = int((local.utcoffset() or timedelta(0)).total_seconds() // 60)
    if offset == 0:
        return "GMT"
    hours, minutes = divmod(abs(offset), 60)
    return f"GMT{'-' if offset < 0 else '+'}{hours}" + (f":{minutes:02d}" if minutes else "")


def format_time(v: datetime, locale: str, zone: str | None) -> str:
    """``14:05 GMT+8``: hour and minute in ``zone``, with the zone's label."""
    v = _aware(v)
    clock = bdates.format_datetime(v, TIME_PATTERN[_base(locale)], tzinfo=zone_or_utc(zone), locale=_locale(locale))
    return f"{clock} {_zone_label(v, zone, locale)}"


def format_datetime(v: datetime, locale: str, zone: str | None) -> str:
    """Day, month, hour and minute in ``zone`` with the zone's label (``6 Dec 14:05 GMT+8``)."""
    v = _aware(v)
    when = bdates.format_datetime(v, DATETIME_PATTERN[_base(locale)], tzinfo=zone_or_utc(zone),
                                  locale=_locale(locale))
    return f"{when} {_zone_label(v, zone, locale)}"


def format_date(v: datetime, locale: str, zone: str | None) -> str:
    """The calendar day in ``zone`` (medium length: ``6 Dec 2026`` / ``2026年12月6日``)."""
    return bdates.format_date(_aware(v).astimezone(zone_or_utc(zone)), "medium", locale=_locale(locale))


def format_number(v: float, locale: str, decimals: int | None = None) -> str:
    """Grouping and decimal sign per locale; ``decimals`` fixes the fraction digits when given."""
    if decimals is None:
        return bnumbers.format_decimal(v, locale=_locale(locale))
    fmt = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return bnumbers.format_decimal(v, format=fmt, locale=_locale(locale))
