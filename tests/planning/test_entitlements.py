from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from diagnostics import SlaDeadlines
from planning.entitlements import (
    clock_start,
    coverage_label,
    covering,
    in_coverage,
    next_inspection,
)
from planning.entitlements import entitlement as _entitlement
from planning.models import Contract

# The rows migration 0640 ships in sla_tier_defaults (the repository reads them; these tests pass them in).
TIER_DEFAULTS = {"key": SlaDeadlines(10, 90, 720), "gold": SlaDeadlines(10, 90, 720),
                 "standard": SlaDeadlines(15, 120, 1440), "bronze": SlaDeadlines(30, 240, 2880)}
entitlement = partial(_entitlement, tier_defaults=TIER_DEFAULTS)

OFFICE = {"coverage_days": (1, 2, 3, 4, 5), "coverage_start": time(7), "coverage_end": time(19)}
ALWAYS = {"coverage_days": (1, 2, 3, 4, 5, 6, 7), "coverage_start": time(0), "coverage_end": time.max}


def contract(**kw) -> Contract:
    base = {"id": 1, "code": "SC-1", "customer_id": 1, "device_id": None, "name": "std", "sla_tier": "standard",
            "starts_on": date(2024, 1, 1)} | OFFICE
    return Contract(**(base | kw))


MONDAY_10 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
SATURDAY_03 = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)


def test_asset_contract_wins_over_customer_contract_and_expired_ones_do_not_count() -> None:
    wide = contract(id=1, code="wide")
    asset = contract(id=2, code="asset", device_id="pump-1", sla_tier="gold")
    expired = contract(id=3, code="old", device_id="pump-1", ends_on=date(2025, 1, 1), starts_on=date(2023, 1, 1))
    other = contract(id=4, code="other", customer_id=2)
    assert covering([wide, asset, expired, other], "pump-1", 1, MONDAY_10).code == "asset"
    assert covering([wide, asset, expired, other], "pump-2", 1, MONDAY_10).code == "wide"
    assert covering([expired, other], "pump-1", 1, MONDAY_10) is None


def test_clocks_start_when_coverage_opens_outside_contract_hours() -> None:
    k = contract()
    assert in_coverage(k, MONDAY_10) and not in_coverage(k, SATURDAY_03)
    assert clock_start(k, MONDAY_10) == MONDAY_10
    assert clock_start(k, SATURDAY_03) == datetime(2026, 1, 12, 7, 0, tzinfo=UTC)  # Monday 07:00
    e = entitlement(k, "standard", 2, SATURDAY_03)
    assert e.onsite_due == datetime(2026, 1, 12, 9, 0, tzinfo=UTC) and e.labour_billable and not e.in_coverage


def test_a_247_contract_starts_clocks_at_once_with_its_tier_terms() -> None:
    e = entitlement(contract(sla_tier="key", **ALWAYS), "bronze", 2, SATURDAY_03)
    assert e.clock_starts_at == SATURDAY_03 and e.onsite_due - SATURDAY_03 == timedelta(minutes=90)
    assert not e.labour_billable and e.sla_tier == "key"


def test_without_contract_the_customer_tier_applies_and_everything_is_billable() -> None:
    e = entitlement(None, "bronze", 2, MONDAY_10, ["BRG-6205"])
    assert e.contract_code is None and e.onsite_due - MONDAY_10 == timedelta(hours=4)
    assert e.labour_billable and e.billable_parts == ("BRG-6205",)


def test_warranty_and_included_parts_decide_what_is_billable() -> None:
    k = contract(included_parts=("FLT-1",))
    e = entitlement(k, "standard", 2, MONDAY_10, ["FLT-1", "BRG-6205"])
    assert e.covered_parts == ("FLT-1",) and e.billable_parts == ("BRG-6205",) and not e.labour_billable
    w = entitlement(contract(warranty_until=date(2027, 1, 1)), "standard", 2, SATURDAY_03, ["BRG-6205"])
    assert w.warranty and w.billable_parts == () and not w.labour_billable
    lapsed = entitlement(contract(warranty_until=date(2025, 1, 1)), "standard", 2, MONDAY_10, ["BRG-6205"])
    assert not lapsed.warranty and lapsed.billable_parts == ("BRG-6205",)


def test_severity_one_doubles_the_clocks() -> None:
    assert entitlement(contract(), "standard", 1, MONDAY_10).onsite_due - MONDAY_10 == timedelta(hours=4)


def test_inspection_schedule_and_labels() -> None:
    k = contract(inspection_interval_days=90, last_inspection_on=date(2025, 12, 1))
    assert next_inspection(k) == date(2026, 3, 1)
    assert next_inspection(contract()) is None
    assert coverage_label(k) == "Mon-Fri 07:00-19:00"
    assert coverage_label(contract(**ALWAYS)) == "24x7"


def test_a_contracts_own_deadlines_win_over_its_tier_defaults_and_targets_run_from_the_opening() -> None:
    own = contract(onsite_min=480, response_min=60, repair_h=48)
    e = entitlement(own, "standard", 2, SATURDAY_03)
    assert e.onsite_due == datetime(2026, 1, 12, 15, 0, tzinfo=UTC)  # Monday 07:00 + 8 h
    assert e.onsite_target == SATURDAY_03 + timedelta(hours=2)  # the promise does not wait for coverage
    tight = entitlement(contract(target_onsite_min=60), "standard", 2, MONDAY_10)
    assert tight.onsite_target == MONDAY_10 + timedelta(hours=1) and tight.onsite_due == MONDAY_10 + timedelta(hours=2)
