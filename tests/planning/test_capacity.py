import pytest

from bench.capacity import run
from planning.capacity import (
    PAIRS,
    Cell,
    RegionProfile,
    allocate,
    average_day,
    erlang_c,
    hours_by_region,
    miss_probability,
    required,
    skill_mix,
)

CITY = RegionProfile(size_km=20.0, onsite_h=1.0)


def test_erlang_c_matches_the_textbook_values() -> None:
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = utilisation
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(3, 3.0) == 1.0  # unstable


def test_miss_probability_falls_with_technicians_and_rises_with_load() -> None:
    assert miss_probability(3, 2.0, CITY) > miss_probability(5, 2.0, CITY) > miss_probability(8, 2.0, CITY)
    assert miss_probability(5, 3.0, CITY) > miss_probability(5, 1.0, CITY)
    assert miss_probability(4, 0.0, CITY) == 0.0 and miss_probability(0, 1.0, CITY) == 1.0


def test_allocate_puts_technicians_where_the_forecast_load_is() -> None:
    busy, quiet = Cell(0, "port", "early"), Cell(0, "rural", "night")
    profiles = {"port": CITY, "rural": CITY}
    roster = allocate({busy: [4.0] * 8, quiet: [0.1] * 8}, budget=10, profiles=profiles)
    assert sum(roster.values()) == 10 and roster[quiet] >= 1 and roster[busy] >= 7
    with pytest.raises(ValueError):
        allocate({busy: [1.0], quiet: [1.0]}, budget=1, profiles=profiles)


def test_required_roster_reaches_the_target_analytically_and_hours_add_up() -> None:
    cells = {Cell(0, "port", "early"): [3.0] * 8, Cell(0, "port", "late"): [1.0] * 8}
    need = required(cells, 0.95, {"port": CITY})
    assert need[Cell(0, "port", "early")] > need[Cell(0, "port", "late")] >= 1
    assert hours_by_region(need) == {"port": 8.0 * sum(need.values())}


def test_skill_mix_follows_demand_and_covers_every_skill_early() -> None:
    mix = skill_mix(6, {"mechanical": 0.6, "electrical": 0.3, "refrigeration": 0.1})
    assert len(mix) == 6 and sum("mechanical" in p for p in mix) >= 4
    assert set().union(*mix[:2]) == {"mechanical", "electrical", "refrigeration"}
    assert skill_mix(0, {}) == [] and skill_mix(2, {"mechanical": 1.0}) == [frozenset({"mechanical"})] * 2
    assert len(skill_mix(4, {})) == 4 and all(p in PAIRS for p in skill_mix(4, {}))


def test_capacity_benchmark_forecast_roster_beats_flat_for_the_same_hours() -> None:
    out = run(seed=1, weeks=3, n_days=2, flat_per_cell=4, policy="baseline")
    flat, forecast = out["flat"], out["forecast"]
    assert flat["technician_hours"] == forecast["technician_hours"]
    assert forecast["onsite_2h_rate"] > flat["onsite_2h_rate"]
    assert forecast["jobs"] == flat["jobs"] > 0


def test_average_day_averages_each_hour_over_whole_days_from_the_first_shift() -> None:
    day1 = [float(h) for h in range(24)]  # hour h of the day has h incidents
    day2 = [float(h) + 2.0 for h in range(24)]
    avg = average_day(day1 + day2 + [99.0] * 5)  # a trailing partial day is ignored
    assert len(avg) == 24
    assert avg[0] == pytest.approx(7.0)  # index 0 = 06:00: (6 + 8) / 2
    assert avg[17] == pytest.approx(24.0)  # 23:00: (23 + 25) / 2
    assert avg[18] == pytest.approx(1.0)  # 00:00 of the next calendar day: (0 + 2) / 2
    assert average_day(day1, first_hour=0) == day1
    with pytest.raises(ValueError):
        average_day([1.0] * 23)


def test_history_average_roster_has_the_forecast_rosters_hours() -> None:
    out = run(seed=2, weeks=2, n_days=1, flat_per_cell=3, policy="baseline")
    assert out["equal_hours"] is True
    for key in ("flat", "forecast", "history_average"):
        assert out[key]["technician_hours"] == 3 * 3 * 3 * 8 * out["days"]  # per cell x regions x shifts x h
        assert 0.0 <= out[key]["onsite_2h_rate"] <= 1.0
    assert out["forecast_minus_history_average"] == pytest.approx(
        out["forecast"]["onsite_2h_rate"] - out["history_average"]["onsite_2h_rate"], abs=1e-4)
