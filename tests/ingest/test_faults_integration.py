"""Outages delay data but never drop or duplicate it: counted, not hoped.

Each test streams numbered batches from a device through a private broker and a private PostgreSQL (real
binaries, our configuration), breaks one of them mid-stream, recovers, and then checks that every published
reading is stored exactly once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.clock import SystemClock
from core.db import ensure_database
from core.migrate import migrate
from core.settings import Settings, load_settings
from ingest import start_ingest
from quietfix.seed import seed
from tests.helpers import wait_for
from tests.services import ROOT, PrivateBroker, PrivatePostgres

pytestmark = [pytest.mark.integration, pytest.mark.allow_error_logs]
READINGS_PER_BATCH = 10
# The scenario: PostgreSQL down for half a minute under a live stream.
PG_OUTAGE_S = 30.0


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    # Not under pytest's tmp_path: that is private to root, and the cluster runs as the postgres user.
    directory = Path(tempfile.mkdtemp(prefix="quietfix-pg-"))
    directory.chmod(0o755)
    server = PrivatePostgres(directory)
    server.start()
    yield server
    server.stop("immediate")
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture()
def stack(pg: PrivatePostgres, tmp_path: Path) -> Iterator[tuple[Settings, PrivateBroker, str]]:
    if not pg_is_up(pg):
        pg.start()
    base = load_settings()
    broker = PrivateBroker(tmp_path / "broker", base.mqtt_username, base.mqtt_password)
    broker.start()
    settings = load_settings(database_url=pg.url, mqtt_url=broker.url)
    settings.ingest.worker_id = f"ingest-fault-{os.getpid()}"
    settings.ingest.batch_max_wait_s = 0.02
    with psycopg.connect(pg.url.replace("/quietfix", "/postgres"), autocommit=True) as c:
        c.execute("DROP DATABASE IF EXISTS quietfix WITH (FORCE)")
    ensure_database(pg.url)
    migrate(pg.url)
    with psycopg.connect(pg.url) as conn:
        device = seed(conn, devices=1, technicians=1, users=False)[0].device_id
        conn.commit()
    broker.add_device(device, "pw")
    yield settings, broker, device
    broker.stop(kill=True)


def pg_is_up(pg: PrivatePostgres) -> bool:
    try:
        psycopg.connect(pg.url.replace("/quietfix", "/postgres"), connect_timeout=1).close()
        return True
    except psycopg.Error:
        return False


class StreamingDevice:
    """Publishes numbered batches at QoS 1 from a persistent session; paho resends unacknowledged ones."""

    def __init__(self, broker: PrivateBroker, device_id: str) -> None:
        self.device_id = device_id
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(device_id, "pw")
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.2, 1)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
        self.client.loop_start()
        self.infos: list[mqtt.MQTTMessageInfo] = []
        self.t0 = int(time.time() * 1000)

    def publish(self, first: int, count: int, pause_s: float = 0.005) -> None:
        for seq in range(first, first + count):
            samples = [{"t": self.t0 + seq * 1000 + i, "m": {"pressure_bar": float(seq)}}
                       for i in range(READINGS_PER_BATCH)]
            payload = ('{"v":1,"device_id":"%s","seq":%d,"samples":%s}' % (
                self.device_id, seq, str(samples).replace("'", '"'))).encode()
            self.infos.append(self.client.publish(f"qf/v1/{self.device_id}/telemetry", payload, qos=1))
            time.sleep(pause_s)

    def all_acked(self) -> bool:
        return all(info.is_published() for info in self.infos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def stored(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT (device_id, signal, ts)) FROM telemetry").fetchone()
    return int(row[0]), int(row[1])


def online(url: str, device_id: str) -> bool:
    with psycopg.connect(url) as conn:
        return bool(conn.execute("SELECT online FROM devices WHERE id = %s", (device_id,)).fetchone()[0])


def assert_exactly_once(url: str, batches: int) -> None:
    expected = batches * READINGS_PER_BATCH
    deadline = time.monotonic() + 90
    while stored(url)[0] < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1.0)  # anything duplicated would land right behind the last original
    total, distinct = stored(url)
    assert (total, distinct) == (expected, expected)


def test_postgres_outage_delays_but_loses_nothing(stack, pg: PrivatePostgres) -> None:
    settings, broker, device_id = stack
    running = start_ingest(settings, SystemClock())
    device = StreamingDevice(broker, device_id)
    try:
        assert running.mqtt.connected.wait(10)
        device.publish(0, 100)
        wait_for(lambda: stored(pg.url)[0] > 0)
        pg.stop("fast")
        device.publish(100, 100)
        time.sleep(PG_OUTAGE_S)
        pg.start()
        device.publish(200, 100)
        wait_for(device.all_acked, timeout_s=30)
        assert_exactly_once(pg.url, 300)
        assert running.worker.stats.db_errors > 0  # the outage really hit the writer
    finally:
        device.close()
        running.stop()


def test_broker_restart_mid_stream(stack, pg: PrivatePostgres) -> None:
    """Exclusive subscription: Mosquitto 2.0 restores it (not shared ones) from its persistence file."""
    settings, broker, device_id = stack
    settings.ingest.shared_group = ""
    running = start_ingest(settings, SystemClock())
    device = StreamingDevice(broker, device_id)
    try:
        assert running.mqtt.connected.wait(10)
        device.publish(0, 150)
        broker.stop()  # graceful: the broker saves its persistence file
        time.sleep(1.0)
        broker.start()
        wait_for(device.client.is_connected, timeout_s=15)  # paho resends the unacknowledged first-half batches
        device.publish(150, 150)
        wait_for(device.all_acked, timeout_s=30)
        assert_exactly_once(pg.url, 300)
    finally:
        device.close()
        running.stop()


def ingest_process(settings: Settings) -> subprocess.Popen:
    env = {**os.environ, "QUIETFIX_DATABASE_URL": settings.database_url, "QUIETFIX_MQTT_URL": settings.mqtt_url,
           "QUIETFIX_INGEST__BATCH_MAX_WAIT_S": "0.02", "QUIETFIX_LOG_LEVEL": "WARNING",
           "QUIETFIX_INGEST__SHARED_GROUP": settings.ingest.shared_group}
    return subprocess.Popen([sys.executable, "-m", "quietfix.cli", "ingest", "--worker-id",
                             settings.ingest.worker_id], env=env, cwd=ROOT, stderr=subprocess.DEVNULL)


def test_ingest_worker_killed_mid_stream_resumes_from_its_session(stack, pg: PrivatePostgres) -> None:
    settings, broker, device_id = stack
    settings.ingest.shared_group = "ingest"
    worker = ingest_process(settings)
    device = StreamingDevice(broker, device_id)
    try:
        # The worker is subscribed once a status message it receives has reached the database.
        def subscribed() -> bool:
            device.client.publish(f"qf/v1/{device_id}/status", b'{"v":1,"state":"online"}', qos=1)
            return online(pg.url, device_id)

        wait_for(subscribed, timeout_s=30, interval_s=0.5)
        publisher = threading.Thread(target=device.publish, args=(0, 400, 0.01))
        publisher.start()
        wait_for(lambda: stored(pg.url)[0] > 500, timeout_s=30, interval_s=0.05)
        worker.send_signal(signal.SIGKILL)  # no goodbye: whatever was in flight was not acknowledged
        worker.wait(10)
        time.sleep(1.0)
        worker = ingest_process(settings)
        publisher.join()
        wait_for(device.all_acked, timeout_s=30)
        assert_exactly_once(pg.url, 400)
    finally:
        device.close()
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(10)
