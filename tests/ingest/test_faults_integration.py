"""Outages delay data but never drop or duplicate it: counted, not hoped.

Each test streams batches from devices through a private broker and a private PostgreSQL (real binaries, our
configuration), breaks one of them mid-stream, recovers, and then checks that every published reading is stored
exactly once. Most tests drive the real edge agent (``edge_agent.Fleet``), which keeps every batch on disk until
ingest's end-to-end ack (``qf/v1/{id}/ack``) arrives; the exclusive-subscription broker restart uses a bare paho
device, to pin what the broker alone guarantees.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
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
from edge_agent import DeviceSpec, Fleet
from ingest import start_ingest
from quietfix.seed import SeededDevice, seed
from tests.helpers import wait_for
from tests.services import ROOT, PrivateBroker, PrivatePostgres, free_port

pytestmark = [pytest.mark.integration, pytest.mark.allow_error_logs]
READINGS_PER_BATCH = 10
# The scenario: PostgreSQL down for half a minute under a live stream.
PG_OUTAGE_S = 30.0
# Fleet runs: 3 devices at 60x, a sample per simulated second, a batch per 5 simulated s: ~900 readings and
# ~36 batches per wall second in total, enough that every outage below hits batches in flight.
FLEET_DEVICES = 3
SPEED = 60.0
# Short end-to-end ack timeout so lost messages are resent within the test; production default is 30 s.
ACK_TIMEOUT_S = 3.0
DRAIN_TIMEOUT_S = 120.0  # fleet.stop waits this long for every buffered batch to be acked


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
def stack(pg: PrivatePostgres, tmp_path: Path) -> Iterator[tuple[Settings, PrivateBroker, list[SeededDevice]]]:
    if not pg_is_up(pg):
        pg.start()
    base = load_settings()
    broker = PrivateBroker(tmp_path / "broker", base.mqtt_username, base.mqtt_password)
    broker.start()
    settings = load_settings(database_url=pg.url, mqtt_url=broker.url)
    settings.ingest.worker_id = f"ingest-fault-{os.getpid()}"
    settings.ingest.batch_max_wait_s = 0.02
    # The fleet's clocks run SPEED times faster than ingest's wall clock, so after a few seconds its timestamps are
    # minutes ahead of their arrival: a clock fault (stored apart, docs/contracts.md). These tests count storage
    # through outages, not clock checks: allow the whole 24 h horizon.
    settings.ingest.clock_skew_max_s = 24 * 3600.0
    with psycopg.connect(pg.url.replace("/quietfix", "/postgres"), autocommit=True) as c:
        c.execute("DROP DATABASE IF EXISTS quietfix WITH (FORCE)")
    ensure_database(pg.url)
    migrate(pg.url)
    with psycopg.connect(pg.url) as conn:
        devices = seed(conn, devices=FLEET_DEVICES, technicians=1, users=False)
        conn.commit()
    for d in devices:
        broker.add_device(d.device_id, "pw")
    yield settings, broker, devices
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
            body = str(samples).replace("'", '"')
            payload = f'{{"v":1,"device_id":"{self.device_id}","seq":{seq},"samples":{body}}}'.encode()
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


def fleet_for(devices: list[SeededDevice], port: int, buffer_dir: Path) -> Fleet:
    wall0 = time.time()
    specs = [DeviceSpec(d.device_id, d.equipment_type, d.device_id, "pw") for d in devices]
    return Fleet(specs, host="127.0.0.1", port=port, clock=lambda: wall0 + (time.time() - wall0) * SPEED,
                 sample_interval_s=1.0, batch_interval_s=5.0, buffer_dir=buffer_dir, ack_timeout_s=ACK_TIMEOUT_S)


def assert_fleet_stored_exactly_once(url: str, fleet: Fleet) -> dict[str, int]:
    """Stop the fleet (it waits for every end-to-end ack), then count what the database holds.

    After the drain nothing is left on any device, so the database must hold exactly the readings and
    events the devices produced: fewer is loss, more is duplication.
    """
    fleet.stop(timeout_s=DRAIN_TIMEOUT_S)
    stats = fleet.stats()
    assert (stats["buffered"], stats["dropped"]) == (0, 0)  # every batch and event was acked end to end
    total, distinct = stored(url)
    assert (total, distinct) == (stats["published_readings"], stats["published_readings"])
    with psycopg.connect(url) as conn:
        events = conn.execute("SELECT count(*) FROM device_events").fetchone()[0]
        on_timeline = conn.execute("SELECT count(*) FROM timeline_events WHERE kind = 'device_event'").fetchone()[0]
    assert (events, on_timeline) == (stats["events"], stats["events"])
    return stats


def assert_exactly_once(url: str, batches: int) -> None:
    expected = batches * READINGS_PER_BATCH
    deadline = time.monotonic() + 90
    while stored(url)[0] < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1.0)  # anything duplicated would land right behind the last original
    total, distinct = stored(url)
    assert (total, distinct) == (expected, expected)


def test_postgres_outage_delays_but_loses_nothing(stack, pg: PrivatePostgres, tmp_path: Path) -> None:
    """PostgreSQL stopped for 30 s under the edge fleet: acks stop, devices keep (and resend) their batches."""
    settings, broker, devices = stack
    running = start_ingest(settings, SystemClock())
    fleet = fleet_for(devices, broker.port, tmp_path / "edge")
    try:
        assert running.mqtt.connected.wait(10)
        fleet.start()
        wait_for(lambda: stored(pg.url)[0] > 0, timeout_s=30)
        pg.stop("fast")
        time.sleep(1.0)  # an ack for the last commit before the stop may still be on its way
        acked = fleet.stats()["acked_messages"]
        time.sleep(PG_OUTAGE_S - 1.0)
        assert fleet.stats()["acked_messages"] == acked  # nothing is acked while nothing can be committed
        assert fleet.stats()["buffered"] > 0
        pg.start()
        wait_for(lambda: fleet.stats()["acked_messages"] > acked + 20, timeout_s=60)
        stats = assert_fleet_stored_exactly_once(pg.url, fleet)
        assert running.worker.stats.db_errors > 0  # the outage really hit the writer
        assert stats["resent_messages"] > 0  # overdue acks were resent during the outage; stored once anyway
    finally:
        fleet.stop()
        running.stop()


def test_broker_restart_mid_stream(stack, pg: PrivatePostgres) -> None:
    """Exclusive subscription: Mosquitto 2.0 restores it (not shared ones) from its persistence file, so the
    broker alone (a bare device relying on PUBACK) already delivers exactly once."""
    settings, broker, devices = stack
    device_id = devices[0].device_id
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


def test_broker_restart_with_shared_subscription_loses_nothing_end_to_end(
        stack, pg: PrivatePostgres, tmp_path: Path) -> None:
    """The default shared group: Mosquitto 2.0.11 drops what it queued for ``$share/ingest/...`` on restart.

    The devices still hold every batch ingest has not acked, and resend it, so every reading is stored once.
    A motor trip mid-stream makes the agents emit events, which must come through once as well.
    """
    settings, broker, devices = stack
    assert settings.ingest.shared_group == "ingest"  # the default, on purpose
    running = start_ingest(settings, SystemClock())
    fleet = fleet_for(devices, broker.port, tmp_path / "edge")
    try:
        assert running.mqtt.connected.wait(10)
        fleet.start()
        wait_for(lambda: stored(pg.url)[0] > 1000, timeout_s=30)
        fleet.inject_fault(devices[0].device_id, "motor_trip")
        broker.stop()  # graceful: it saves its persistence file (without the shared subscription's queue)
        time.sleep(1.0)
        broker.start()
        mark = stored(pg.url)[0]
        wait_for(lambda: stored(pg.url)[0] > mark + 2000, timeout_s=60)
        wait_for(lambda: fleet.stats()["events"] > 0, timeout_s=30)
        stats = assert_fleet_stored_exactly_once(pg.url, fleet)
        assert stats["events"] >= 2  # the trip: at least "stopped" and a low-current alarm
    finally:
        fleet.stop()
        running.stop()
    with psycopg.connect(pg.url) as conn:
        kinds = {r[0] for r in conn.execute("SELECT kind FROM device_events WHERE device_id = %s",
                                            (devices[0].device_id,))}
    assert {"state_changed", "alarm_raised"} <= kinds


def ingest_process(settings: Settings) -> subprocess.Popen:
    env = {**os.environ, "QUIETFIX_DATABASE_URL": settings.database_url, "QUIETFIX_MQTT_URL": settings.mqtt_url,
           "QUIETFIX_INGEST__BATCH_MAX_WAIT_S": "0.02", "QUIETFIX_LOG_LEVEL": "WARNING",
           "QUIETFIX_INGEST__SHARED_GROUP": settings.ingest.shared_group,
           "QUIETFIX_INGEST__CLOCK_SKEW_MAX_S": str(settings.ingest.clock_skew_max_s)}
    return subprocess.Popen([sys.executable, "-m", "quietfix.cli", "ingest", "--worker-id",
                             settings.ingest.worker_id], env=env, cwd=ROOT, stderr=subprocess.DEVNULL)


def copy_waiting_on_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                           "AND query ILIKE '%%COPY %% FROM STDIN%%'").fetchone()  # the named query starts with a comment
    return bool(row[0])


def test_ingest_worker_killed_during_a_copy_resumes_from_its_session(
        stack, pg: PrivatePostgres, tmp_path: Path) -> None:
    """SIGKILL while the worker is inside a COPY (held there by a lock the test takes on telemetry).

    Its transaction dies with it; neither the broker (no PUBACK from ingest) nor the devices (no end-to-end
    ack) have let go of those batches, so the restarted worker (same persistent session) stores them once.
    """
    settings, broker, devices = stack
    settings.ingest.shared_group = "ingest"
    worker = ingest_process(settings)
    fleet = fleet_for(devices, broker.port, tmp_path / "edge")
    try:
        fleet.start()
        wait_for(lambda: stored(pg.url)[0] > 500, timeout_s=60)
        caught = False
        for _ in range(10):  # a pass of the worker's maintenance may take the lock first: then try again
            with psycopg.connect(pg.url) as blocker:
                blocker.execute("LOCK TABLE telemetry IN SHARE MODE")  # blocks writes, not reads
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and not (caught := copy_waiting_on_lock(pg.url)):
                    time.sleep(0.05)
                if caught:
                    worker.send_signal(signal.SIGKILL)  # mid-COPY, no goodbye
                    worker.wait(10)
                blocker.rollback()
            if caught:
                break
        assert caught, "no COPY ever waited on the lock"
        before = stored(pg.url)[0]
        time.sleep(2 * ACK_TIMEOUT_S)  # devices resend into the dead worker's session meanwhile
        assert stored(pg.url)[0] == before  # nobody else writes: the killed COPY left nothing behind
        worker = ingest_process(settings)
        stats = assert_fleet_stored_exactly_once(pg.url, fleet)
        assert stats["published_readings"] > before
    finally:
        fleet.stop()
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(10)


class CuttableLink:
    """A TCP relay between the devices and the broker that the test can cut (close + refuse) and restore."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target = target_port
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(64)
        self._server = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def cut(self) -> None:
        """Every device loses its connection at once, and reconnects are refused until ``restore``."""
        assert self._server is not None
        self._server.close()
        self._server = None
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        if self._server is not None:
            self.cut()


def test_edge_agents_cut_off_from_the_broker_deliver_their_backlog_once(
        stack, pg: PrivatePostgres, tmp_path: Path) -> None:
    """The devices' link drops mid-stream (in-flight batches and acks lost with it) and stays down for 10 s."""
    settings, broker, devices = stack
    link = CuttableLink(broker.port)
    running = start_ingest(settings, SystemClock())
    fleet = fleet_for(devices, link.port, tmp_path / "edge")
    try:
        assert running.mqtt.connected.wait(10)
        fleet.start()
        wait_for(lambda: stored(pg.url)[0] > 1000, timeout_s=30)
        link.cut()
        wait_for(lambda: fleet.stats()["connected"] == 0, timeout_s=30)
        buffered = fleet.stats()["buffered"]
        time.sleep(10)
        assert fleet.stats()["buffered"] > buffered  # still sampling, all of it on disk
        link.restore()
        wait_for(lambda: fleet.stats()["connected"] == FLEET_DEVICES, timeout_s=60)
        assert_fleet_stored_exactly_once(pg.url, fleet)
    finally:
        fleet.stop()
        running.stop()
        link.close()
