"""Ingest against the real broker and database: stored once, dead letters with reasons, liveness."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import psycopg
import pytest

from core import broker, commands
from core.clock import ManualClock, SystemClock, to_datetime
from core.db import connect
from core.settings import Settings
from ingest import repository as repo
from ingest import start_ingest
from quietfix.seed import seed
from tests.helpers import DevicePublisher, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture()
def device(settings: Settings, conn: psycopg.Connection, broker_up):
    devices = seed(conn, devices=2, technicians=1, users=False, id_prefix=f"t{uuid.uuid4().hex[:6]}-")
    conn.commit()
    d = devices[0]
    broker.upsert_credentials(settings.broker_dir / "passwd", [(d.device_id, "pw-" + d.device_id)])
    broker.reload_broker(settings.broker_dir / "mosquitto.pid")
    time.sleep(0.3)
    pub = DevicePublisher(broker_up, d.device_id, "pw-" + d.device_id)
    yield d, pub
    pub.close()


def batch(device_id: str, seq: int, t_ms: int, n: int = 3) -> dict:
    return {"v": 1, "device_id": device_id, "seq": seq,
            "samples": [{"t": t_ms + i * 1000, "m": {"pressure_bar": 4.0 + i, "flow_lpm": 100.0}} for i in range(n)]}


def count(conn: psycopg.Connection, sql: str, *args: object) -> int:
    row = conn.execute(sql, args).fetchone()
    conn.commit()
    return int(row[0])


def test_batches_are_stored_once_and_bad_input_is_dead_lettered(settings: Settings, conn, device) -> None:
    d, pub = device
    running = start_ingest(settings, SystemClock())
    try:
        assert running.mqtt.connected.wait(10)
        t0 = int(time.time() * 1000)
        topic = f"qf/v1/{d.device_id}/telemetry"
        pub.publish(topic, batch(d.device_id, 1, t0))
        pub.publish(topic, batch(d.device_id, 2, t0 + 5000))
        pub.publish(topic, batch(d.device_id, 1, t0))  # redelivery of seq 1
        pub.publish(topic, b"{not json")
        pub.publish(topic, {"v": 1, "device_id": d.device_id, "seq": 3, "samples": [{"t": t0, "m": {"x": "hot"}}]})
        # Only this device's topic counts: other checkouts' fleets may share the machine's broker.
        wait_for(lambda: count(conn, "SELECT count(*) FROM dead_letters WHERE topic = %s", topic) == 2)
        wait_for(lambda: running.worker.stats.messages >= 5)
        assert count(conn, "SELECT count(*) FROM telemetry WHERE device_id = %s", d.device_id) == 12
        assert count(conn, "SELECT count(*) FROM ingest_batches WHERE device_id = %s", d.device_id) == 2
        reasons = {r[0] for r in conn.execute("SELECT reason FROM dead_letters WHERE topic = %s", (topic,))}
        assert any(r.startswith("not JSON") for r in reasons)
        assert "signal 'x' value is not a number" in reasons
        latest = dict(conn.execute("SELECT signal, value FROM telemetry_latest WHERE device_id = %s",
                                   (d.device_id,)).fetchall())
        assert latest == {"pressure_bar": 6.0, "flow_lpm": 100.0}
        online = conn.execute("SELECT online FROM devices WHERE id = %s", (d.device_id,)).fetchone()[0]
        assert online is True
    finally:
        running.stop()


def test_unknown_device_is_rejected_to_dead_letters(settings: Settings, conn, device, broker_up) -> None:
    # The ACL lets the service account publish anywhere, which is how an unprovisioned id can reach ingest.
    svc = DevicePublisher(broker_up, settings.mqtt_username, settings.mqtt_password)
    running = start_ingest(settings, SystemClock())
    try:
        assert running.mqtt.connected.wait(10)
        svc.publish("qf/v1/ghost-0001/telemetry", batch("ghost-0001", 1, int(time.time() * 1000)))
        wait_for(lambda: count(conn, "SELECT count(*) FROM dead_letters WHERE reason = 'unknown device' "
                                     "AND topic = 'qf/v1/ghost-0001/telemetry'") == 1)
        assert count(conn, "SELECT count(*) FROM telemetry") == 0
    finally:
        running.stop()
        svc.close()


def test_an_empty_status_clears_a_retained_message_and_is_no_dead_letter(settings: Settings, conn,
                                                                          broker_up) -> None:
    # How a retired scratch fleet deletes its retained statuses (quietfix.demo.forget_retained_status).
    svc = DevicePublisher(broker_up, settings.mqtt_username, settings.mqtt_password)
    running = start_ingest(settings, SystemClock())
    try:
        assert running.mqtt.connected.wait(10)
        svc.publish("qf/v1/ghost-0002/status", b"", retain=True)
        svc.publish("qf/v1/ghost-0002/telemetry", b"{}")  # a marker that is dead-lettered after it
        wait_for(lambda: count(conn, "SELECT count(*) FROM dead_letters WHERE topic LIKE 'qf/v1/ghost-0002/%%'") >= 1)
        topics = [r[0] for r in conn.execute("SELECT topic FROM dead_letters WHERE topic LIKE 'qf/v1/ghost-0002/%%'")]
        assert topics == ["qf/v1/ghost-0002/telemetry"]
    finally:
        running.stop()
        svc.close()


def test_a_retained_status_of_an_unknown_device_is_stale_broker_state_not_a_dead_letter(
        settings: Settings, conn, broker_up) -> None:
    # Left by another fleet on a shared broker (a killed benchmark): delivered with the retain flag on subscribe.
    svc = DevicePublisher(broker_up, settings.mqtt_username, settings.mqtt_password)
    svc.publish("qf/v1/ghost-0003/status", {"v": 1, "state": "offline"}, retain=True)
    running = start_ingest(settings, SystemClock())
    try:
        assert running.mqtt.connected.wait(10)
        svc.publish("qf/v1/ghost-0003/status", {"v": 1, "state": "online"})  # live, not retained: a dead letter
        wait_for(lambda: count(conn, "SELECT count(*) FROM dead_letters WHERE topic = 'qf/v1/ghost-0003/status'") >= 1)
        time.sleep(0.5)
        assert count(conn, "SELECT count(*) FROM dead_letters WHERE topic = 'qf/v1/ghost-0003/status'") == 1
    finally:
        running.stop()
        svc.publish("qf/v1/ghost-0003/status", b"", retain=True)  # leave the broker as it was
        svc.close()


def test_a_device_cannot_publish_as_another(settings: Settings, conn, device, broker_up) -> None:
    d, pub = device
    running = start_ingest(settings, SystemClock())
    try:
        assert running.mqtt.connected.wait(10)
        t0 = int(time.time() * 1000)
        pub.publish("qf/v1/someone-else/telemetry", batch("someone-else", 1, t0))  # refused by the broker ACL
        pub.publish(f"qf/v1/{d.device_id}/telemetry", batch(d.device_id, 1, t0))  # a marker that does arrive
        wait_for(lambda: count(conn, "SELECT count(*) FROM ingest_batches") == 1)
        time.sleep(0.5)
        assert count(conn, "SELECT count(*) FROM dead_letters WHERE topic LIKE 'qf/v1/someone-else/%%'") == 0
        assert count(conn, "SELECT count(*) FROM ingest_batches WHERE device_id <> %s", d.device_id) == 0
    finally:
        running.stop()


def test_last_will_and_status_set_online_state(settings: Settings, conn, device) -> None:
    d, pub = device
    running = start_ingest(settings, SystemClock())
    try:
        assert running.mqtt.connected.wait(10)
        topic = f"qf/v1/{d.device_id}/status"
        pub.publish(topic, {"v": 1, "state": "online", "t": int(time.time() * 1000)})
        wait_for(lambda: conn.execute("SELECT online FROM devices WHERE id = %s", (d.device_id,)).fetchone()[0]
                 or conn.commit())
        conn.commit()
        pub.publish(topic, {"v": 1, "state": "offline"})
        wait_for(lambda: (conn.execute("SELECT NOT online FROM devices WHERE id = %s", (d.device_id,)).fetchone()[0],
                          conn.commit())[0])
        kinds = [r[0] for r in conn.execute(
            "SELECT summary FROM timeline_events WHERE device_id = %s ORDER BY id", (d.device_id,))]
        assert kinds[-1].endswith("is offline")
    finally:
        running.stop()


def test_stale_devices_go_offline_exactly_at_the_timeout(db_url: str, conn) -> None:
    seed(conn, devices=2, technicians=1, users=False)
    conn.commit()
    clock = ManualClock()
    seen = to_datetime(clock.now())
    with connect(db_url) as c:
        c.execute("UPDATE devices SET online = true, last_seen = %s", (seen,))
        timeout = timedelta(seconds=120)
        assert repo.mark_stale_offline(c, seen + timeout - timedelta(milliseconds=1), timeout) == []
        gone = repo.mark_stale_offline(c, seen + timeout, timeout)
        assert len(gone) == 2
        changed = c.execute("SELECT DISTINCT status_changed_at FROM devices").fetchall()
        assert changed == [(seen + timeout,)]
        c.commit()


def test_command_results_are_recorded_against_their_command(settings: Settings, conn, device) -> None:
    d, pub = device
    now = to_datetime(time.time())
    command = commands.issue(conn, device_id=d.device_id, cmd="ping", args={}, issued_by="dispatcher",
                             user_id=None, issued_at=now, expires_at=now + timedelta(minutes=5))
    conn.commit()
    running = start_ingest(settings, SystemClock())
    try:
        assert running.mqtt.connected.wait(10)
        topic = f"qf/v1/{d.device_id}/cmd/result"
        answer = {"v": 1, "id": command.id, "ok": True, "result": {"pong": True}}
        pub.publish(topic, answer)
        pub.publish(topic, answer)  # a redelivered answer changes nothing
        pub.publish(topic, {"v": 1, "id": "00000000-0000-0000-0000-000000000000", "ok": True})
        wait_for(lambda: count(conn, "SELECT count(*) FROM dead_letters WHERE topic = %s", topic) == 1)
        status = conn.execute("SELECT status, result FROM commands WHERE id = %s", (command.id,)).fetchone()
        assert status == ("succeeded", {"pong": True})
        reason = conn.execute("SELECT reason FROM dead_letters WHERE topic = %s", (topic,)).fetchone()[0]
        assert reason == "unknown command"
    finally:
        running.stop()
