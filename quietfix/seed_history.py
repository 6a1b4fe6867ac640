"""Weeks of past incidents for the demo region, so the planning page has something to learn from.

A real deployment starts with its customers' ticket history (imported from the previous system); the demo has
none, and the workload forecast refuses to fit on fewer than a few dozen incidents ("too few"), which left the
forecast and the roster empty. These incidents are drawn at random, Poisson per hour, with the shape a service
desk sees (busier in working hours, quieter at night and at weekends), over the demo's own assets and fault
modes, at the rate the demo's fleet simulator injects faults. They are stored with source ``import`` (migration
0660): the forecast learns from them, the service KPIs do not count them (quietfix handled none of them).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from edge_agent.simulator import APPLICABLE_TYPES, FAULT_MODES

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
            rows.append((device_id, customer_id, mode, f"Imported: {mode.replace('_', ' ')}",
                         Jsonb({"imported": "demo history"}), opened, opened + timedelta(minutes=15),
                         opened + timedelta(hours=2), opened + timedelta(hours=24), resolved))
        hour += timedelta(hours=1)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO incidents (device_id, customer_id, source, fault_mode, detector, severity, status, summary,"
            " evidence, opened_at, response_due, onsite_due, repair_due, resolved_at, closed_at) "
            "VALUES (%s, %s, 'import', %s, 'import', 2, 'closed', %s, %s, %s, %s, %s, %s, %s, %s)",
            [(*r, r[-1]) for r in rows])
    return len(rows)
