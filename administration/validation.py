"""Pure validation: one CSV row or API body (field -> text) to a normalised record, or every field's error.

The import and the API share these functions, so a rule holds the same everywhere and each rule is tested once.
Every function returns either the record or the list of all field errors in the row (never just the first).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from functools import cache
from typing import Any, TypeVar
from zoneinfo import available_timezones

from administration.models import (
    ABSENCE_KINDS,
    PAUSE_KINDS,
    ROLES,
    TIERS,
    Absence,
    Asset,
    Break,
    Contract,
    Customer,
    FieldError,
    Hours,
    Site,
    Technician,
    UserAccount,
    WorkingDay,
)
from administration.reasons import Invalid, field_error

# Codes travel in URLs, CSV files and other systems' exports: letters, digits and . _ - only, at most 40.
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
# A device id is also its MQTT username (core/broker.py USERNAME_RE): the same characters, up to 64.
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
EMAIL_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{3,29}$")
# BCP 47 language tags as people write them: "en", "nl", "zh-Hans", "pt-BR".
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
SKILL_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
EQUIPMENT_TYPES = ("pump", "chiller", "compressor")  # what the edge agent simulates and the detectors model
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS_RE = re.compile(r"^(?P<days>[A-Za-z]{3}(?:\s*[-,]\s*[A-Za-z]{3})*)\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})$")
MAX_NAME = 200
MAX_TEXT = 500
T = TypeVar("T")


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def parse_hours(text: str) -> Hours:
    """``24x7`` or ``Mon-Fri 08:00-18:00`` (days as a range or a list: ``Mon,Wed,Fri``; end may be 24:00)."""
    text = text.strip()
    if text.lower() == "24x7":
        return Hours(tuple(range(1, 8)), time(0), None)
    m = HOURS_RE.match(text)
    if not m:
        raise Invalid("notHours", value=text)
    days: list[int] = []
    for part in re.split(r"\s*,\s*", m["days"]):
        ends = [p.strip().title() for p in part.split("-")]
        if any(e not in DAY_NAMES for e in ends):
            raise Invalid("unknownDay", part=part, days=", ".join(DAY_NAMES))
        a, b = DAY_NAMES.index(ends[0]) + 1, DAY_NAMES.index(ends[-1]) + 1
        if b < a:
            raise Invalid("dayRangeBackwards", part=part)
        days.extend(range(a, b + 1))
    start = _clock(m["start"])
    end = None if m["end"] == "24:00" else _clock(m["end"])
    if start is None or (end is not None and end <= start):
        raise Invalid("windowBackwards")
    return Hours(tuple(sorted(set(days))), start, end)


def hours_text(h: Hours) -> str:
    """The canonical text of ``h`` (what parse_hours reads back)."""
    if h.is_24x7:
        return "24x7"
    runs: list[str] = []
    days = sorted(h.days)
    i = 0
    while i < len(days):
        j = i
        while j + 1 < len(days) and days[j + 1] == days[j] + 1:
            j += 1
        runs.append(DAY_NAMES[days[i] - 1] if i == j else f"{DAY_NAMES[days[i] - 1]}-{DAY_NAMES[days[j] - 1]}")
        i = j + 1
    return f"{','.join(runs)} {h.start.strftime('%H:%M')}-{h.end_text}"


def _clock(text: str) -> time | None:
    if text == "24:00":
        return None
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise Invalid("notTimeOfDay", value=text) from None


class Row:
    """Field access that collects every error of a row instead of stopping at the first."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = {k: ("" if v is None else v) for k, v in data.items()}
        self.errors: list[FieldError] = []

    def text(self, name: str) -> str:
        v = self.data.get(name, "")
        if isinstance(v, (list, tuple, dict)):
            return v  # type: ignore[return-value]  # structured values (skills list) are checked by their rule
        return str(v).strip()

    def get(self, name: str, rule: Callable[[str], T], *, required: bool = True, default: T | None = None) -> T:
        raw = self.text(name)
        if raw == "" or raw == []:
            if required:
                self.errors.append(field_error(name, "required"))
            return default  # type: ignore[return-value]
        try:
            return rule(raw)
        except Invalid as exc:
            self.errors.append(FieldError(name, str(exc), exc.said))
            return default  # type: ignore[return-value]


