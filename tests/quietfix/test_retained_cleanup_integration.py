"""A scratch fleet leaves no retained status on the shared broker (else the next demo dead-letters each one)."""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core import broker
from core.mqtt import BrokerAddress
from core.settings import Settings
from edge_agent import DeviceSpec
from quietfix.demo import forget_retained_status
from tests.helpers import DevicePublisher

pytestmark = pytest.mark.integration


def _retained(address: BrokerAddress, settings: Settings, topic: str) -> bytes | None:
    """What a new subscriber gets on ``topic`` within a second: the retained message, or None."""
    got: list[bytes] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_message = lambda c, u, m: (got.append(m.payload), done.set())
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        done.wait(1.5)
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0] if got else None


def test_forget_retained_status_clears_each_devices_status(settings: Settings, broker_up: BrokerAddress) -> None:
    specs = [DeviceSpec(f"rc{uuid.uuid4().hex[:6]}-{i}", "pump", "", f"pw-{i}") for i in range(2)]
    specs = [DeviceSpec(s.device_id, s.equipment_type, s.device_id, s.password) for s in specs]
    broker.upsert_credentials(settings.broker_dir / "passwd", [(s.device_id, s.password) for s in specs])
    broker.reload_broker(settings.broker_dir / "mosquitto.pid")
    time.sleep(0.3)
    for s in specs:
        pub = DevicePublisher(broker_up, s.username, s.password)
        pub.publish(f"qf/v1/{s.device_id}/status", {"v": 1, "state": "offline"}, retain=True)
        pub.close()
    assert _retained(broker_up, settings, f"qf/v1/{specs[0].device_id}/status") is not None
    assert forget_retained_status(settings, specs) == 2
    for s in specs:
        assert _retained(broker_up, settings, f"qf/v1/{s.device_id}/status") is None
