from dispatch import Location, StraightLineProvider
from planning.coverage import Base, Site, coverage_map, qualified, summary

DAY0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
CITY = Location(51.92, 4.48)
FAR = Location(52.80, 4.48)  # ~98 km north: beyond 2 h at 40 km/h


def site(i: str, loc: Location, tier: str = "standard", skills: frozenset[str] = frozenset({"mechanical"})) -> Site:
    return Site(i, int(i[-1]), f"Customer {i}", tier, "r", loc, skills)


def test_overnight_shifts_and_skills() -> None:
    night = Base("n", CITY, frozenset({"electrical"}), 22, 6)
    assert night.on_shift(23) and night.on_shift(3) and not night.on_shift(12)
    assert not qualified(site("s1", CITY), night)
    assert qualified(site("s2", CITY, skills=frozenset()), night)  # no skill known: anyone


def test_a_site_is_covered_only_when_a_qualified_technician_on_shift_reaches_it_in_time() -> None:
    day = Base("d", CITY, frozenset({"mechanical"}), 8, 17)
    sites = [site("s1", CITY, "key"), site("s2", FAR, "key"), site("s3", CITY, skills=frozenset({"hvac"}))]
    cov = coverage_map(sites, [day], StraightLineProvider(), DAY0)
    assert [c.hours_covered for c in cov] == [9, 0, 0]
    assert cov[0].covered[8] and not cov[0].covered[17] and cov[0].technicians[10] == 1
    s = summary(cov)
    assert s["uncovered_sites"] == 3 and {a["customer_id"] for a in s["uncovered_key_accounts"]} == {1, 2}
    assert s["covered_by_hour"][10] == round(1 / 3, 3) and s["covered_by_hour"][3] == 0.0
