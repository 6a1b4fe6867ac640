"""Straight-line travel estimates: the foundation's travel model until a road-network provider is configured."""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def travel_seconds(lat1: float, lon1: float, lat2: float, lon2: float, *, road_factor: float,
                   speed_kmh: float) -> float:
    return haversine_km(lat1, lon1, lat2, lon2) * road_factor / speed_kmh * 3600.0
