from dispatch import FreeTechnician, nearest_qualified
from dispatch.models import Location
from dispatch.travel import haversine_km

SITE = (51.92, 4.48)


def tech(i: int, lat: float, lon: float, *skills: str) -> FreeTechnician:
    return FreeTechnician(i, f"T{i}", f"Tech {i}", frozenset(skills), lat, lon)


def test_haversine_known_distance() -> None:
    # Rotterdam centre to The Hague centre: about 20 km as the crow flies.
    assert 19 < haversine_km(Location(51.9225, 4.4792), Location(52.0705, 4.3007)) < 21


def test_nearest_qualified_skips_closer_but_unqualified() -> None:
    near_unqualified = tech(1, 51.921, 4.481, "electrical")
    far_qualified = tech(2, 51.95, 4.52, "mechanical", "electrical")
    choice = nearest_qualified(["mechanical"], *SITE, [near_unqualified, far_qualified], road_factor=1.3,
                               speed_kmh=40)
    assert choice is not None and choice[0].id == 2


def test_nearest_of_the_qualified_wins_and_none_when_nobody_qualifies() -> None:
    a, b = tech(1, 51.93, 4.49, "mechanical"), tech(2, 52.0, 4.6, "mechanical")
    assert nearest_qualified(["mechanical"], *SITE, [b, a], road_factor=1.3, speed_kmh=40)[0].id == 1
    assert nearest_qualified(["refrigeration"], *SITE, [a, b], road_factor=1.3, speed_kmh=40) is None
