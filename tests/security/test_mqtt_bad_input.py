"""Hostile and broken device input through the real broker and the real ingest worker.

Oversized, future-dated, ancient, mislabelled and wrongly versioned payloads become dead letters with reasons.
So does a *replay*: a batch under a (device, seq) already stored with other content (count or time span). A
redelivery of the same batch (QoS 1 after a lost PUBACK, an edge agent's resend) is deduplicated instead: it is
normal MQTT behaviour, and storing it once is the correct outcome. A payload beyond the broker's max_packet_size
never reaches ingest: the broker disconnects the sender.

Runs against this module's own Mosquitto (tests/security/conftest.py), so no credential of the shared broker
changes.
"""

from __future__ import annotations

import json
import time

import psycopg
import pytest

from core.clock import SystemClock
from core.contracts import MAX_PAYLOAD_BYTES
from core.provision import provision
from core.settings import Settings
from ingest import start_ingest
from quietfix.seed import seed
from tests.helpers import wait_for
from tests.security.conftest import OwnBroker
from tests.security.mqtt_probe import Probe

pytestmark = pytest.mark.integration


def batch(device_id: str, seq: int, t_ms: int, value: float = 1.0) -> bytes:
    return json.dumps({"v": 1, "device_id": device_id, "seq": seq,
                       "samples": [{"t": t_ms, "m": {"pressure_bar": value}}]}).encode()


def scalar(conn: psycopg.Connection, sql: str, *args: object) -> int:
    row = conn.execute(sql, args).fetchone()
    conn.commit()
    return int(row[0])


def test_bad_and_replayed_payloads_are_dead_lettered_with_reasons_and_redeliveries_deduplicated(
        settings: Settings, conn: psycopg.Connection, own_broker: OwnBroker) -> None:
    device = seed(conn, devices=1, technicians=1, users=False)[0].device_id
    conn.commit()
    s = own_broker.settings(database_url=settings.database_url)
    s.ingest = settings.ingest
    password = provision(s, [device])[device]
    running = start_ingest(s, SystemClock())
    pub = Probe(own_broker.port, device, password)
    try:
        assert running.mqtt.connected.wait(10) and pub.accepted
        now = int(time.time() * 1000)
        topic = f"qf/v1/{device}/telemetry"
        oversized = b'{"v":1,"pad":"' + b"x" * MAX_PAYLOAD_BYTES + b'"}'
        bad = {
            "payload too large": oversized,
            "sample timestamp in the future": batch(device, 10, now + 3 * 24 * 3600 * 1000),
            "sample timestamp before 2000": batch(device, 11, 900_000_000_000),
            "device_id does not match topic": batch("someone-else", 12, now),
            "unsupported schema version 2": json.dumps({"v": 2, "device_id": device, "seq": 13}).encode(),
            "seq out of range": batch(device, -1, now),
        }
        for payload in bad.values():
            pub.publish(topic, payload)
        pub.publish(topic, batch(device, 1, now, 4.0))
        replay = batch(device, 1, now + 1000, 99.0)  # seq 1 again, other content: a replay, not a redelivery
        pub.publish(topic, replay)
        pub.publish(topic, batch(device, 2, now + 2000, 5.0))
        pub.publish(topic, batch(device, 2, now + 2000, 5.0))  # the same batch again: a redelivery
        wait_for(lambda: running.worker.stats.messages == len(bad) + 4)
        rows = conn.execute("SELECT reason, payload FROM dead_letters ORDER BY id").fetchall()
        reasons = [r for r, _ in rows]
        conn.commit()
        assert len(reasons) == len(bad) + 1
        for expected in [*bad, "replayed seq 1 with other content"]:
            assert any(r.startswith(expected) for r in reasons), (expected, reasons)
        assert [bytes(p) for r, p in rows if r.startswith("replayed")] == [replay]  # kept for inspection
        values = [v for (v,) in conn.execute("SELECT value FROM telemetry WHERE device_id = %s ORDER BY ts",
                                             (device,))]
        assert values == [4.0, 5.0]  # the replay did not overwrite seq 1; the redelivery was stored once
        assert scalar(conn, "SELECT count(*) FROM ingest_batches WHERE device_id = %s", device) == 2
        assert running.worker.stats.duplicates == 1  # the redelivery only, not the replay
        stored = scalar(conn, "SELECT octet_length(payload) FROM dead_letters WHERE reason LIKE 'payload too large%%'")
        assert stored == len(oversized)  # kept whole for inspection
    finally:
        pub.close()
        running.stop()


def test_a_packet_beyond_the_broker_limit_disconnects_the_sender(own_broker: OwnBroker) -> None:
    device = "pump-huge"
    password = provision(own_broker.settings(), [device])[device]
    watcher = Probe(own_broker.port, "qf-service", own_broker.service_password)
    pub = Probe(own_broker.port, device, password)
    try:
        assert watcher.subscribe("qf/v1/#") == [1] and pub.accepted
        pub.client.publish(f"qf/v1/{device}/telemetry", b"x" * (2 * 1024 * 1024), qos=1)
        wait_for(pub.disconnected.is_set, timeout_s=10)
        other = Probe(own_broker.port, "qf-service", own_broker.service_password)
        try:
            other.publish("qf/v1/marker/event", b"marker")
        finally:
            other.close()
        assert all(len(p) < 1024 * 1024 for _, p in watcher.wait_for(b"marker"))
    finally:
        pub.close()
        watcher.close()
