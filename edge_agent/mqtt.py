"""The only module that touches paho: one MQTT 5 connection per device, driven by an external loop.

No paho network thread: a fleet drives thousands of these from a few threads through paho's socket callbacks
(on_socket_open/close/register_write) and loop_read/loop_write/loop_misc. Each device keeps its own TCP
connection, client id and credentials, exactly like real equipment.
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.models import DeviceSpec
from edge_agent.payload import encode_status, topic

log = logging.getLogger(__name__)

QOS = 1  # at-least-once: the server dedups on (device_id, seq), so duplicates are harmless and loss is not
KEEPALIVE_S = 30  # detect a dead broker/NAT path within ~45 s (1.5x) without flooding a big fleet with pings
RECONNECT_MIN_S = 1.0  # first retry soon: most outages are a broker restart of a few seconds
RECONNECT_MAX_S = (
    30.0  # cap: a fleet of thousands must not hammer a recovering broker, yet recovers in < 30 s
)
CONNECT_TIMEOUT_S = 5.0  # TCP/TLS connect; a LAN broker answers in milliseconds, 5 s covers a slow uplink
EXTRA_INFLIGHT = 4  # paho in-flight slots beyond the telemetry window, for status and cmd results


class Listener(Protocol):
    """What the connection reports to the agent (all calls come from the driving thread)."""

    def on_connected(self) -> None: ...
    def on_disconnected(self) -> None: ...
    def on_acked(self, mid: int) -> None: ...
    def on_message(self, topic: str, payload: bytes) -> None: ...


class Transport(Protocol):
    """What the agent needs from a connection; tests substitute a fake."""

    @property
    def connected(self) -> bool: ...
    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None: ...
    def subscribe(self, topic: str) -> None: ...


class SocketHooks(Protocol):
    """The external event loop (``edge_agent.runner.Worker``) that owns the sockets."""

    def socket_open(self, conn: MqttConnection, sock: Any) -> None: ...
    def socket_close(self, conn: MqttConnection, sock: Any) -> None: ...
    def want_write(self, conn: MqttConnection, sock: Any, on: bool) -> None: ...


class MqttConnection:
    """One device's paho client with back-off reconnect and a bounded paho in-flight queue."""

    def __init__(
        self,
        spec: DeviceSpec,
        host: str,
        port: int,
        listener: Listener,
        hooks: SocketHooks,
        *,
        inflight: int,
        tls_ca: str | None = None,
        tls: bool = False,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> None:
        """TLS when ``tls_ca`` is given (that CA) or ``tls`` (the system's CAs); ``tls_cert``/``tls_key`` add a
        client certificate for brokers that require one."""
        self.spec, self.host, self.port = spec, host, port
        self.listener = listener
        self._rng = random.Random(
            spec.device_id
        )  # jitter differs per device so a fleet does not reconnect in step
        self._failures = 0
        self._next_attempt = 0.0
        self._ever_connected = False
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=spec.device_id, protocol=paho.MQTTv5)
        c.username_pw_set(spec.username, spec.password)
        c.connect_timeout = CONNECT_TIMEOUT_S
        if tls_ca or tls:
            c.tls_set(ca_certs=tls_ca or None, certfile=tls_cert or None, keyfile=tls_key or None,
                      cert_reqs=ssl.CERT_REQUIRED)
        c.will_set(topic(spec.device_id, "status"), encode_status("offline"), qos=QOS, retain=True)
        c.max_inflight_messages_set(inflight + EXTRA_INFLIGHT)
        c.max_queued_messages_set(inflight + EXTRA_INFLIGHT)  # the agent never queues more; a hard safety net
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        c.on_socket_open = lambda _c, _u, sock: hooks.socket_open(self, sock)
        c.on_socket_close = lambda _c, _u, sock: hooks.socket_close(self, sock)
        c.on_socket_register_write = lambda _c, _u, sock: hooks.want_write(self, sock, True)
        c.on_socket_unregister_write = lambda _c, _u, sock: hooks.want_write(self, sock, False)
        self.client = c
        self._connected = False

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def connect_failures(self) -> int:
        """Consecutive failed attempts (drives the back-off); 0 after a successful CONNACK."""
        return self._failures

    def maybe_connect(self, now_mono: float) -> None:
        """Start a connection attempt if there is no socket and the back-off has elapsed."""
        if self.client.socket() is not None or now_mono < self._next_attempt:
            return
        try:
            if self._ever_connected:
                self.client.reconnect()
            else:
                self.client.connect(self.host, self.port, keepalive=KEEPALIVE_S, clean_start=True)
                self._ever_connected = True
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            self._schedule_retry(now_mono)
            log.debug(
                "%s: connect failed: %s",
                self.spec.device_id,
                exc,
                extra={"device_id": self.spec.device_id, "error": str(exc)},
            )
            return
        self._next_attempt = now_mono + RECONNECT_MIN_S  # a socket without CONNACK is retried after this

    def _schedule_retry(self, now_mono: float) -> None:
        self._failures += 1
        delay = min(RECONNECT_MAX_S, RECONNECT_MIN_S * 2 ** min(self._failures, 16))
        self._next_attempt = now_mono + delay * self._rng.uniform(0.5, 1.0)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None:
        info = self.client.publish(topic, payload, qos=QOS, retain=retain)
        if info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            return int(info.mid)  # paho keeps QoS 1 messages and resends them after a reconnect
        log.warning(
            "%s: publish refused by paho (rc %s)",
            self.spec.device_id,
            info.rc,
            extra={"device_id": self.spec.device_id, "rc": int(info.rc)},
        )
        return None

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=QOS)

    def loop_read(self) -> None:
        self.client.loop_read()

    def loop_write(self) -> None:
        self.client.loop_write()

    def loop_misc(self) -> None:
        self.client.loop_misc()

    def disconnect(self) -> None:
        self.client.disconnect()

    def kill_socket(self) -> None:
        """Tests: cut TCP without an MQTT DISCONNECT, as a power loss would (fires the will)."""
        sock = self.client.socket()
        if isinstance(sock, socket.socket):  # also covers ssl.SSLSocket
            sock.shutdown(socket.SHUT_RDWR)

    def _on_connect(self, _c: paho.Client, _u: Any, _flags: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            log.warning(
                "%s: connection refused: %s",
                self.spec.device_id,
                reason,
                extra={"device_id": self.spec.device_id, "reason": str(reason)},
            )
            return
        self._failures = 0
        self._connected = True
        self._guard(self.listener.on_connected)

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        was = self._connected
        self._connected = False
        self._schedule_retry(time.monotonic())
        if was:
            log.info(
                "%s disconnected: %s",
                self.spec.device_id,
                reason,
                extra={"device_id": self.spec.device_id, "reason": str(reason)},
            )
            self._guard(self.listener.on_disconnected)

    def _on_publish(self, _c: paho.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        self._guard(self.listener.on_acked, mid)

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        self._guard(self.listener.on_message, msg.topic, bytes(msg.payload))

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        """A handler's exception is logged and never kills the connection (or the worker driving hundreds)."""
        try:
            fn(*args)
        except Exception:
            log.exception(
                "%s: handler %s failed",
                self.spec.device_id,
                getattr(fn, "__name__", fn),
                extra={"device_id": self.spec.device_id},
            )
