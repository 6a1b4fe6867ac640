""""device offline (stale)" is one log line per state change, never one per maintenance pass (issue #19 item 5).

The demo's second run logged 13,905 such lines for 13 devices in 5 minutes: at 300x a device's batch spans 300
clock seconds, longer than the 120 s staleness limit, so each device went offline and back between two of its own
batches. Ingest's maintenance runs on the real database here, driven pass by pass with a manual clock.
"""

from __future__ import annotations

import json
import logging
import uuid

import psycopg
import pytest

from core.clock import ManualClock
from core.db import connect
from core.mqtt import InboundMessage
from core.settings import Settings
from ingest.service import MAINTENANCE_EVERY_S, IngestWorker
from quietfix.demo import DemoOptions, batch_interval_s, offline_after_s
from quietfix.seed import seed

pytestmark = pytest.mark.integration
LINE = "device offline (stale)"


class Device:
    def __init__(self, settings: Settings, conn: psycopg.Connection) -> None:
        self.id = seed(conn, devices=1, technicians=1, users=False, id_prefix=f"o{uuid.uuid4().hex[:6]}-")[0].device_id
        conn.commit()
        self.clock = ManualClock()
        self.worker = IngestWorker(lambda: connect(settings.database_url, autocommit=True), settings.ingest,
                                   self.clock, ack=lambda m: None)
        self.worker._maintain()  # partitions first, as the running worker does before its first batch
        self.seq = 0

    def send(self) -> None:
        self.seq += 1
        t = round(self.clock.now() * 1000)
        payload = {"v": 1, "device_id": self.id, "seq": self.seq, "samples": [{"t": t, "m": {"flow_lpm": 100.0}}]}
        self.worker._process([InboundMessage(f"qf/v1/{self.id}/telemetry", json.dumps(payload).encode(), self.seq,
                                             1, False)])

    def passes(self, seconds: float) -> None:
        """Ingest's maintenance, once per MAINTENANCE_EVERY_S of clock time."""
        for _ in range(int(seconds / MAINTENANCE_EVERY_S)):
            self.clock.advance(MAINTENANCE_EVERY_S)
            self.worker._maintain()


def lines(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for r in caplog.records if r.getMessage() == LINE)


def test_a_silent_device_is_logged_offline_once_per_state_change(settings: Settings, conn: psycopg.Connection,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ingest.service")
    dev = Device(settings, conn)
    try:
        dev.send()
        dev.passes(settings.ingest.offline_after_s - 2 * MAINTENANCE_EVERY_S)
        assert lines(caplog) == 0
        dev.passes(600)  # 120 maintenance passes while the device stays silent
        assert lines(caplog) == 1
        dev.send()  # back online...
        dev.passes(600)  # ...and silent again
        assert lines(caplog) == 2
        offline = conn.execute("SELECT count(*) FROM timeline_events WHERE device_id = %s AND kind = 'device_status' "
                               "AND data->>'reason' = 'stale'", (dev.id,)).fetchone()
        assert offline == (2,)
    finally:
        dev.worker.stop()


def test_a_device_sending_at_the_demo_batch_interval_is_never_offline(settings: Settings, conn: psycopg.Connection,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ingest.service")
    options = DemoOptions(seconds=60)  # 300x: one batch per device every 300 clock seconds
    settings.ingest.offline_after_s = offline_after_s(settings.ingest.offline_after_s, options)
    assert settings.ingest.offline_after_s > batch_interval_s(options)
    dev = Device(settings, conn)
    try:
        for _ in range(12):  # an hour of the demo's fleet traffic
            dev.send()
            dev.passes(batch_interval_s(options))
        assert lines(caplog) == 0
        dev.passes(settings.ingest.offline_after_s)  # the fleet stops: now it is offline, once
        dev.passes(settings.ingest.offline_after_s)
        assert lines(caplog) == 1
    finally:
        dev.worker.stop()
