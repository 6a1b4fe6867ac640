"""Past telemetry for the demo fleet, so the product learns its models in the demo's first minutes (issue #16).

A real deployment has months of history; a fresh demo has none, so without this the normal models could not be
trained (drift detectors off) and the fleet would have no run-to-failure history for its RUL model. The history
is the edge simulator's own signal model (edge_agent/simulator.py) over the ``hours`` before the demo's clock
starts: healthy load cycles for every device, plus on a few devices per type one wear fault that ran to failure
and was repaired on site (an incident, closed, with its completed work order: the label the RUL model learns
from, exactly what the live loop leaves behind). Nothing here trains anything: `quietfix train` does, from the
database, as it would from any deployment's history.

Samples go straight into ``telemetry_samples`` (history, not live batches: the diagnose loop, which reads ingest's
batches in arrival order, never re-evaluates them). Seeded counts are reported apart in the demo summary.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from core.audit import Actor
from core.audit import record as audit
from core.clock import to_datetime
from core.events import summary_text
from core.sql import Queries
from edge_agent.simulator import APPLICABLE_TYPES, DEFAULT_DEVELOP_S, Equipment
from i18n import Message, term

Q = Queries(__file__, "seed_telemetry_history.sql")
HOURS = 48.0  # two days: a whole load cycle of healthy history after the oldest seeded failure's repair
STEP_S = 120.0  # one sample per 2 minutes: five per 10-minute RUL cycle, ~86k samples for 60 devices
FAILURES_PER_TYPE = 10  # above the trainer's 8-failure minimum: a learned RUL model per type from the start
WEAR_MODES = ("bearing_wear", "clogged_filter", "overheating", "refrigerant_leak", "seal_leak")
REPAIR_AFTER_S = 5400.0  # failure -> repaired on site 1.5 h later (inside the 2-h promise)
SEED_ACTOR = Actor("seed:history")


@dataclass(frozen=True)
class SeededHistory:
    samples: int
    readings: int
    failures: int


@dataclass(frozen=True)
class _Failure:
    device_id: str
    mode: str
    onset: float
    failed: float


def _plan(devices: Sequence[tuple[str, str]], start: float, rng: random.Random, per_type: int,
          wear_modes: Sequence[str]) -> dict[str, _Failure]:
    """One wear failure on ``per_type`` devices of each type, all in the first 19 hours of the history."""
    out: dict[str, _Failure] = {}
    by_type: dict[str, list[str]] = {}
    for device_id, eq in devices:
        by_type.setdefault(eq, []).append(device_id)
    for eq, ids in sorted(by_type.items()):
        modes = [m for m in wear_modes if eq in APPLICABLE_TYPES[m]]
        if not modes:
            continue
        for device_id in rng.sample(ids, min(per_type, len(ids))):
            mode = rng.choice(modes)
            develop = DEFAULT_DEVELOP_S[mode] * rng.uniform(0.5, 1.5)
            # failed within the first 19 h: more than a day before the clock starts, so no seeded incident counts
            # as "today" on the board, and every repaired asset has 20+ healthy hours after its repair
            failed = start + develop + 3600 + rng.uniform(0, 6 * 3600)
            out[device_id] = _Failure(device_id, mode, failed - develop, failed)
    return out


def seed_telemetry(conn: psycopg.Connection, devices: Sequence[tuple[str, str]], now: float, *, seed: int = 7,
                 hours: float = HOURS, step_s: float = STEP_S,
                 failures_per_type: int = FAILURES_PER_TYPE, modes: Sequence[str] = WEAR_MODES) -> SeededHistory:
    """Write ``hours`` of history before ``now`` for (device id, equipment type) pairs; the caller commits."""
    conn.execute(Q.reset_learned)
    start = now - hours * 3600
    conn.execute("SELECT quietfix_ensure_partitions(%s, %s)", (to_datetime(start), to_datetime(now)))
    rng = random.Random(f"{seed}:history")
    plan = _plan(devices, start, rng, failures_per_type, modes)
    samples = readings = 0
    n = int(hours * 3600 // step_s)
    with conn.cursor().copy(Q.copy_samples) as cp:
        cp.set_types(["text", "timestamptz", "text[]", "float8[]"])
        for device_id, eq in devices:
            sim = Equipment(device_id, eq, seed=seed + 7919)  # not the live fleet's noise stream
            f = plan.get(device_id)
            if f is not None:
                sim.inject(f.mode, f.onset, develop_s=f.failed - f.onset)
            repaired = False
            for i in range(n):
                t = start + i * step_s
                if f is not None and not repaired and t >= f.failed + REPAIR_AFTER_S:
                    sim.repair()
                    repaired = True
                values = sim.sample(t)
                cp.write_row((device_id, to_datetime(t), list(values), list(values.values())))
                samples += 1
                readings += len(values)
    for f in plan.values():
        _record_failure(conn, f)
    audit(conn, SEED_ACTOR, "seed.telemetry_history", "telemetry", None,
          {"hours": hours, "step_s": step_s, "samples": samples, "failures": len(plan)}, at=to_datetime(now))
    return SeededHistory(samples, readings, len(plan))


def _record_failure(conn: psycopg.Connection, f: _Failure) -> None:
    """The closed incident and completed on-site repair the live loop would have left for this failure."""
    opened, repaired = to_datetime(f.failed), to_datetime(f.failed + REPAIR_AFTER_S)
    said = Message("summary.seededHistory", {"mode": term("fault", f.mode)})
    row = conn.execute(Q.insert_incident, {"device_id": f.device_id, "mode": f.mode, "opened": opened,
                                           "due": to_datetime(f.failed + 7200), "repaired": repaired,
                                           "summary": summary_text(said), "message": Jsonb(said.to_json())}).fetchone()
    assert row is not None
    conn.execute(Q.insert_work_order, {"incident_id": row[0], "opened": opened, "due": to_datetime(f.failed + 7200),
                                       "arrived": to_datetime(f.failed + REPAIR_AFTER_S - 2400),
                                       "repaired": repaired})
