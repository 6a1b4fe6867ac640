"""Shared builders for dispatch tests: a small flat city around one point, times relative to NOW."""

from __future__ import annotations

import math

import pytest

from dispatch import Job, Location, Plan, Problem, Technician, check_plan, solve

NOW = 1_767_258_000.0  # 2026-01-01 09:00 UTC: outside rush hours, so travel is the plain estimate
ORIGIN = Location(48.0, 11.0)
KM_LAT = 111.2


def at(east_km: float, north_km: float = 0.0) -> Location:
    return Location(
        ORIGIN.lat + north_km / KM_LAT, ORIGIN.lon + east_km / (KM_LAT * math.cos(math.radians(48.0)))
    )


def tech(tid: str, east_km: float = 0.0, skills: tuple[str, ...] = ("hvac",), **kw: object) -> Technician:
    loc = at(east_km)
    base = {
        "skills": frozenset(skills),
        "home": loc,
        "position": loc,
        "shift_start": NOW - 3600,
        "shift_end": NOW + 8 * 3600,
    }
    base.update(kw)
    return Technician(tid, **base)  # type: ignore[arg-type]


def job(jid: str, east_km: float, skills: tuple[str, ...] = ("hvac",), **kw: object) -> Job:
    base = {
        "location": at(east_km),
        "required_skills": frozenset(skills),
        "duration_s": 1800.0,
        "created_at": NOW,
    }
    base.update(kw)
    return Job(jid, **base)  # type: ignore[arg-type]


def solved(problem: Problem, seconds: float = 0.3, **kw: object) -> Plan:
    """Solve and assert the independent checker accepts the plan (every returned plan is checked)."""
    plan = solve(problem, seconds, **kw)  # type: ignore[arg-type]
    assert check_plan(problem, plan) == []
    return plan


def order(plan: Plan, tech_id: str) -> list[str | None]:
    return [s.job_id for s in plan.routes[tech_id] if s.kind == "job"]


@pytest.fixture
def now() -> float:
    return NOW
