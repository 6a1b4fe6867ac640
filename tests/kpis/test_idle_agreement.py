"""Idle-while-waiting: the product's interval measure (kpis.definitions, summed per UTC day as the report does)
and bench.live_day's exact sweep (its own predicates over raw rows) agree on random histories, with shifts,
overnight shifts, breaks, skills, cancelled and unstarted jobs, and "as of" instants cutting through visits.

Why: the two were written apart on purpose (the benchmark checks the product), and differed by up to 0.34 min
per technician while the benchmark sampled every 10 s. Both now integrate exactly, so they must agree to
rounding, which is what the benchmark's "reported within 0.01 of measured" relies on.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bench.live_day import as_of, idle_while_waiting_min
from kpis.definitions import day_bounds, idle_while_waiting_s
from kpis.models import TechnicianFacts, Visit

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
SKILLS = ("mech", "elec", "gas")
SHIFTS = ((time(0), time(23, 59, 59)), (time(7), time(19)), (time(20), time(6)), (time(8, 30), time(17, 15)))


def _history(seed: int) -> tuple[list[dict], list[dict], datetime]:
    rng = random.Random(seed)
    techs = []
    for i in range(rng.randint(1, 4)):
        start, end = rng.choice(SHIFTS)
        breaks = [{"start": f"{rng.randint(0, 23):02d}:{rng.choice((0, 15, 30)):02d}",
                   "minutes": rng.choice((15, 30, 60))} for _ in range(rng.randint(0, 2))]
        techs.append({"id": i + 1, "skills": rng.sample(SKILLS, rng.randint(1, 3)), "shift_start": start,
                      "shift_end": end, "breaks": breaks})
    visits = []
    for k in range(rng.randint(1, 12)):
        created = T0 + timedelta(minutes=rng.uniform(0, 36 * 60))
        tech = rng.choice(techs)["id"] if rng.random() < 0.8 else None
        departed = arrived = completed = None
        status = "open"
        if tech is not None and rng.random() < 0.8:
            departed = created + timedelta(minutes=rng.uniform(0, 300)) if rng.random() < 0.8 else None
            arrived = (departed or created) + timedelta(minutes=rng.uniform(5, 90))
            status = "on_site"
            if rng.random() < 0.8:
                completed, status = arrived + timedelta(minutes=rng.uniform(10, 180)), "completed"
        if rng.random() < 0.15:
            status = "cancelled"
        visits.append({"id": k + 1, "technician_id": tech, "status": status,
                       "required_skills": rng.sample(SKILLS, rng.randint(0, 2)), "created_at": created,
                       "departed_at": departed, "arrived_at": arrived, "completed_at": completed})
    at = T0 + timedelta(minutes=rng.uniform(60, 48 * 60))
    return techs, visits, at


def _product(techs: list[dict], visits: list[dict], at: datetime, tz: ZoneInfo) -> float:
    """As kpis.service.report does: per UTC day up to ``at``, timestamps after ``at`` unknown."""
    def known(x: datetime | None) -> datetime | None:
        return x if x is not None and x <= at else None

    facts = [TechnicianFacts(t["id"], f"T{t['id']}", "r", frozenset(t["skills"]), t["shift_start"], t["shift_end"],
                             tuple((time.fromisoformat(b["start"]), b["minutes"]) for b in t["breaks"]))
             for t in techs]
    vs = [Visit(v["id"], v["id"], v["technician_id"], v["status"], tuple(v["required_skills"]), v["created_at"],
                known(v["departed_at"]), known(v["arrived_at"]), known(v["completed_at"]), None)
          for v in visits if v["created_at"] <= at]
    total = 0.0
    day = T0.date()
    while day <= at.date():
        start, end = day_bounds(day, at)
        total += sum(idle_while_waiting_s(t, vs, start, end, tz) for t in facts)
        day += timedelta(days=1)
    return total / 60.0 / len(facts)


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai"])
def test_product_and_benchmark_idle_agree_on_random_histories(zone: str) -> None:
    tz = ZoneInfo(zone)
    for seed in range(40):
        techs, visits, at = _history(seed)
        # what the benchmark reads: rows created by ``at``, cut at ``at`` as its measure() does
        rows = as_of([v for v in visits if v["created_at"] <= at], at)
        bench = idle_while_waiting_min(techs, rows, at, tz)
        product = _product(techs, visits, at, tz)
        assert bench == pytest.approx(product, abs=1e-6), f"seed {seed}"
