"""Each validation rule on its own (pure): what is accepted, what is refused and the reason given."""

from __future__ import annotations

from datetime import date, time

import pytest

from administration import validation as v
from administration.models import Customer, FieldError, Hours
from i18n import render


def fields(result: object) -> dict[str, str]:
    assert isinstance(result, list), result
    return {e.field: e.message for e in result}


CUSTOMER = {"code": "ACME", "name": "Acme", "tier": "gold", "email": "a@b.example", "phone": "+31 10 123",
            "language": "nl", "timezone": "Europe/Amsterdam"}


def test_hours_parse_24x7_ranges_lists_and_end_of_day() -> None:
    assert v.parse_hours("24x7") == Hours((1, 2, 3, 4, 5, 6, 7), time(0), None)
    assert v.parse_hours("Mon-Fri 08:00-18:00") == Hours((1, 2, 3, 4, 5), time(8), time(18))
    assert v.parse_hours("Mon,Wed,Fri 07:30-24:00") == Hours((1, 3, 5), time(7, 30), None)
    assert v.parse_hours("Sat-Sun 09:00-13:00").days == (6, 7)
    for h in ("Mon-Fri 08:00-18:00", "24x7", "Mon,Wed-Fri 06:00-22:00"):
        assert v.hours_text(v.parse_hours(h)) == h


@pytest.mark.parametrize("text", ["Mon-Fri", "8-18", "Mon-Fri 18:00-08:00", "Fri-Mon 08:00-18:00",
                                  "Mon-Fry 08:00-18:00", "Mon-Fri 25:00-26:00", "always"])
def test_hours_refuse_what_is_not_hours(text: str) -> None:
    with pytest.raises(v.Invalid):
        v.parse_hours(text)


def test_customer_valid_and_names_in_any_script() -> None:
    c = v.customer({**CUSTOMER, "name": "华东制冷有限公司", "language": "zh-Hans", "timezone": "Asia/Shanghai"})
    assert isinstance(c, Customer) and c.name == "华东制冷有限公司"
    assert v.customer({**CUSTOMER, "email": "", "phone": "", "language": "", "timezone": ""}) == Customer(
        "ACME", "Acme", "gold", None, None, "en", "UTC")


def test_customer_reports_every_bad_field_at_once() -> None:
    errors = fields(v.customer({"code": "A CME", "name": "", "tier": "platinum", "email": "nope",
                                "phone": "call me", "language": "Dutch", "timezone": "CET+1"}))
    assert set(errors) == {"code", "name", "tier", "email", "phone", "language", "timezone"}
    assert errors["name"] == "required"
    assert "IANA" in errors["timezone"] and "platinum" in errors["tier"]


def test_names_refuse_control_characters_and_excess_length() -> None:
    assert "control" in fields(v.customer({**CUSTOMER, "name": "Acme\x00"}))["name"]
    assert "at most" in fields(v.customer({**CUSTOMER, "name": "x" * 201}))["name"]


def test_site_coordinates_and_access_hours() -> None:
    base = {"code": "S1", "customer_code": "ACME", "name": "Plant", "address": "", "lat": "51.9", "lon": "4.4",
            "access_hours": ""}
    s = v.site(base)
    assert not isinstance(s, list) and s.access.is_24x7
    errors = fields(v.site({**base, "lat": "91", "lon": "east", "access_hours": "Mon-Fri 8-6"}))
    assert set(errors) == {"lat", "lon", "access_hours"}
    assert fields(v.site({**base, "lat": "nan"}))["lat"].startswith("latitude")


def test_asset_dates_types_and_device_ids() -> None:
    base = {"serial": "SN1", "site_code": "S1", "equipment_type": "pump", "model": "", "installed_on": "2021-03-15",
            "device_id": "pump-1"}
    a = v.asset(base)
    assert not isinstance(a, list) and a.installed_on == date(2021, 3, 15)
    errors = fields(v.asset({**base, "equipment_type": "boiler", "installed_on": "15/03/2021",
                             "device_id": "pump/1#"}))
    assert set(errors) == {"equipment_type", "installed_on", "device_id"}
    assert "ISO" in errors["installed_on"]
    assert "valid date" in fields(v.asset({**base, "installed_on": "2021-02-30"}))["installed_on"]


def test_technician_skills_and_shift() -> None:
    base = {"code": "T1", "name": "王伟", "email": "", "skills": "mechanical; electrical", "home_lat": "31.2",
            "home_lon": "121.5", "shift": "Mon-Fri 08:00-17:00", "timezone": "Asia/Shanghai"}
    t = v.technician(base)
    assert not isinstance(t, list) and t.skills == ("mechanical", "electrical") and t.shift.days == (1, 2, 3, 4, 5)
    errors = fields(v.technician({**base, "skills": "Mechanical,Electrical", "shift": ""}))
    assert set(errors) == {"skills", "shift"} and "separate skills with ;" in errors["skills"]


