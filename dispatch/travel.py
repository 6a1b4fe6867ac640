"""Travel-time providers: the solver only needs "seconds from A to B when leaving at t".

Two adapters behind one protocol: a straight-line estimate (no network, deterministic, used in tests and
the day simulation) and OSRM's table service (real roads) for production.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Protocol

import httpx

from dispatch.models import Location

log = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius


class TravelTimeProvider(Protocol):
    def matrix(self, locations: Sequence[Location], depart_at: float) -> list[list[float]]:
        """Square matrix of driving seconds between ``locations`` when leaving at ``depart_at`` (epoch s)."""
        ...


def haversine_km(a: Location, b: Location) -> float:
    """Great-circle distance; accurate to ~0.5 % which is far below the road-factor uncertainty."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


class StraightLineProvider:
    """Haversine × road factor at a constant speed, slowed during rush hours.

    Rush hours are given in local time: ``utc_offset_h`` converts epoch seconds to the local hour. The whole
    matrix uses the departure time's factor (one matrix per re-plan; good enough for 2-hour horizons).
    """

    def __init__(
        self,
        road_factor: float = 1.3,  # usual urban detour over straight line
        speed_kmh: float = 40.0,  # average urban speed including stops
        rush_factor: float = 1.4,  # ~40 % slower in rush hour, typical of European city congestion indices
        rush_hours: Sequence[tuple[float, float]] = ((7.0, 9.0), (16.0, 19.0)),
        utc_offset_h: float = 0.0,
    ) -> None:
        if speed_kmh <= 0 or road_factor <= 0 or rush_factor <= 0:
            raise ValueError("speed, road factor and rush factor must be positive")
        self.road_factor = road_factor
        self.speed_kmh = speed_kmh
        self.rush_factor = rush_factor
        self.rush_hours = tuple(rush_hours)
        self.utc_offset_h = utc_offset_h

    def congestion(self, depart_at: float) -> float:
        """Multiplier on travel time for a departure at ``depart_at``."""
        hour = ((depart_at / 3600.0) + self.utc_offset_h) % 24.0
        return self.rush_factor if any(a <= hour < b for a, b in self.rush_hours) else 1.0

    def road_km(self, a: Location, b: Location) -> float:
        return haversine_km(a, b) * self.road_factor

    def matrix(self, locations: Sequence[Location], depart_at: float) -> list[list[float]]:
        factor = self.congestion(depart_at) * 3600.0 / self.speed_kmh
        return [[self.road_km(a, b) * factor for b in locations] for a in locations]


class OsrmTableProvider:
    """OSRM ``/table/v1/driving`` adapter (durations only). OSRM has no departure-time model, so
    ``depart_at`` is ignored; unreachable pairs (null) become ``unreachable_s``."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float = 10.0,  # a 500×500 table takes ~1 s on a city extract; 10 s flags a sick server
        unreachable_s: float = 24 * 3600.0,  # a day: large enough that no plan uses it, finite for the solver
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.unreachable_s = unreachable_s
        self._client = client

    def matrix(self, locations: Sequence[Location], depart_at: float) -> list[list[float]]:
        if not locations:
            return []
        coords = ";".join(f"{loc.lon:.6f},{loc.lat:.6f}" for loc in locations)
        url = f"{self.base_url}/table/v1/driving/{coords}"
        params = {"annotations": "duration"}
        if self._client is not None:
            resp = self._client.get(url, params=params, timeout=self.timeout_s)
        else:
            resp = httpx.get(url, params=params, timeout=self.timeout_s)
        resp.raise_for_status()
        body = resp.json()
        if body.get("code") != "Ok":
            raise RuntimeError(f"OSRM table failed: {body.get('code')}: {body.get('message')}")
        durations = body["durations"]
        n = len(locations)
        if len(durations) != n or any(len(row) != n for row in durations):
            raise RuntimeError("OSRM table has the wrong shape")
        return [[self.unreachable_s if d is None else float(d) for d in row] for row in durations]

    def healthy(self, timeout_s: float = 2.0) -> bool:
        """Can the server answer a table now? One two-point table (a point to itself): cheap for OSRM, and it
        goes through the same service and profile the planner uses, unlike a bare TCP connect."""
        try:
            m = OsrmTableProvider(self.base_url, timeout_s=timeout_s, client=self._client).matrix(
                [Location(0.0, 0.0), Location(0.0, 0.0)], 0.0)
        except (httpx.HTTPError, RuntimeError, ValueError, KeyError, TypeError):
            return False
        return len(m) == 2


class FallbackProvider:
    """``primary`` (OSRM) while it answers, ``fallback`` (straight line) for a matrix it fails on: a routing
    server outage makes plans less exact for a while, it does not stop dispatch (every failure is logged)."""

    def __init__(self, primary: TravelTimeProvider, fallback: TravelTimeProvider) -> None:
        self.primary = primary
        self.fallback = fallback

    def matrix(self, locations: Sequence[Location], depart_at: float) -> list[list[float]]:
        try:
            return self.primary.matrix(locations, depart_at)
        except (httpx.HTTPError, RuntimeError, ValueError, KeyError, TypeError) as exc:
            log.warning("travel provider failed; using the straight-line estimate",
                        extra={"error": f"{type(exc).__name__}: {exc}"[:200]})
            return self.fallback.matrix(locations, depart_at)


def select_provider(kind: str, straight: StraightLineProvider, osrm_url: str | None = None,
                    osrm_timeout_s: float = 10.0) -> TravelTimeProvider:
    """The provider the settings name (dispatch.travel_provider): the straight-line one, or OSRM falling back
    to it."""
    if kind == "osrm":
        if not osrm_url:
            raise ValueError("travel provider 'osrm' needs its URL")
        return FallbackProvider(OsrmTableProvider(osrm_url, timeout_s=osrm_timeout_s), straight)
    if kind != "straight":
        raise ValueError(f"unknown travel provider {kind!r} (straight or osrm)")
    return straight
