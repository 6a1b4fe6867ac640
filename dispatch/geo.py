"""Straight-line travel estimates in plain coordinates, for callers without ``Location`` objects (the board's
manual assignment). Restored after the optimiser merge removed it; it delegates to ``dispatch.travel``."""

from __future__ import annotations

from dispatch.models import Location
from dispatch.travel import haversine_km as _haversine


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return _haversine(Location(lat1, lon1), Location(lat2, lon2))


def travel_seconds(lat1: float, lon1: float, lat2: float, lon2: float, *, road_factor: float,
                   speed_kmh: float) -> float:
    return haversine_km(lat1, lon1, lat2, lon2) * road_factor / speed_kmh * 3600.0
