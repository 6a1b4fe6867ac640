"""Small helpers shared by integration tests: a device's MQTT publisher and polling for a condition."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

import paho.mqtt.client as mqtt
import psycopg
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from core.mqtt import BrokerAddress
from quietfix.seed import DEMO_PASSWORD

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout_s: float = 20.0, interval_s: float = 0.1) -> T:
    """Poll until ``check`` returns something truthy; fail with the last value after the timeout."""
    deadline = time.monotonic() + timeout_s
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval_s)
        value = check()
    assert value, f"condition not met within {timeout_s} s (last value {value!r})"
    return value


class DevicePublisher:
    """A bare MQTT 5 device for tests: publishes exactly what it is told, QoS 1, and waits for PUBACK."""

    def __init__(self, address: BrokerAddress, username: str, password: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{username}", protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        self.client.connect(address.host, address.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | dict, retain: bool = False) -> None:
        data = json.dumps(payload).encode() if isinstance(payload, dict) else payload
        info = self.client.publish(topic, data, qos=1, retain=retain)
        info.wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def open_work_order(conn: psycopg.Connection, device_id: str, skills: list[str], at: datetime,
                    onsite_h: float = 2.0) -> int:
    """An incident in status work_order and its open work order at the device's site, as diagnostics writes them."""
    customer_id, lat, lon = conn.execute("SELECT customer_id, lat, lon FROM devices WHERE id = %s",
                                         (device_id,)).fetchone()
    onsite_due = at + timedelta(hours=onsite_h)
    incident = conn.execute(
        "INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, summary, "
        "opened_at, response_due, onsite_due, repair_due) VALUES (%s, %s, 'bearing_wear', 'test', 2, "
        "'work_order', 'test', %s, %s, %s, %s) RETURNING id",
        (device_id, customer_id, at, at, onsite_due, at + timedelta(hours=24))).fetchone()[0]
    return conn.execute(
        "INSERT INTO work_orders (incident_id, device_id, customer_id, required_skills, lat, lon, created_at, "
        "onsite_due) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (incident, device_id, customer_id, skills, lat, lon, at, onsite_due)).fetchone()[0]


def login(client: TestClient, user: str) -> dict[str, str]:
    """Bearer headers of a seeded demo user (``seed(..., users=True)``), signed in through the API itself."""
    r = client.post("/api/auth/token", json={"username": user, "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
