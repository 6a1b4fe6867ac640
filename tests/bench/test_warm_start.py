"""bench.warm_start builds the trap it measures: the previous plan really holds the part jobs on busy vans."""

from __future__ import annotations

from bench.warm_start import measure, shape
from dispatch import solve


def test_the_previous_plan_holds_every_part_job_on_a_busy_van() -> None:
    before, _, busy = shape(100)
    plan = solve(before, 0.3)
    assert measure(plan, before, busy)["on_busy_vans"] == sum(1 for j in before.jobs if j.required_parts) == 6
