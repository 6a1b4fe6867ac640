"""Broker ACL for the end-to-end ack (core/broker.py) on a private Mosquitto with the project's configuration:
a device reads its own ack topic, never another device's, and may not publish acks itself."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.settings import load_settings
from tests.helpers import wait_for
from tests.services import PrivateBroker

pytestmark = pytest.mark.integration


class Client:
    def __init__(self, port: int, user: str, password: str) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:6]}",
                             protocol=mqtt.MQTTv5)
        self.c.username_pw_set(user, password)
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.got.append((msg.topic, bytes(msg.payload)))

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _ in self.got]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture()
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    base = load_settings()
    b = PrivateBroker(tmp_path / "broker", base.mqtt_username, base.mqtt_password)
    b.add_device("pump-acl1", "pw1")
    b.add_device("pump-acl2", "pw2")
    b.start()
    yield b
    b.stop(kill=True)


def test_a_device_reads_only_its_own_acks(broker: PrivateBroker) -> None:
    base = load_settings()
    service = Client(broker.port, base.mqtt_username, base.mqtt_password)
    one = Client(broker.port, "pump-acl1", "pw1")
    two = Client(broker.port, "pump-acl2", "pw2")
    try:
        subscribed = threading.Event()
        one.c.on_subscribe = lambda *_a: subscribed.set()
        one.c.subscribe([("qf/v1/pump-acl1/ack", 1), ("qf/v1/pump-acl2/ack", 1), ("qf/v1/+/ack", 1)])
        assert subscribed.wait(10)
        # A device cannot forge an ack for itself or another device ...
        two.c.publish("qf/v1/pump-acl1/ack", b'{"v":1,"seqs":[666],"t":0}', qos=1).wait_for_publish(10)
        # ... the service account can; the other device's ack goes first, so it would arrive first if allowed.
        service.c.publish("qf/v1/pump-acl2/ack", b'{"v":1,"seqs":[2],"t":0}', qos=1).wait_for_publish(10)
        service.c.publish("qf/v1/pump-acl1/ack", b'{"v":1,"seqs":[1],"t":0}', qos=1).wait_for_publish(10)
        wait_for(lambda: "qf/v1/pump-acl1/ack" in one.topics(), timeout_s=10)
        with one.lock:
            got = list(one.got)
        assert all(t == "qf/v1/pump-acl1/ack" for t, _ in got)
        assert {p for _, p in got} == {b'{"v":1,"seqs":[1],"t":0}'}  # only the service's ack, not the forged one
    finally:
        for c in (service, one, two):
            c.close()
