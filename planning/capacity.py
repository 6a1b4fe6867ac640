"""Capacity: how many technicians, with which skills, each region and shift needs to keep "on site in 2 hours".

Analytic sizing by the pointwise-stationary approximation: every hour of a shift is an M/M/n queue at that hour's
forecast rate (Erlang C), a job's service time being its on-site duration plus the typical drive, and a job
misses the promise when it waits longer than the two hours minus that drive. Why analytic: sizing a week of
region x shift cells by simulation alone would need thousands of simulated days; the approximation ranks cells
and the dispatch simulation (bench.capacity) checks the roster it yields.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

SKILLS = ("mechanical", "electrical", "refrigeration")
# Two skills per technician (the common multi-skill profile): three possible pairs.
PAIRS: tuple[frozenset[str], ...] = tuple(frozenset(p) for p in (("mechanical", "electrical"),
                                                                  ("mechanical", "refrigeration"),
                                                                  ("electrical", "refrigeration")))
PROMISE_H = 2.0
# Technicians looked ahead when allocating: enough to cross the unstable range of a busy cell (peak offered
# load up to ~8 Erlangs per region and shift here).
LOOKAHEAD = 8


@dataclass(frozen=True)
class Shift:
    name: str
    start_h: int  # hours after the operational day's midnight; may exceed 24 for a night shift
    end_h: int

    @property
    def hours(self) -> int:
        return self.end_h - self.start_h


SHIFTS: tuple[Shift, ...] = (Shift("early", 6, 14), Shift("late", 14, 22), Shift("night", 22, 30))


@dataclass(frozen=True, order=True)
class Cell:
    day: int
    region: str
    shift: str


@dataclass(frozen=True)
class RegionProfile:
    """What the queue model needs to know about a region: its size (for the drive) and the time on site."""

    size_km: float
    onsite_h: float

    def travel_h(self, techs: int) -> float:
        return mean_travel_h(self.size_km, techs)


def mean_travel_h(size_km: float, techs: int = 1, road_factor: float = 1.3, speed_kmh: float = 40.0) -> float:
    """Mean drive from the nearest free technician to a random site in a square region: the mean distance
    between two random points (0.52 x side) for one technician, shrinking like 1/sqrt(n) as more are spread
    over it (about half of them free at a time)."""
    return 0.52 * size_km * road_factor / speed_kmh / max(1.0, math.sqrt(techs / 2))


def erlang_c(n: int, offered: float) -> float:
    """Probability that an arriving job waits (all n busy) in M/M/n with offered load ``offered`` Erlangs."""
    if n <= 0 or offered >= n:
        return 1.0
    b = 1.0
    for k in range(1, n + 1):  # Erlang B recursion: numerically stable for any n
        b = offered * b / (k + offered * b)
    return n * b / (n - offered * (1 - b))


def miss_probability(n: int, rate_per_h: float, profile: RegionProfile, promise_h: float = PROMISE_H) -> float:
    """P(on site later than the promise) for a job arriving at rate ``rate_per_h`` with n technicians."""
    if rate_per_h <= 0:
        return 0.0
    if n <= 0:
        return 1.0
    travel = profile.travel_h(n)
    service_h = profile.onsite_h + travel
    slack = promise_h - travel
    if slack <= 0:
        return 1.0
    offered = rate_per_h * service_h
    if offered >= n:
        return 1.0
    return min(1.0, erlang_c(n, offered) * math.exp(-(n - offered) / service_h * slack))


def expected_misses(n: int, hourly: Sequence[float], profile: RegionProfile) -> float:
    return sum(lam * miss_probability(n, lam, profile) for lam in hourly)


def allocate(demand: Mapping[Cell, Sequence[float]], budget: int, profiles: Mapping[str, RegionProfile],
             minimum: int = 1) -> dict[Cell, int]:
    """Spread ``budget`` technician-shifts over the cells: every cell gets ``minimum`` (someone must be on call
    everywhere), then each further technician goes where it removes the most expected misses (greedy on a
    convex cost: optimal for separable cells)."""
    roster = {c: minimum for c in demand}
    left = budget - minimum * len(demand)
    if left < 0:
        raise ValueError(f"budget {budget} below the minimum of {minimum} per cell for {len(demand)} cells")

    def gain(c: Cell) -> float:
        # Best average gain per technician over the next few: an overloaded cell (offered load above n) gains
        # nothing from one more technician until the queue becomes stable, yet needs them most.
        p = profiles[c.region]
        now = expected_misses(roster[c], demand[c], p)
        return max((now - expected_misses(roster[c] + k, demand[c], p)) / k for k in range(1, LOOKAHEAD + 1))

    heap = [(-gain(c), c) for c in demand]
    heapq.heapify(heap)
    while left > 0 and heap:
        _, c = heapq.heappop(heap)
        roster[c] += 1
        left -= 1
        heapq.heappush(heap, (-gain(c), c))
    return roster


def required(demand: Mapping[Cell, Sequence[float]], target: float, profiles: Mapping[str, RegionProfile],
             minimum: int = 1, cap: int = 60) -> dict[Cell, int]:
    """Smallest technicians per cell whose expected on-time rate reaches ``target`` (analytic)."""
    out = {}
    for c, hourly in demand.items():
        total = sum(hourly)
        n = minimum
        while n < cap and total > 0 and 1 - expected_misses(n, hourly, profiles[c.region]) / total < target:
            n += 1
        out[c] = n
    return out


def skill_mix(n: int, shares: Mapping[str, float]) -> list[frozenset[str]]:
    """Skill pairs for n technicians: every pair of the skills in demand, weighted by the demand share of its
    two skills and rounded by largest remainder, so that the skills in demand are held by proportionally more
    technicians. No demand information: the default pairs, evenly."""
    if n <= 0:
        return []
    skills = sorted((k for k, v in shares.items() if v > 0), key=lambda k: (-shares[k], k))
    if len(skills) == 1:
        return [frozenset(skills)] * n
    pairs = [frozenset(p) for p in combinations(skills, 2)] if skills else list(PAIRS)
    weights = [sum(shares.get(s, 0.0) for s in pair) or 1.0 for pair in pairs]
    total = sum(weights)
    exact = [n * w / total for w in weights]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(pairs)), key=lambda i: exact[i] - counts[i], reverse=True)[: n - sum(counts)]:
        counts[i] += 1
    # Interleave so that the first technicians of a small crew already cover different skills.
    queues = [[pair] * k for pair, k in zip(pairs, counts, strict=True)]
    out: list[frozenset[str]] = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop())
    return out


def hours_by_region(roster: Mapping[Cell, int], shifts: Sequence[Shift] = SHIFTS) -> dict[str, float]:
    length = {s.name: s.hours for s in shifts}
    out: dict[str, float] = {}
    for c, n in roster.items():
        out[c.region] = out.get(c.region, 0.0) + n * length[c.shift]
    return dict(sorted(out.items()))


def shift_hourly(forecast_by_hour: Sequence[float], shift: Shift) -> list[float]:
    """The forecast rates for the hours of ``shift`` out of an operational day's hourly forecast (index 0 =
    the day's 06:00 when shifts start at 6)."""
    first = SHIFTS[0].start_h
    return list(forecast_by_hour[shift.start_h - first:shift.end_h - first])


def average_day(hourly_counts: Sequence[float], first_hour: int | None = None) -> list[float]:
    """Mean incidents per hour of the day over the whole days in ``hourly_counts`` (index 0 = a midnight),
    rotated to an operational day that starts at ``first_hour`` (default: the first shift's start).

    Why: the roster a planner builds without a forecast staffs every day alike from the history's average day;
    feeding that average to ``allocate`` gives the fair baseline against which the forecast roster is judged.
    A trailing partial day is ignored, so every hour of the day is averaged over the same days.
    """
    first = SHIFTS[0].start_h if first_hour is None else first_hour
    days = len(hourly_counts) // 24
    if days == 0:
        raise ValueError("need at least one whole day of hourly counts")
    sums = [0.0] * 24
    for i in range(days * 24):
        sums[i % 24] += float(hourly_counts[i])
    return [sums[(first + h) % 24] / days for h in range(24)]
