"""Weeks of past incidents for the demo region, so the planning page has something to learn from.

A real deployment starts with its customers' ticket history (imported from the previous system); the demo has
none, and the workload forecast refuses to fit on fewer than a few dozen incidents ("too few"), which left the
forecast and the roster empty. These incidents are drawn at random, Poisson per hour, with the shape a service
desk sees (busier in working hours, quieter at night and at weekends), over the demo's own assets and fault
modes, at the rate the demo's fleet simulator injects faults. They are stored with source ``import`` (migration
0660): the forecast learns from them, the service KPIs do not count them (quietfix handled none of them).

The same history includes the contracts' past inspection rounds: the seed's contracts were last inspected at
their start (2024), so every customer's inspection was two years overdue and the planner's first pass sent the
whole fleet an inspection at once (52 of the first day's 92 work orders in a 240 s demo). A region with a past
has its rounds spread over each contract's interval.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from core.events import summary_text
from edge_agent.simulator import APPLICABLE_TYPES, FAULT_MODES
from i18n import Message, term

HOUR = 3600.0
# Relative incident rate by local hour of day: equipment runs hardest (and people notice most) 08:00-20:00.
DAY_PROFILE: Sequence[float] = (0.4, 0.35, 0.3, 0.3, 0.35, 0.5, 0.8, 1.1, 1.4, 1.5, 1.5, 1.4,
                                1.3, 1.4, 1.5, 1.5, 1.4, 1.3, 1.1, 0.9, 0.8, 0.7, 0.6, 0.5)
WEEKEND_FACTOR = 0.6  # Saturdays and Sundays: plants run lighter shifts
# A past incident took this long to be repaired (uniform hours): only closed history is imported.
REPAIR_HOURS = (2.0, 20.0)


def hourly_rate(local: datetime, mean_per_hour: float) -> float:
    """Expected incidents in the hour starting at ``local`` (a local time), for a fleet averaging
    ``mean_per_hour`` on weekdays."""
    weekday_mean = sum(DAY_PROFILE) / len(DAY_PROFILE)
    shape = DAY_PROFILE[local.hour] / weekday_mean
    return mean_per_hour * shape * (WEEKEND_FACTOR if local.weekday() >= 5 else 1.0)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; the hourly means here are a few at most."""
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def seed_incident_history(conn: psycopg.Connection, now: float, *, weeks: int, mean_per_hour: float,
                          timezone: str = "UTC", seed: int = 7) -> int:
    """Insert ``weeks`` of closed past incidents ending at ``now`` (epoch s) over the devices in the database.
    Returns how many; the caller commits."""
    if weeks <= 0 or mean_per_hour <= 0:
        return 0
    devices = conn.execute("SELECT id, customer_id, equipment_type FROM devices ORDER BY id").fetchall()
    if not devices:
        return 0
    rng = random.Random(seed)
    tz = ZoneInfo(timezone)
    end = datetime.fromtimestamp(now, UTC).replace(minute=0, second=0, microsecond=0)
    hour = end - timedelta(weeks=weeks)
    rows = []
    while hour < end:
        for _ in range(_poisson(rng, hourly_rate(hour.astimezone(tz), mean_per_hour))):
            device_id, customer_id, equipment_type = rng.choice(devices)
            mode = rng.choice([m for m in FAULT_MODES if equipment_type in APPLICABLE_TYPES[m]])
            opened = hour + timedelta(seconds=rng.uniform(0, HOUR))
            resolved = opened + timedelta(hours=rng.uniform(*REPAIR_HOURS))
            if resolved >= end:
                continue  # still open at the start of the demo: history holds closed incidents only
            said = Message("summary.importedHistory", {"mode": term("fault", mode)})
            rows.append((device_id, customer_id, mode, summary_text(said), Jsonb(said.to_json()),
                         Jsonb({"imported": "demo history"}), opened, opened + timedelta(minutes=15),
                         opened + timedelta(hours=2), opened + timedelta(hours=24), resolved))
        hour += timedelta(hours=1)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO incidents (device_id, customer_id, source, fault_mode, detector, severity, status, summary,"
            " summary_message, evidence, opened_at, response_due, onsite_due, repair_due, resolved_at, closed_at) "
            "VALUES (%s, %s, 'import', %s, 'import', 2, 'closed', %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(*r, r[-1]) for r in rows])
    return len(rows)


def stagger_inspections(conn: psycopg.Connection, now: float, *, seed: int = 7) -> int:
    """Give every contract with an inspection schedule a last round at a random day within its interval before
    ``now`` (uniform), as a region in service for years has. Returns how many contracts; the caller commits."""
    rng = random.Random(seed + 2)
    today = datetime.fromtimestamp(now, UTC).date()
    rows = conn.execute("SELECT id, inspection_interval_days FROM contracts "
                        "WHERE inspection_interval_days IS NOT NULL ORDER BY id").fetchall()
    for contract_id, every in rows:
        conn.execute("UPDATE contracts SET last_inspection_on = %s WHERE id = %s",
                     (today - timedelta(days=rng.randrange(int(every))), contract_id))
    return len(rows)


def seed_history(conn: psycopg.Connection, now: float, *, weeks: int, mean_per_hour: float, timezone: str = "UTC",
                 seed: int = 7) -> int:
    """The demo's past: ``weeks`` of closed incidents and inspection rounds spread over their intervals (nothing
    when ``weeks`` is 0). Returns the number of incidents; the caller commits."""
    if weeks <= 0:
        return 0
    stagger_inspections(conn, now, seed=seed)
    return seed_incident_history(conn, now, weeks=weeks, mean_per_hour=mean_per_hour, timezone=timezone, seed=seed)