def test_contract_deadlines_and_dates() -> None:
    base = {"code": "K1", "customer_code": "ACME", "tier": "gold", "coverage": "24x7", "response_min": "10",
            "onsite_min": "90", "repair_h": "12", "starts_on": "2025-01-01", "ends_on": ""}
    k = v.contract(base)
    assert not isinstance(k, list) and (k.response_min, k.onsite_min, k.repair_h, k.ends_on) == (10, 90, 12, None)
    assert v.contract({**base, "response_min": "", "onsite_min": "", "repair_h": ""}).response_min is None  # type: ignore[union-attr]
    errors = fields(v.contract({**base, "response_min": "-5", "repair_h": "1.5", "ends_on": "2024-12-31"}))
    assert set(errors) == {"response_min", "repair_h", "ends_on"}
    assert "shorter" in fields(v.contract({**base, "response_min": "120", "onsite_min": "60"}))["onsite_min"]


def test_user_scope_must_match_role() -> None:
    assert fields(v.user({"username": "c1", "role": "customer"})) == {
        "customer_code": "a customer user needs the customer it belongs to"}
    assert "not bound" in fields(v.user({"username": "d1", "role": "dispatcher", "technician_code": "T1"}))[
        "technician_code"]
    assert "unknown role" in fields(v.user({"username": "x1", "role": "root"}))["role"]


def test_absence_and_working_pattern() -> None:
    assert "offset" in fields(v.absence({"starts_at": "2026-12-24T08:00", "ends_at": "2026-12-25T08:00+01:00"}))[
        "starts_at"]
    assert "before" in fields(v.absence({"starts_at": "2026-12-24T08:00Z", "ends_at": "2026-12-23T08:00Z"}))[
        "ends_at"]
    days = v.working_pattern([{"weekday": 2, "start": "08:00", "end": "17:00",
                               "breaks": [{"start": "12:00", "minutes": 30}]},
                              {"weekday": 1, "start": "09:00", "end": "24:00"}])
    assert not isinstance(days, list) and [d.weekday for d in days] == [1, 2] and days[0].end is None
    bad = v.working_pattern([{"weekday": 8, "start": "08:00", "end": "17:00"},
                             {"weekday": 1, "start": "08:00", "end": "17:00",
                              "breaks": [{"start": "18:00", "minutes": 30}]}])
    assert isinstance(bad, list) and [e.field for e in bad] == ["days[0]", "days[1]"]
    assert v.working_pattern("Mon-Fri") == [FieldError("days", "a list of at most 14 working spans")]


def test_contract_pause_rules_only_for_the_kinds_named() -> None:
    base = {"code": "K1", "customer_code": "C1", "tier": "gold", "coverage": "24x7", "starts_on": "2026-01-01"}
    assert v.contract(base).pauses == ()  # not named: the stored rules stay as they are
    k = v.contract({**base, "pause_on_hold": "No", "pause_awaiting_parts": "yes", "pause_customer_window": ""})
    assert k.pauses == (("on_hold", False), ("awaiting_parts", True), ("customer_window", None))
    assert v.contract({**base, "pause_on_hold": True, "pause_customer_window": "default"}).pauses == (
        ("on_hold", True), ("customer_window", None))
    bad = fields(v.contract({**base, "pause_on_hold": "sometimes", "pause_awaiting_parts": "1"}))
    assert set(bad) == {"pause_on_hold", "pause_awaiting_parts"}
    assert "default (the tier's rule)" in bad["pause_on_hold"]


def test_tier_pause_rules_are_yes_or_no() -> None:
    assert v.tier_pause_rules({"on_hold": "yes", "awaiting_parts": False}) == {"on_hold": True,
                                                                             "awaiting_parts": False}
    assert set(fields(v.tier_pause_rules({"on_hold": "default", "nap": "yes", "customer_window": None}))) == {
        "on_hold", "nap", "customer_window"}
    assert fields(v.tier_pause_rules({})) == {"rules": "name at least one of on_hold, awaiting_parts, "
                                                       "customer_window"}


def _chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_every_reason_is_a_message_that_reads_in_chinese_and_says_the_same_in_english() -> None:
    """The reasons reach the admin page and the portal as catalogue messages (``FieldError.said``): a zh-CN
    reader gets Chinese, and the English text kept beside it (the API's ``reason``, CSV reports) is the
    message's English rendering, with the offending value quoted as before."""
    errors = [
        *v.customer({"code": "A CME", "name": "", "tier": "platinum", "email": "nope", "phone": "call me",
                     "language": "Dutch", "timezone": "CET+1"}),
        *v.customer({**CUSTOMER, "name": "Acme\x00"}),
        *v.tier_pause_rules({"on_hold": "maybe", "sleeping": "yes", "awaiting_parts": "default"}),
        *v.working_pattern([{"weekday": 9, "start": "08:00", "end": "17:00"}, "x",
                            {"weekday": 1, "start": "08:00", "end": "17:00", "breaks": [{"start": "x"}]},
                            {"weekday": "Mon", "start": "08:00", "end": "17:00"}]),
    ]
    assert len(errors) >= 13
    for e in errors:
        assert e.said is not None and e.said.key.startswith("admin.reason."), e
        assert render(e.said.to_json(), "en", "UTC") == e.message
        zh = render(e.said.to_json(), "zh-CN", "Asia/Shanghai")
        assert _chinese(zh) and zh != e.message, (e, zh)
    by_field = {e.field: e.message for e in errors}
    assert by_field["email"] == "'nope' is not an e-mail address"
    assert by_field["on_hold"].startswith("'maybe' is not a pause rule: yes (the clock stops)")
    assert by_field["days[3]"] == "invalid span"  # not Python's own words about int()
