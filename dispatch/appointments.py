"""Customer-chosen windows (a rescheduled corrective job) as the optimiser sees them. Pure.

A rescheduled job carries the window the customer chose (work_orders.appointment_start/end, dispatch/lifecycle.py).
The optimiser gets it as a hard service-start window, the same encoding as a preventive visit's (Job.window): a
technician who comes early waits, none starts outside it. A window opening beyond the look-ahead is left out of the
problem (listed as dropped with its reason) so a job booked for next week does not stretch the model's horizon to
days; it enters the problem when its window comes within reach.
"""

from __future__ import annotations

import dataclasses

from dispatch.models import Problem

LOOKAHEAD_S = 12 * 3600.0
REASON_APPOINTMENT_LATER = "rescheduled: the customer's window is not open yet"


def appointment_fields(earliest: float | None, latest: float | None, now: float, committed: bool) -> dict:
    """``Job`` fields of a corrective job with a customer window: the window, from now at the earliest. None to add
    when there is no window, the technician is already committed (the window was honoured when they set off), or
    the window has passed (the job is then simply late; the board shows it and the dispatcher reschedules)."""
    if committed or earliest is None or latest is None or latest < now:
        return {}
    return {"window": (max(earliest, now), latest)}


def defer_appointments(problem: Problem) -> tuple[Problem, dict[str, str]]:
    """The problem without the appointments whose window opens beyond the look-ahead, and why they wait."""
    later = {j.id: REASON_APPOINTMENT_LATER for j in problem.jobs
             if j.window is not None and not j.preventive and not j.in_progress_by
             and j.window[0] > problem.now + LOOKAHEAD_S}
    if not later:
        return problem, {}
    return dataclasses.replace(problem, jobs=tuple(j for j in problem.jobs if j.id not in later)), later
