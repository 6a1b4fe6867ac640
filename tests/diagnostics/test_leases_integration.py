"""Two diagnose workers share the fleet through leases (diagnostics/leases.py) on the real database.

A worker killed mid-stream (it simply stops: no shutdown, no checkpoint beyond its periodic ones) loses its devices
to the survivor once its leases expire; the survivor resumes their detector state from the checkpoints and replays
what the dead worker evaluated after them, so every fault still becomes exactly one incident and the detector state
equals that of a process that never stopped. A stalled worker that wakes up after its leases moved evaluates
nothing of them: two workers never both open an incident for one fault.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import psycopg
import pytest

from core.clock import ManualClock, to_datetime
from core.settings import DiagnosticsSettings
from diagnostics import DiagnoseLoop, LoopPolicy, checkpoint
from diagnostics import repository as repo
from diagnostics.leases import PARTITIONS
from diagnostics.loop_rules import in_time_order
from quietfix.seed import seed
from tests.diagnostics.site import CHUNK_S, Site

pytestmark = pytest.mark.integration
TTL_S = 2.0  # short leases keep the test fast (but longer than a pass on a loaded machine); production uses settings.diagnostics.lease_ttl_s (10 s)


@pytest.fixture()
def site(conn: psycopg.Connection, db_url: str) -> Iterator[Site]:
    devices = seed(conn, devices=12, technicians=2, users=False)
    clock = ManualClock()
    conn.execute("SELECT quietfix_ensure_partitions(%s, %s)", (to_datetime(clock.now()),
                                                              to_datetime(clock.now() + 3 * 86400)))
    conn.commit()
    with psycopg.connect(db_url, autocommit=True) as loop_conn:
        yield Site(conn, loop_conn, clock, devices)


class Worker:
    """One diagnose worker process: its own connection and worker id."""

    def __init__(self, site: Site, name: str) -> None:
        self.conn = psycopg.connect(site.conn.info.dsn, autocommit=True)
        self.loop = DiagnoseLoop(lambda: self.conn, DiagnosticsSettings(worker_id=name, lease_ttl_s=TTL_S,
                                                                        checkpoint_every_s=0.0),
                                 site.clock, policy=LoopPolicy(silence=False))

    def tick(self) -> None:
        self.loop.tick(self.conn)

    def devices(self, site: Site) -> set[str]:
        return {d for d in site.equipment if self.loop.owns(d)}


def run(site: Site, workers: list[Worker], seconds: float) -> None:
    end = site.clock.now() + seconds
    while site.clock.now() < end:
        t0 = site.clock.now()
        site.write(t0, t0 + CHUNK_S)
        site.clock.advance(CHUNK_S)
        for w in workers:
            w.tick()


def incidents(site: Site) -> list[tuple[str, str]]:
    rows = site.conn.execute("SELECT device_id, fault_mode FROM incidents ORDER BY device_id, fault_mode").fetchall()
    site.conn.commit()
    return [(d, m) for d, m in rows]


def state_json(loop: DiagnoseLoop, device_id: str) -> str:
    state = loop.monitor_state(device_id)
    assert state is not None
    return json.dumps(checkpoint.snapshot(state[0]), sort_keys=True)


def reference_snapshot(site: Site, loop: DiagnoseLoop, device_id: str) -> str:
    """The detector state of a monitor that saw every reading of the device once, in order (never restarted)."""
    ref = DiagnoseLoop(lambda: site.loop_conn, DiagnosticsSettings(), site.clock)
    ref._ensure(loop.device(device_id))  # type: ignore[arg-type]
    samples = [(ts.timestamp(), values) for ts, values in
               repo.device_samples(site.conn, device_id, to_datetime(0), to_datetime(site.clock.now()))]
    ref._fleet.observe({device_id: in_time_order(None, samples)})
    site.conn.commit()
    return state_json(ref, device_id)


@pytest.fixture()
def workers(site: Site) -> Iterator[tuple[Worker, Worker]]:
    a, b = Worker(site, "worker-a"), Worker(site, "worker-b")
    yield a, b
    a.conn.close()
    b.conn.close()


def test_killed_worker_devices_move_and_every_fault_is_one_incident(site: Site, workers: tuple[Worker, Worker]
                                                                    ) -> None:
    a, b = workers
    run(site, [a, b], 3 * CHUNK_S)  # a takes all, b joins, a hands half over, b takes it
    assert a.loop.leases.held.isdisjoint(b.loop.leases.held)
    assert len(a.loop.leases.held) + len(b.loop.leases.held) == PARTITIONS
    mine_a, mine_b = a.devices(site), b.devices(site)
    assert mine_a and mine_b and mine_a | mine_b == set(site.equipment) and not mine_a & mine_b
    run(site, [a, b], 1800)  # warm detectors on both

    # a fault on every device, developing while worker a dies
    for eq in site.equipment.values():
        eq.inject("bearing_wear", site.clock.now(), develop_s=1800)
    run(site, [a, b], CHUNK_S)
    cp = dict(site.conn.execute("SELECT device_id, arrival FROM detector_state").fetchall())
    site.conn.commit()
    assert set(cp) == set(site.equipment)  # periodic checkpoints exist for a's devices too
    run(site, [b], CHUNK_S)  # a is dead: its devices' batches wait for it (b does not hold them yet)
    assert b.devices(site) == mine_b

    deadline = time.monotonic() + 10 * TTL_S
    while len(b.loop.leases.held) < PARTITIONS:  # a's leases expire; b's share becomes the whole fleet
        assert time.monotonic() < deadline, "the dead worker's leases never moved"
        time.sleep(TTL_S / 5)
        b.tick()
    assert b.devices(site) == set(site.equipment)
    assert b.loop.restored >= len(mine_a)  # a's devices resumed from their checkpoints, not relearnt

    # a stalled worker wakes up: its leases are gone, it evaluates nothing of them and opens nothing
    before = incidents(site)
    a.tick()
    assert not a.loop.leases.held & b.loop.leases.held
    assert not a.devices(site) & b.devices(site)

    run(site, [a, b], 3 * 3600)
    got = incidents(site)
    assert len(got) == len(set(got)), f"an incident opened twice: {got}"
    assert {d for d, _ in got} == set(site.equipment), f"a fault was missed: {got} (before wake-up: {before})"
    # (a device may also get a second incident of another mode when the classifier reads the same symptoms two
    # ways; that is the detectors' doing, the same with one worker: what the leases promise is no (device, mode)
    # opened twice and no fault missed)

    # nothing evaluated twice or skipped across the hand-overs: each device's detector state equals a monitor
    # that saw every reading exactly once
    for d in sorted(mine_a)[:3]:
        owner = a.loop if a.loop.owns(d) else b.loop
        assert state_json(owner, d) == reference_snapshot(site, owner, d)


def test_saving_cursors_never_waits_for_another_workers_pass(conn: psycopg.Connection, db_url: str) -> None:
    """Every worker writes the '*' row (slowest partition's cursor) each pass. Waiting on it serialised the workers:
    a pass blocked until the other's whole transaction (checkpoints, RUL) committed. It is skipped when locked, is
    never ahead of the committed cursors, and comes back if the operational tables were reset."""
    from diagnostics import leases as lease_store
    from diagnostics.leases import Leases

    for name in ("a", "b"):
        with psycopg.connect(db_url) as c, c.transaction():
            Leases(name, 10.0).renew(c)
    with psycopg.connect(db_url, autocommit=True) as a, psycopg.connect(db_url, autocommit=True) as b:
        star = "SELECT batch_id FROM diagnose_progress WHERE device_id = '*'"
        with a.transaction():
            lease_store.save_cursors(a, {p: 100 for p in range(PARTITIONS // 2)})
            b.execute("SET lock_timeout = '2s'")
            with b.transaction():  # would raise LockNotAvailable if it waited for a's row lock on '*'
                lease_store.save_cursors(b, {p: 200 for p in range(PARTITIONS // 2, PARTITIONS)})
            assert b.execute(star).fetchone() == (0,)  # a's cursors are not committed yet: '*' stays behind
        assert a.execute(star).fetchone() == (0,)  # a computed it before b committed: behind, never ahead
        with a.transaction():
            lease_store.save_cursors(a, {p: 150 for p in range(PARTITIONS // 2)})
        assert a.execute(star).fetchone() == (150,)  # the slowest partition
        with a.transaction():
            a.execute("DELETE FROM diagnose_progress WHERE device_id = '*'")
            lease_store.save_cursors(a, {p: 160 for p in range(PARTITIONS // 2)})
        assert a.execute(star).fetchone() == (160,)
