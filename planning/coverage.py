"""Coverage map: which customer sites a qualified technician can reach within 2 hours, at each hour of the day.

A site is covered at hour h when some technician on shift at h, holding a skill the site's equipment needs,
can drive from their base to it within the promise at that hour's traffic. Why from the base and not the live
position: this is the planning view (are we staffed to keep the promise at all?), not today's dispatch.
What-if: add technicians, or a staffed depot, and see which uncovered sites and key accounts become covered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dispatch import Location, TravelTimeProvider

PROMISE_S = 2 * 3600.0


@dataclass(frozen=True)
class Site:
    id: str
    customer_id: int
    customer_name: str
    tier: str
    region: str
    location: Location
    skills: frozenset[str]  # any one of them qualifies a technician; empty = anyone


@dataclass(frozen=True)
class Base:
    """A technician (or what-if technician) as the coverage map sees them: base, skills, daily shift hours."""

    id: str
    location: Location
    skills: frozenset[str]
    shift_start_h: float  # local hour of day; an overnight shift has end < start
    shift_end_h: float

    def on_shift(self, hour: float) -> bool:
        if self.shift_end_h >= self.shift_start_h:
            return self.shift_start_h <= hour < self.shift_end_h
        return hour >= self.shift_start_h or hour < self.shift_end_h


@dataclass(frozen=True)
class SiteCoverage:
    site: Site
    covered: tuple[bool, ...]  # per hour of day 0..23
    technicians: tuple[int, ...]  # qualified technicians able to reach it, per hour

    @property
    def hours_covered(self) -> int:
        return sum(self.covered)


def qualified(site: Site, base: Base) -> bool:
    return not site.skills or bool(site.skills & base.skills)


def coverage_map(sites: Sequence[Site], bases: Sequence[Base], travel: TravelTimeProvider, day0: float,
                 promise_s: float = PROMISE_S) -> list[SiteCoverage]:
    """Per site and hour of the day starting at ``day0`` (epoch s of local midnight), who can be there in time."""
    out = []
    for site in sites:
        cand = [b for b in bases if qualified(site, b)]
        counts = []
        for h in range(24):
            at = day0 + h * 3600
            n = sum(1 for b in cand if b.on_shift(h) and travel.matrix([b.location, site.location], at)[0][1]
                    <= promise_s)
            counts.append(n)
        out.append(SiteCoverage(site, tuple(c > 0 for c in counts), tuple(counts)))
    return out


def summary(cov: Sequence[SiteCoverage]) -> dict[str, object]:
    """Share of site-hours covered, per hour, and the key accounts with any uncovered hour."""
    n = max(1, len(cov))
    per_hour = [round(sum(c.covered[h] for c in cov) / n, 3) for h in range(24)]
    uncovered_key = sorted({(c.site.customer_id, c.site.customer_name) for c in cov
                            if c.site.tier == "key" and not all(c.covered)})
    return {"sites": len(cov), "site_hours_covered": round(sum(c.hours_covered for c in cov) / (24 * n), 4),
            "covered_by_hour": per_hour,
            "uncovered_sites": sum(1 for c in cov if not all(c.covered)),
            "uncovered_key_accounts": [{"customer_id": i, "customer_name": name} for i, name in uncovered_key]}
