"""The server's paho adapter on a real broker: buffered reads, the direct PUBLISH decode and batched writes.

core/mqtt.py replaces paho's per-packet socket reads, decodes QoS 0/1 PUBLISH packets itself (skipping paho's
property objects) and writes a flush's PUBACKs and QoS 0 acks as one block. These tests check that what arrives
is exactly what was published (properties present or not, payloads spanning several socket reads), that
``ack_many`` really acknowledges (no redelivery to the persistent session) and only what it is given, and that
``publish_many_qos0`` packets are well-formed for another client.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.mqtt import InboundMessage, ServerMqtt
from core.settings import load_settings
from tests.helpers import wait_for
from tests.services import PrivateBroker

pytestmark = pytest.mark.integration


@pytest.fixture()
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    base = load_settings()
    server = PrivateBroker(tmp_path / "broker", base.mqtt_username, base.mqtt_password)
    server.start()
    yield server
    server.stop(kill=True)


class Inbox:
    def __init__(self) -> None:
        self.items: list[InboundMessage] = []
        self.lock = threading.Lock()

    def __call__(self, message: InboundMessage) -> None:
        with self.lock:
            self.items.append(message)

    def __len__(self) -> int:
        with self.lock:
            return len(self.items)


def server(broker: PrivateBroker, inbox: Inbox, client_id: str, topic: str = "qf/v1/+/telemetry") -> ServerMqtt:
    base = load_settings()
    client = ServerMqtt(broker.url, client_id, username=base.mqtt_username, password=base.mqtt_password,
                        subscriptions=[(topic, 1)], on_message=inbox)
    client.start()
    assert client.connected.wait(10)
    return client


def publisher(broker: PrivateBroker) -> mqtt.Client:
    base = load_settings()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{os.getpid()}-{time.monotonic_ns()}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(base.mqtt_username, base.mqtt_password)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def test_messages_arrive_exactly_with_or_without_properties(broker: PrivateBroker) -> None:
    inbox = Inbox()
    sub = server(broker, inbox, f"adapter-exact-{os.getpid()}")
    pub = publisher(broker)
    try:
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("origin", "test"), ("x" * 300, "y" * 300)]  # a multi-byte property length
        props.MessageExpiryInterval = 3600
        props.ContentType = "application/json"
        sent: list[tuple[str, bytes, int]] = []
        for i in range(3000):  # thousands of small packets: many per socket read
            sent.append((f"qf/v1/dev-{i % 7}/telemetry", b'{"i":%d}' % i, 1 if i % 3 else 0))
        for size in (0, 1, 127, 128, 16_383, 16_384, 200_000):  # remaining-length edges; one spans reads
            sent.append(("qf/v1/dev-big/telemetry", bytes(range(256)) * (size // 256) + b"z" * (size % 256), 1))
        infos = [pub.publish(t, p, qos=q, properties=props if n % 2 else None)
                 for n, (t, p, q) in enumerate(sent)]
        for info in infos:
            info.wait_for_publish(30)
        wait_for(lambda: len(inbox) >= len(sent), timeout_s=30)
        got = [(m.topic, m.payload, m.qos) for m in inbox.items]
        assert sorted(got) == sorted(sent)  # one publisher: in order per QoS, but QoS 0/1 may interleave
        assert [g for g in got if g[2] == 1] == [s for s in sent if s[2] == 1]
        assert all(m.mid > 0 for m in inbox.items if m.qos == 1) and not any(m.retain for m in inbox.items)
        sub.ack_many(inbox.items)
    finally:
        pub.disconnect()
        pub.loop_stop()
        sub.stop()


def test_ack_many_acknowledges_exactly_the_messages_given(broker: PrivateBroker) -> None:
    client_id = f"adapter-ack-{os.getpid()}"
    inbox = Inbox()
    sub = server(broker, inbox, client_id)
    pub = publisher(broker)
    try:
        for i in range(20):
            pub.publish(f"qf/v1/dev-{i}/telemetry", b"%d" % i, qos=1).wait_for_publish(10)
        wait_for(lambda: len(inbox) == 20)
        sub.ack_many(inbox.items[:15])  # the last five stay unacknowledged
        time.sleep(1.0)
        sub.stop()
        again = Inbox()
        sub = server(broker, again, client_id)  # same persistent session: the broker redelivers the unacked
        wait_for(lambda: len(again) >= 5)
        time.sleep(1.0)
        assert sorted(m.payload for m in again.items) == [b"15", b"16", b"17", b"18", b"19"]
        sub.ack_many(again.items)
    finally:
        pub.disconnect()
        pub.loop_stop()
        sub.stop()


def test_publish_many_qos0_reaches_another_client(broker: PrivateBroker) -> None:
    inbox = Inbox()
    listener = server(broker, inbox, f"adapter-listen-{os.getpid()}", topic="qf/v1/+/ack")
    sender = server(broker, Inbox(), f"adapter-send-{os.getpid()}")
    try:
        acks = [(f"qf/v1/dev-{i}/ack", b'{"v":1,"seqs":[%d],"t":0}' % i) for i in range(500)]
        acks.append(("qf/v1/dev-long/ack", b"s" * 70_000))  # a 3-byte remaining length
        sender.publish_many_qos0(acks)
        wait_for(lambda: len(inbox) == len(acks))
        assert [(m.topic, m.payload, m.qos) for m in inbox.items] == [(t, p, 0) for t, p in acks]
    finally:
        listener.stop()
        sender.stop()
