"""Preventive visits: contract inspections and repairs suggested by remaining-useful-life estimates, slotted
into low-load hours so that they do not cost the 2-hour promise for emergencies.

A preventive task is due within days; the planner gives it a short service-start window in an hour where the
forecast leaves spare technicians (after a reserve kept for emergencies) and the dispatch optimiser schedules it
inside that window like any other job (hard window, low tier: an emergency always outranks it). A task with no
spare hour before it is due is deferred to the next planning run rather than squeezed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dispatch import Job, Location
from i18n import Message

HOUR = 3600.0
PREVENTIVE_PREFIX = "P"  # job ids of preventive visits (the day simulation scores emergencies apart)
# Technicians per hour kept free for emergencies before any preventive visit is slotted: a fifth of the shift,
# which in the day simulation kept the emergencies' on-site rate within a point of the run without visits.
RESERVE_SHARE = 0.2
WINDOW_H = 2.0  # service-start window given to a slotted visit: loose enough for the optimiser to route it


@dataclass(frozen=True)
class PreventiveTask:
    id: str
    location: Location
    skills: frozenset[str]
    duration_s: float
    due_by: float  # epoch s: the end of the task's window of days
    reason: str  # "inspection" (contract schedule) or "rul" (predicted failure)


def spare_technicians(load_per_h: Sequence[float], on_shift: Sequence[int], busy_h_per_job: float,
                      reserve_share: float = RESERVE_SHARE) -> list[float]:
    """Technicians free for preventive work per hour: on shift, minus the expected emergency workload
    (arrivals x hours each keeps a technician busy), minus the reserve."""
    return [max(0.0, n - lam * busy_h_per_job - reserve_share * n)
            for lam, n in zip(load_per_h, on_shift, strict=True)]


def slot(tasks: Sequence[PreventiveTask], hour_starts: Sequence[float], spare: Sequence[float],
         now: float) -> tuple[list[Job], list[PreventiveTask]]:
    """Give each task (earliest due first) a window in the hour with the most spare technicians before it is
    due; the visit then uses up that spare for its duration. Returns the jobs and the deferred tasks."""
    left = list(spare)
    jobs: list[Job] = []
    deferred: list[PreventiveTask] = []
    for task in sorted(tasks, key=lambda t: (t.due_by, t.id)):
        need_h = task.duration_s / HOUR
        span = max(1, int(-(-need_h // 1)))
        best, best_spare = None, 0.0
        for i, start in enumerate(hour_starts):
            if start < now or start + task.duration_s > task.due_by or i + span > len(left):
                continue
            room = min(left[i:i + span])
            if room >= 1.0 and room > best_spare:
                best, best_spare = i, room
        if best is None:
            deferred.append(task)
            continue
        for k in range(best, best + span):
            left[k] -= 1.0
        a = hour_starts[best]
        b = a + WINDOW_H * HOUR
        jobs.append(Job(f"{PREVENTIVE_PREFIX}-{task.id}", task.location, task.skills, task.duration_s, priority=1,
                        tier="bronze", created_at=now, onsite_deadline=b + HOUR, window=(a, b)))
    return jobs, deferred


# --- preventive work orders (written to the database by service.create_preventive_work_orders) ---------------

DAY = 86400.0
# A RUL repair must start at least this long before the pessimistic failure time, and never sooner than this
# from now: enough for the optimiser to find a quiet hour, short enough to beat the failure.
RUL_MIN_LEAD_S = 4 * 3600.0


@dataclass(frozen=True)
class PreventiveOrder:
    """A preventive work order to create: the due item it comes from (``key``, stable across runs) and its
    window of days for the dispatcher."""

    key: str
    reason: str  # "inspection" | "rul"
    device_id: str
    fault_mode: str
    earliest_start: float
    latest_start: float
    estimated_minutes: int
    skills: tuple[str, ...]
    parts: dict[str, int]
    summary: Message  # shown in the reader's language (incidents.summary_message, migration 0821)


def inspection_window(due_start: float, window_days: int, now: float) -> tuple[float, float]:
    """Service-start window of an inspection due on the day starting at ``due_start``: half the contract's
    window either side of the due day (the optimiser picks a quiet period inside it). An overdue inspection is
    due from now, within half the window."""
    half = max(1, window_days // 2) * DAY
    earliest = max(now, due_start - half)
    latest = max(due_start + DAY + half, now + half)
    return earliest, latest


def rul_window(failure_earliest: float | None, failure_at: float, now: float) -> tuple[float, float]:
    """From now until the lead time before the earliest plausible failure (at least ``RUL_MIN_LEAD_S`` ahead)."""
    by = failure_earliest if failure_earliest is not None else failure_at
    return now, max(now + RUL_MIN_LEAD_S, by - RUL_MIN_LEAD_S)


def inspection_key(contract_id: int, due_on: str, device_id: str) -> str:
    """``insp:<contract id>:<due date>:<asset>``: one order per asset per scheduled inspection."""
    return f"insp:{contract_id}:{due_on}:{device_id}"


def rul_key(device_id: str, fault_mode: str) -> str:
    """``rul:<asset>:<mode>``: one live order per predicted failure (unique while not cancelled)."""
    return f"rul:{device_id}:{fault_mode}"
