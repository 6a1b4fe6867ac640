"""Detection never goes silent (issue #19), on the real broker, ingest and database, with a manual clock.

1. A device sends one batch stamped 23 h ahead, then normal data with a developing fault: the clock fault is on the
   timeline, its readings are stored apart, the fault still becomes an incident, and every reading the detectors
   see is seen once (each batch once, in arrival order, whatever its timestamps).
2. Diagnose stopped while data flows: the watchdog's gauges and alarm fire, and clear after diagnose catches up.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY

from core import broker
from core.clock import ManualClock, to_datetime
from core.settings import DiagnosticsSettings, Settings
from diagnostics import DetectionWatchdog, DiagnoseLoop, LoopPolicy
from diagnostics.block import BlockMonitor
from edge_agent.simulator import Equipment
from ingest import start_ingest
from quietfix.seed import seed
from tests.helpers import DevicePublisher, wait_for

pytestmark = pytest.mark.integration
STEP_S = 10.0
CHUNK_S = 600.0  # one batch (and one diagnose pass) per 10 simulated minutes
AHEAD_S = 23 * 3600.0


class Rig:
    """One pump publishing over MQTT to a running ingest worker; diagnose ticks when the test says so."""

    def __init__(self, settings: Settings, conn: psycopg.Connection, pub: DevicePublisher, device_id: str,
                 clock: ManualClock, running: Any) -> None:
        self.settings, self.conn, self.pub, self.device_id, self.clock = settings, conn, pub, device_id, clock
        self.running = running
        self.last: dict[str, Any] = {}
        # The signals are seeded by a fixed name, not the test's unique device id: the same noise every run.
        self.equipment = Equipment("pump-0001", "pump", seed=7)
        self.seq = 0
        self.sent: list[float] = []  # timestamps of every plausible sample published

    def count(self, sql: str, *args: object) -> Any:
        row = self.conn.execute(sql, args).fetchone()
        self.conn.commit()
        return row[0] if row else None

    def publish(self, t0: float, t1: float, *, ahead_s: float = 0.0) -> None:
        """One batch of samples in [t0, t1), stamped ``ahead_s`` late; waits until ingest committed it."""
        self.seq += 1
        stamps = [t0 + STEP_S * i for i in range(int((t1 - t0) / STEP_S))]
        # The day-ahead batch is sampled from a second simulator: the pump's own must not be asked for the same
        # times twice (its dynamics would see time jump back).
        sim = Equipment("pump-0001-clock", "pump", seed=7) if ahead_s else self.equipment
        samples = [{"t": round((t + ahead_s) * 1000), "m": sim.sample(t)} for t in stamps]
        self.last = {"v": 1, "device_id": self.device_id, "seq": self.seq, "samples": samples}
        self.pub.publish(f"qf/v1/{self.device_id}/telemetry", self.last)
        if not ahead_s:
            self.sent.extend(stamps)
        seq = self.seq
        wait_for(lambda: self.count("SELECT count(*) FROM ingest_batches WHERE device_id = %s AND seq = %s",
                                    self.device_id, seq) == 1)

    def chunk(self) -> None:
        """Publish the next 10 minutes (received at their end) and move the clock there."""
        t0 = self.clock.now() - CHUNK_S
        self.publish(t0, t0 + CHUNK_S)
        self.clock.advance(CHUNK_S)


@pytest.fixture()
def rig(settings: Settings, conn: psycopg.Connection, broker_up) -> Iterator[Rig]:
    devices = seed(conn, devices=3, technicians=2, users=False, id_prefix=f"a{uuid.uuid4().hex[:6]}-")
    conn.execute("UPDATE devices SET online = true")
    clock = ManualClock()
    conn.execute("SELECT quietfix_ensure_partitions(%s, %s)", (to_datetime(clock.now() - 86400),
                                                              to_datetime(clock.now() + 3 * 86400)))
    conn.commit()
    pump = next(d for d in devices if d.equipment_type == "pump")
    broker.upsert_credentials(settings.broker_dir / "passwd", [(pump.device_id, "pw-" + pump.device_id)])
    broker.reload_broker(settings.broker_dir / "mosquitto.pid")
    time.sleep(0.3)
    pub = DevicePublisher(broker_up, pump.device_id, "pw-" + pump.device_id)
    running = start_ingest(settings, clock)
    try:
        assert running.mqtt.connected.wait(10)
        yield Rig(settings, conn, pub, pump.device_id, clock, running)
    finally:
        running.stop()
        pub.close()


@pytest.fixture()
def fed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    """Every (device, time) the detectors are fed."""
    seen: list[tuple[str, float]] = []
    original = BlockMonitor.observe

    def observe(self: BlockMonitor, samples: Any) -> Any:
        seen.extend((d, t) for d, s in samples.items() for t, _ in s)
        return original(self, samples)

    monkeypatch.setattr(BlockMonitor, "observe", observe)
    return seen


def loop_for(settings: Settings, db_url: str, clock: ManualClock) -> tuple[DiagnoseLoop, psycopg.Connection]:
    loop_conn = psycopg.connect(db_url, autocommit=True)
    return DiagnoseLoop(lambda: loop_conn, settings.diagnostics, clock, policy=LoopPolicy(silence=False)), loop_conn


def test_a_day_ahead_batch_is_a_clock_fault_and_cannot_blind_detection(rig: Rig, db_url: str,
                                                                        fed: list[tuple[str, float]]) -> None:
    loop, loop_conn = loop_for(rig.settings, db_url, rig.clock)
    try:
        for _ in range(3):  # a healthy half hour: detectors warm up
            rig.chunk()
            loop.tick(loop_conn)
        # One batch stamped 23 h ahead of its receive time (the device's clock jumped).
        now = rig.clock.now()
        rig.publish(now - CHUNK_S, now, ahead_s=AHEAD_S)
        loop.tick(loop_conn)
        # Then normal data again (the next chunk's samples start a chunk before now), with a developing fault.
        rig.equipment.inject("bearing_wear", rig.clock.now() - CHUNK_S, develop_s=1800)
        for _ in range(9):
            rig.chunk()
            loop.tick(loop_conn)
        rig.chunk()  # one more batch that diagnose has not seen yet, and the device re-sends it (no ack arrived)
        rig.pub.publish(f"qf/v1/{rig.device_id}/telemetry", rig.last)
        wait_for(lambda: rig.running.worker.stats.duplicates > 0)  # stored once
        loop.tick(loop_conn)
        loop.tick(loop_conn)  # an idle pass evaluates nothing again
    finally:
        loop_conn.close()
    incidents = rig.conn.execute("SELECT fault_mode, status FROM incidents WHERE device_id = %s",
                                 (rig.device_id,)).fetchall()
    assert ("bearing_wear", "work_order") in incidents
    events = rig.conn.execute("SELECT data->>'active', data->>'category', (data->>'offset_s')::float FROM "
                              "timeline_events WHERE device_id = %s AND kind = 'clock_fault' ORDER BY id",
                              (rig.device_id,)).fetchall()
    assert [e[:2] for e in events] == [("true", "sensor_health"), ("false", "sensor_health")]
    assert events[0][2] == pytest.approx(AHEAD_S - STEP_S, abs=1.0)  # newest sample vs receive time
    # The day-ahead readings are kept apart; telemetry and the latest values never saw them.
    assert rig.count("SELECT count(*) FROM telemetry_clock_faults WHERE device_id = %s", rig.device_id) == 60
    assert rig.count("SELECT count(*) FROM telemetry_samples WHERE device_id = %s AND ts > %s", rig.device_id,
                     to_datetime(rig.clock.now())) == 0
    assert rig.count("SELECT max(ts) FROM telemetry_latest WHERE device_id = %s", rig.device_id) \
        <= to_datetime(rig.clock.now())
    # Each plausible sample fed to the detectors exactly once, and nothing else.
    mine = [t for d, t in fed if d == rig.device_id]
    assert sorted(mine) == sorted(rig.sent)
    assert len(set(mine)) == len(mine)
    assert rig.count("SELECT count(*) FROM ingest_batches WHERE device_id = %s", rig.device_id) == rig.seq
    assert rig.count("SELECT batch_id FROM diagnose_progress WHERE device_id = '*'") == \
        rig.count("SELECT max(arrival) FROM ingest_batches")


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_watchdog_fires_while_diagnose_is_stopped_and_clears_after_catch_up(
        rig: Rig, db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    rig.settings.diagnostics = DiagnosticsSettings(stall_alarm_s=120.0)
    loop, loop_conn = loop_for(rig.settings, db_url, rig.clock)
    watchdog = DetectionWatchdog(lambda: loop_conn, rig.settings.diagnostics, rig.clock)
    try:
        rig.chunk()
        loop.tick(loop_conn)
        report = watchdog.check(loop_conn)
        assert report.stalled == () and not report.alarm
        assert gauge("quietfix_detection_stall_alarm") == 0.0
        # Diagnose stops; data keeps flowing for 30 minutes (longer than the 120 s threshold).
        caplog.set_level(logging.INFO, logger="diagnostics.watchdog")
        now = rig.clock.now()
        rig.publish(now - CHUNK_S, now)
        report = watchdog.check(loop_conn)
        assert report.stalls[rig.device_id] == pytest.approx(0.0)  # just arrived: waiting, not yet stalled
        assert not report.alarm
        for _ in range(3):
            rig.clock.advance(CHUNK_S)
            now = rig.clock.now()
            rig.publish(now - CHUNK_S, now)
            report = watchdog.check(loop_conn)
        assert report.stalled == (rig.device_id,) and report.alarm
        assert report.stalls[rig.device_id] == pytest.approx(3 * CHUNK_S)  # the oldest waiting batch's age
        assert gauge("quietfix_detection_stall_seconds", device_id=rig.device_id) == pytest.approx(3 * CHUNK_S)
        assert gauge("quietfix_detection_stalled_devices") == 1.0
        assert gauge("quietfix_detection_stall_alarm") == 1.0
        alarms = rig.conn.execute("SELECT detail->'devices', detail->>'pending_batches' FROM ops_alarms "
                                  "WHERE kind = 'detection_stalled' AND cleared_at IS NULL").fetchall()
        assert alarms == [([rig.device_id], "4")]  # one open alarm, however many checks saw the stall
        # Diagnose comes back and catches up: everything clears.
        loop.tick(loop_conn)
        report = watchdog.check(loop_conn)
        assert report.stalled == () and not report.alarm and report.changed
        assert gauge("quietfix_detection_stall_seconds", device_id=rig.device_id) == 0.0
        assert gauge("quietfix_detection_stalled_devices") == 0.0
        assert gauge("quietfix_detection_stall_alarm") == 0.0
        assert rig.count("SELECT count(*) FROM ops_alarms WHERE cleared_at IS NOT NULL") == 1
        assert rig.count("SELECT count(*) FROM ops_alarms WHERE cleared_at IS NULL") == 0
    finally:
        loop_conn.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "diagnostics.watchdog"]
    assert lines == ["detection stalled", "detection caught up"]  # one line per state change