# --- single-value rules --------------------------------------------------------------------------------------------

def code(v: str) -> str:
    if not CODE_RE.match(v):
        raise Invalid("code")
    return v


def device_id(v: str) -> str:
    if not DEVICE_ID_RE.match(v):
        raise Invalid("deviceId")
    return v


def name(v: str) -> str:
    """Names may be in any script (中文 names are normal); only control characters and length are refused."""
    if len(v) > MAX_NAME:
        raise Invalid("tooLong", max=MAX_NAME)
    if any(ord(c) < 32 or ord(c) == 127 for c in v):
        raise Invalid("controlCharacters")
    return v


def text(v: str) -> str:
    if len(v) > MAX_TEXT:
        raise Invalid("tooLong", max=MAX_TEXT)
    if any(ord(c) < 32 and c not in "\n\t" for c in v):
        raise Invalid("controlCharacters")
    return v


def tier(v: str) -> str:
    if v.lower() not in TIERS:
        raise Invalid("unknownTier", value=v, tiers=", ".join(TIERS))
    return v.lower()


def email(v: str) -> str:
    if len(v) > MAX_NAME or not EMAIL_RE.match(v):
        raise Invalid("notEmail", value=v)
    return v


def phone(v: str) -> str:
    if not PHONE_RE.match(v):
        raise Invalid("notPhone", value=v)
    return v


def language(v: str) -> str:
    if not LANGUAGE_RE.match(v):
        raise Invalid("notLanguage", value=v)
    return v


def timezone(v: str) -> str:
    if v not in _zones():
        raise Invalid("notTimeZone", value=v)
    return v


def _number(v: str, lo: float, hi: float, what: str) -> float:
    try:
        x = float(v)
    except ValueError:
        raise Invalid("notNumber", value=v) from None
    if not math.isfinite(x) or not lo <= x <= hi:
        raise Invalid("outOfRange", what=what, lo=f"{lo:g}", hi=f"{hi:g}")
    return x


def lat(v: str) -> float:
    return _number(v, -90, 90, "latitude")


def lon(v: str) -> float:
    return _number(v, -180, 180, "longitude")


def positive_int(v: str) -> int:
    try:
        x = int(v)
    except ValueError:
        raise Invalid("notWholeNumber", value=v) from None
    if not 0 < x <= 1_000_000:
        raise Invalid("notPositive")
    return x


