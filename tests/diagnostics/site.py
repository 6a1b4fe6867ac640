"""A simulated site for the diagnose-loop integration tests: the edge simulator's signals written as ingest would
store them (telemetry + ingest_batches rows), with a manual clock and one diagnose pass per ingest batch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from core.clock import ManualClock, to_datetime
from core.contracts import Sample, TelemetryBatch
from core.settings import IngestSettings
from diagnostics import DiagnoseLoop
from edge_agent.simulator import Equipment
from ingest.repository import write_batches

STEP_S = 10.0  # sample interval: coarse enough to keep the tests fast, fine enough for 60-120 s confirmations
CHUNK_S = 600.0  # one ingest batch (and one diagnose pass) per 10 simulated minutes


@contextmanager
def open_site(conn: psycopg.Connection, db_url: str, *, devices: int = 3, technicians: int = 2,
              users: bool = False, step_s: float = STEP_S, days: int = 3) -> Iterator[Site]:
    """Seeded devices (three by default), online, partitions for ``days`` days from a manual clock, and the
    loop's own autocommit connection: the world every diagnose-loop integration test starts from."""
    from quietfix.seed import seed

    seeded = seed(conn, devices=devices, technicians=technicians, users=users)
    clock = ManualClock()
    conn.execute("SELECT quietfix_ensure_partitions(%s, %s)", (to_datetime(clock.now()),
                                                              to_datetime(clock.now() + days * 86400)))
    conn.execute("UPDATE devices SET online = true")
    conn.commit()
    with psycopg.connect(db_url, autocommit=True) as loop_conn:
        yield Site(conn, loop_conn, clock, seeded, step_s)


class Site:
    def __init__(self, conn: psycopg.Connection, loop_conn: psycopg.Connection, clock: ManualClock,
                 devices: list, step_s: float = STEP_S) -> None:
        self.conn, self.loop_conn, self.clock, self.step_s = conn, loop_conn, clock, step_s
        self.equipment = {d.device_id: Equipment(d.device_id, d.equipment_type, seed=7) for d in devices}
        self.seq = 0

    def run(self, loop: DiagnoseLoop, seconds: float, on_tick: Any = None) -> None:
        """Advance simulated time, writing every device's samples and ticking the loop once per chunk."""
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            t0 = self.clock.now()
            self.write(t0, t0 + CHUNK_S)
            self.clock.advance(CHUNK_S)
            loop.tick(self.loop_conn)
            if on_tick is not None:
                on_tick()

    def write(self, t0: float, t1: float) -> None:
        """One batch per device through ingest's own write path (claim, COPY with batch id, arrival stamp)."""
        self.seq += 1
        batches = []
        for dev, eq in self.equipment.items():
            ts = [t0 + self.step_s * i for i in range(int((t1 - t0) / self.step_s))]
            samples = tuple(Sample(round(t * 1000), tuple(eq.sample(t).items())) for t in ts)
            batches.append(TelemetryBatch(device_id=dev, seq=self.seq, samples=samples))
        write_batches(self.conn, batches, to_datetime(t1), clock_skew_max_s=IngestSettings().clock_skew_max_s)
        self.conn.commit()

    def pump(self) -> str:
        return next(d for d, e in self.equipment.items() if e.equipment_type == "pump")
