"""Pure rules of the live flow: what a dispatch plan asks of spares, and how a technician's report reads.

Dispatch decides *how* a job gets its parts when it plans the route: a pick-up stop at a depot before the job,
or the technician's own van (a job without a pick-up stop). Spares turns that into reservations
(``spares.service.apply_plan``); when the van cannot back it, the parts go by courier to the site.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from spares.models import GeoPoint

PlanSource = Literal["van", "depot"]
SourceKindName = Literal["van", "depot", "courier"]


@dataclass(frozen=True)
class PlannedParts:
    """One active work order with parts, as the current plan sees it.

    ``source`` is None when the plan does not serve the job (dropped): its holds are kept, nothing new is
    reserved. ``committed`` means the technician has been sent (assigned, en route, on site): the optimiser then
    keeps the job first on that technician's route without re-choosing its pick-up, so an existing hold for the
    same technician stands.
    """

    work_order_id: int
    technician_id: int | None
    source: PlanSource | None
    depot_location_id: int | None
    needs: Mapping[str, int]
    site: GeoPoint
    arrival: float | None = None
    committed: bool = False
    incident_id: int | None = field(default=None, compare=False)


_QTY_RE = re.compile(r"^\s*(?:(\d+)\s*[x×*]\s*)?([A-Za-z0-9][A-Za-z0-9._/-]*)\s*(?:(?:[x×*:]\s*|\s+)(\d+))?\s*$")


def parse_parts_used(items: Iterable[str]) -> dict[str, int]:
    """The phone sends free text per line: "BRG-6204", "BRG-6204 x2", "2x BRG-6204" or "BRG-6204:2".

    Quantities of the same SKU add up; a line that does not read as a SKU (with an optional count) is ignored
    here (it is still kept in the visit notes)."""
    out: dict[str, int] = {}
    for raw in items:
        m = _QTY_RE.match(raw)
        if m is None:
            continue
        qty = int(m.group(1) or m.group(3) or 1)
        if qty <= 0:
            continue
        out[m.group(2)] = out.get(m.group(2), 0) + qty
    return out


def km(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


def straight_line_s(road_factor: float, speed_kmh: float):  # type: ignore[no-untyped-def]
    """A ``travel_time(a, b) -> seconds`` estimate (the same rule as dispatch's straight-line provider)."""
    def travel(a: GeoPoint, b: GeoPoint) -> float:
        return km(a, b) * road_factor / speed_kmh * 3600.0
    return travel


def missing(needs: Mapping[str, int], covered: Mapping[str, int]) -> dict[str, int]:
    """What is still to be sourced after ``covered`` (e.g. shipments already on their way)."""
    return {sku: q - covered.get(sku, 0) for sku, q in needs.items() if q - covered.get(sku, 0) > 0}


def nearest_with_stock(site: GeoPoint, points: Iterable[tuple[int, GeoPoint, int]], qty: int,
                       reach_km: float) -> int | None:
    """The location (id, point, available) nearest to the site with ``qty`` available, within reach."""
    best: tuple[float, int] | None = None
    for loc, point, available in points:
        if available < qty:
            continue
        d = km(site, point)
        if d <= reach_km and (best is None or (d, loc) < best):
            best = (d, loc)
    return None if best is None else best[1]