def iso_date(v: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        raise Invalid("notIsoDate", value=v)
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise Invalid("notValidDate", value=v) from None


def iso_datetime(v: str) -> datetime:
    try:
        at = datetime.fromisoformat(v)
    except ValueError:
        raise Invalid("notIsoDateTime", value=v) from None
    if at.tzinfo is None:
        raise Invalid("needsOffset")
    return at


# How a pause rule is written in a CSV cell or an API field (JSON true/false arrive as "True"/"False").
PAUSES = ("yes", "true", "pauses", "paused")
RUNS = ("no", "false", "runs")
TIER_DEFAULT = ("default", "tier")


def pause_rule(v: str) -> bool | None:
    """Whether a wait stops the SLA clock: yes (pauses), no (the clock runs) or default (the tier's rule)."""
    word = v.strip().lower()
    if word in PAUSES:
        return True
    if word in RUNS:
        return False
    if word in TIER_DEFAULT:
        return None
    raise Invalid("notPauseRule", value=v)


def pause_column(kind: str) -> str:
    """The CSV column / API field of a contract's rule for ``kind`` (pause_on_hold, ...)."""
    return f"pause_{kind}"


def hours(v: str) -> Hours:
    return parse_hours(v)


def equipment_type(v: str) -> str:
    if v not in EQUIPMENT_TYPES:
        raise Invalid("unknownEquipment", value=v, types=", ".join(EQUIPMENT_TYPES))
    return v


def skills(v: Any) -> tuple[str, ...]:
    items = v if isinstance(v, list) else [s.strip() for s in v.split(";")]
    items = [str(s).strip() for s in items if str(s).strip()]
    bad = [s for s in items if not SKILL_RE.match(s)]
    if bad:
        raise Invalid("badSkill", value=bad[0])
    if len(items) > 20:
        raise Invalid("tooManySkills", max=20)
    return tuple(dict.fromkeys(items))


# --- records -------------------------------------------------------------------------------------------------------

def _done(row: Row, build: Callable[[], T]) -> T | list[FieldError]:
    return row.errors if row.errors else build()


def customer(data: Mapping[str, Any]) -> Customer | list[FieldError]:
    r = Row(data)
    v: dict[str, Any] = {
        "code": r.get("code", code),
        "name": r.get("name", name),
        "tier": r.get("tier", tier),
        "email": r.get("email", email, required=False),
        "phone": r.get("phone", phone, required=False),
        "language": r.get("language", language, required=False, default="en"),
        "timezone": r.get("timezone", timezone, required=False, default="UTC"),
    }
    return _done(r, lambda: Customer(**v))


def site(data: Mapping[str, Any]) -> Site | list[FieldError]:
    r = Row(data)
    v: dict[str, Any] = {
        "code": r.get("code", code),
        "customer_code": r.get("customer_code", code),
        "name": r.get("name", name),
        "address": r.get("address", text, required=False, default=""),
        "lat": r.get("lat", lat),
        "lon": r.get("lon", lon),
        "access": r.get("access_hours", hours, required=False, default=Hours(tuple(range(1, 8)), time(0), None)),
    }
    return _done(r, lambda: Site(**v))


def asset(data: Mapping[str, Any]) -> Asset | list[FieldError]:
    r = Row(data)
    v: dict[str, Any] = {
        "serial": r.get("serial", code),
        "site_code": r.get("site_code", code),
        "equipment_type": r.get("equipment_type", equipment_type),
        "model": r.get("model", name, required=False, default=""),
        "installed_on": r.get("installed_on", iso_date, required=False),
        "device_id": r.get("device_id", device_id, required=False),
    }
    return _done(r, lambda: Asset(**v))


def technician(data: Mapping[str, Any]) -> Technician | list[FieldError]:
    r = Row(data)
    v: dict[str, Any] = {
        "code": r.get("code", code),
        "name": r.get("name", name),
        "email": r.get("email", email, required=False),
        "skills": r.get("skills", skills, required=False) or (),
        "home_lat": r.get("home_lat", lat),
        "home_lon": r.get("home_lon", lon),
        "shift": r.get("shift", hours),
        "timezone": r.get("timezone", timezone, required=False, default="UTC"),
        "language": r.get("language", language, required=False, default="en"),
        "van": r.get("van", name, required=False),
        "home_base": r.get("home_base", name, required=False),
    }
    return _done(r, lambda: Technician(**v))


def contract(data: Mapping[str, Any]) -> Contract | list[FieldError]:
    r = Row(data)
    v: dict[str, Any] = {
        "code": r.get("code", code),
        "customer_code": r.get("customer_code", code),
        "tier": r.get("tier", tier),
        "coverage": r.get("coverage", hours),
        "response_min": r.get("response_min", positive_int, required=False),
        "onsite_min": r.get("onsite_min", positive_int, required=False),
        "repair_h": r.get("repair_h", positive_int, required=False),
        "starts_on": r.get("starts_on", iso_date),
        "ends_on": r.get("ends_on", iso_date, required=False),
    }
    if v["starts_on"] and v["ends_on"] and v["ends_on"] < v["starts_on"]:
        r.errors.append(field_error("ends_on", "endsBeforeStart"))
    if v["response_min"] and v["onsite_min"] and v["onsite_min"] < v["response_min"]:
        r.errors.append(field_error("onsite_min", "onsiteBeforeResponse"))
    # Only the kinds the input names (a column present, even empty = the tier's default): see Contract.pauses.
    v["pauses"] = tuple((kind, r.get(pause_column(kind), pause_rule, required=False))
                        for kind in PAUSE_KINDS if pause_column(kind) in data)
    return _done(r, lambda: Contract(**v))


def tier_pause_rules(data: Mapping[str, Any]) -> dict[str, bool] | list[FieldError]:
    """A tier's default pause rules ``{kind: yes|no}`` (any subset of the kinds, at least one). A tier's rule is
    the last word (no rule above it), so "default" is refused here."""
    if not isinstance(data, Mapping) or not data:
        return [field_error("rules", "nameOneKind", kinds=", ".join(PAUSE_KINDS))]
    out: dict[str, bool] = {}
    errors: list[FieldError] = []
    for kind, raw in data.items():
        if kind not in PAUSE_KINDS:
            errors.append(field_error(str(kind), "unknownPauseKind", kinds=", ".join(PAUSE_KINDS)))
            continue
        try:
            rule = pause_rule("" if raw is None else str(raw))
        except Invalid as exc:
            errors.append(FieldError(kind, str(exc), exc.said))
            continue
        if rule is None:
            errors.append(field_error(kind, "tierRuleYesNo"))
            continue
        out[kind] = rule
    return errors or out


def user(data: Mapping[str, Any]) -> UserAccount | list[FieldError]:
    r = Row(data)

    def username(v: str) -> str:
        if not USERNAME_RE.match(v):
            raise Invalid("username")
        return v

    def role(v: str) -> str:
        if v not in ROLES:
            raise Invalid("unknownRole", value=v, roles=", ".join(ROLES))
        return v

    v: dict[str, Any] = {
        "username": r.get("username", username),
        "role": r.get("role", role),
        "customer_code": r.get("customer_code", code, required=False),
        "technician_code": r.get("technician_code", code, required=False),
        "email": r.get("email", email, required=False),
        "language": r.get("language", language, required=False, default="en"),
        "timezone": r.get("timezone", timezone, required=False, default="UTC"),
    }
    if v["role"] == "customer" and not v["customer_code"]:
        r.errors.append(field_error("customer_code", "customerUserNeedsCustomer"))
    if v["role"] == "technician" and not v["technician_code"]:
        r.errors.append(field_error("technician_code", "technicianUserNeedsTechnician"))
    if v["role"] != "customer" and v["customer_code"]:
        r.errors.append(field_error("customer_code", "notBoundToCustomer", role=v["role"]))
    if v["role"] != "technician" and v["technician_code"]:
        r.errors.append(field_error("technician_code", "notBoundToTechnician", role=v["role"]))
    return _done(r, lambda: UserAccount(**v))


def absence(data: Mapping[str, Any]) -> Absence | list[FieldError]:
    r = Row(data)

    def kind(v: str) -> str:
        if v not in ABSENCE_KINDS:
            raise Invalid("unknownAbsenceKind", value=v, kinds=", ".join(ABSENCE_KINDS))
        return v

    v: dict[str, Any] = {
        "kind": r.get("kind", kind, required=False, default="absence"),
        "starts_at": r.get("starts_at", iso_datetime),
        "ends_at": r.get("ends_at", iso_datetime),
        "note": r.get("note", text, required=False, default=""),
    }
    if v["starts_at"] and v["ends_at"] and v["ends_at"] <= v["starts_at"]:
        r.errors.append(field_error("ends_at", "endsBeforeStart"))
    return _done(r, lambda: Absence(**v))


def working_pattern(days: Any) -> tuple[WorkingDay, ...] | list[FieldError]:
    """``[{"weekday": 1, "start": "08:00", "end": "17:00", "breaks": [{"start": "12:00", "minutes": 30}]}]``."""
    if not isinstance(days, list) or len(days) > 14:
        return [field_error("days", "workingSpans", max=14)]
    out: list[WorkingDay] = []
    errors: list[FieldError] = []
    for i, d in enumerate(days):
        where = f"days[{i}]"
        if not isinstance(d, dict):
            errors.append(field_error(where, "spanObject"))
            continue
        try:
            wd = int(d.get("weekday", 0))
            if not 1 <= wd <= 7:
                raise Invalid("weekday")
            start, end = _clock(str(d.get("start", ""))), _clock(str(d.get("end", "")))
            if start is None or (end is not None and end <= start):
                raise Invalid("spanBackwards")
            breaks = []
            for b in d.get("breaks") or []:
                bs, minutes = _clock(str(b.get("start", ""))), int(b.get("minutes", 0))
                if bs is None or not 5 <= minutes <= 180 or bs < start or (end is not None and bs >= end):
                    raise Invalid("breakInSpan", lo=5, hi=180)
                breaks.append(Break(bs, minutes))
            out.append(WorkingDay(wd, start, end, tuple(breaks)))
        except Invalid as exc:
            errors.append(FieldError(where, str(exc), exc.said))
        except (ValueError, TypeError, AttributeError):
            errors.append(field_error(where, "invalidSpan"))
    return errors or tuple(sorted(out, key=lambda w: (w.weekday, w.start)))
