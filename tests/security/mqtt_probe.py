"""A bare MQTT 5 client for access-control tests: records CONNACK, SUBACK and PUBACK codes and what arrives."""

from __future__ import annotations

import ssl
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

# Ample for a loopback broker; only reached when something is broken.
WAIT_S = 5.0


class Probe:
    def __init__(self, port: int, username: str | None, password: str | None, *, ca_file: Path | None = None,
                 client_id: str | None = None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"probe-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.connack: int | None = None
        self.disconnected = threading.Event()
        self.suback: list[int] = []
        self.messages: list[tuple[str, bytes]] = []
        self._suback_event = threading.Event()
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *a: self.disconnected.set()
        self._connected = threading.Event()
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        self._connected.wait(WAIT_S)

    def _on_connect(self, c: mqtt.Client, u: object, f: object, reason: object, p: object) -> None:
        self.connack = int(getattr(reason, "value", 255))
        self._connected.set()

    def _on_subscribe(self, c: mqtt.Client, u: object, mid: int, codes: list, p: object) -> None:
        self.suback = [int(rc.value) for rc in codes]
        self._suback_event.set()

    def _on_message(self, c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    @property
    def accepted(self) -> bool:
        return self.connack == 0

    def subscribe(self, topic: str) -> list[int]:
        self._suback_event.clear()
        self.client.subscribe(topic, qos=1)
        assert self._suback_event.wait(WAIT_S), "no SUBACK"
        return self.suback

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish at QoS 1 and wait for the PUBACK; returns its reason code (0 = accepted)."""
        codes: list[int] = []
        done = threading.Event()

        def on_publish(c: mqtt.Client, u: object, mid: int, reason: object, p: object) -> None:
            codes.append(int(getattr(reason, "value", 0)))
            done.set()

        self.client.on_publish = on_publish
        self.client.publish(topic, payload, qos=1)
        assert done.wait(WAIT_S), "no PUBACK"
        return codes[0]

    def received(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, payload: bytes) -> list[tuple[str, bytes]]:
        """Wait until ``payload`` arrived (a marker sent after what is under test); returns all received."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            got = self.received()
            if any(p == payload for _, p in got):
                return got
            time.sleep(0.02)
        raise AssertionError(f"marker {payload!r} never arrived; got {self.received()!r}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def wait_for_containing(self, fragment: bytes) -> list[tuple[str, bytes]]:
        """Wait until a payload containing ``fragment`` arrived; returns all received."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            got = self.received()
            if any(fragment in p for _, p in got):
                return got
            time.sleep(0.02)
        raise AssertionError(f"no payload with {fragment!r}; got {self.received()!r}")
