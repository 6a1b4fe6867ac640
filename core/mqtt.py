"""The server side's one paho adapter: MQTT 5, persistent sessions, manual acknowledgement.

Domain code never sees paho: it gets frozen :class:`InboundMessage` objects and acknowledges them with
:meth:`ServerMqtt.ack` once their effects are committed. A handler that raises is logged and the client lives on.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)

# Keep-alive: the broker declares us dead after 1.5x this; 30 s notices a dead worker quickly yet costs nothing.
KEEPALIVE_S = 30
# Reconnect back-off: start fast (a broker restart takes ~1 s) and cap at 30 s so an outage is not hammered.
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
# Session survives a worker restart for a day: what arrives while it is down waits in the broker for it.
SESSION_EXPIRY_S = 24 * 3600
# How many unacknowledged messages the broker may push to us (MQTT 5 Receive Maximum). It must exceed one COPY
# batch, or the broker would stall waiting for acks we hold until the batch commits.
RECEIVE_MAXIMUM = 4000
# One socket read serves many packets: paho reads a packet's first byte, its length bytes and its body with separate
# recv calls and goes back to select() after each packet (4+ syscalls per message, the largest single share of a
# small message's ingest cost). 256 KiB holds thousands of small PUBLISH packets and one maximum-size payload.
RECV_CHUNK = 256 * 1024
# MQTT 5 PUBACK with reason Success and no properties: fixed header 0x40, remaining length 2, packet id.
_PUBACK = struct.Struct(">BBH")
_PUBACK_TYPE = 0x40
_U16 = struct.Struct(">H")
# The "command" under which batched raw packets are queued in paho: any value that is neither PUBLISH (paho would
# then expect a MQTTMessageInfo to mark as published) nor DISCONNECT (it would then close the socket) works.
_RAW_BLOCK = 0x00


class BufferedClient(mqtt.Client):
    """paho's client with buffered socket reads and batched raw writes (see RECV_CHUNK, ``queue_raw``).

    Used by :class:`ServerMqtt`, and by benchmarks that publish for a whole fleet over one connection.

    Only paho's socket access is replaced: packet parsing, sessions, keep-alive and reconnects stay paho's own.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._qf_buf = b""
        self._qf_pos = 0
        # Set by ServerMqtt: QoS 0/1 PUBLISH packets go straight to it as InboundMessages (see _handle_publish).
        self.qf_on_publish: Callable[[InboundMessage], None] | None = None

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        """QoS 0/1 PUBLISH decoded straight into an :class:`InboundMessage`.

        paho builds a Properties object (parsing every property in Python), an MQTTMessage and a topic match per
        message; that was a third of a small message's ingest CPU. We never ask the broker for topic aliases
        (no Topic Alias Maximum in CONNECT), so no property changes what a message means to us and they are
        skipped by length. QoS 2, and anything unusual or malformed, goes to paho's own handler.
        """
        handler = self.qf_on_publish
        header = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if handler is None or qos == 2:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        try:
            pos = 2 + ((packet[0] << 8) | packet[1])
            topic = packet[2:pos].decode()
            mid = 0
            if qos:
                mid = (packet[pos] << 8) | packet[pos + 1]
                pos += 2
            length = shift = 0
            while True:  # MQTT 5 property length: a variable byte integer
                byte = packet[pos]
                pos += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    break
                shift += 7
            pos += length
            if not topic or pos > len(packet):
                return super()._handle_publish()
        except (IndexError, UnicodeDecodeError):
            return super()._handle_publish()
        handler(InboundMessage(topic, bytes(memoryview(packet)[pos:]), mid, qos, bool(header & 0x01)))
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _packet_read(self) -> mqtt.MQTTErrorCode:
        """A packet wholly in the buffer is cut out and handled at once; anything else (a packet split across
        reads, an empty buffer) takes paho's byte-by-byte path, which then reads through ``_sock_recv``."""
        if self._in_packet["command"] == 0:
            buf, start = self._qf_buf, self._qf_pos
            end = len(buf)
            i, length, shift = start + 1, 0, 0
            while i < end and shift <= 21:  # remaining length: at most 4 bytes of 7 bits
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    if i + length <= end:
                        return self._handle_whole(buf[start], buf[i:i + length], i + length)
                    break
                shift += 7
        return super()._packet_read()

    def _handle_whole(self, command: int, packet: bytes, next_pos: int) -> mqtt.MQTTErrorCode:
        self._qf_pos = next_pos
        # paho types the body as the bytearray its own reader grows; its handlers only read it, so the slice of
        # our buffer is handed over as it is rather than copied once more.
        self._in_packet = {"command": command, "have_remaining": 1, "remaining_count": [], "remaining_mult": 1,
                           "remaining_length": len(packet), "packet": packet,  # type: ignore[typeddict-item]
                           "to_process": 0, "pos": 0}
        try:
            rc = self._packet_handle()
        except MalformedPacket as exc:
            log.debug("malformed MQTT packet: %s", exc)
            rc = mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
        self._in_packet = {"command": 0, "have_remaining": 0, "remaining_count": [], "remaining_mult": 1,
                           "remaining_length": 0, "packet": bytearray(b""), "to_process": 0, "pos": 0}
        with self._msgtime_mutex:
            self._last_bytes_received = mqtt.time_func()
        return rc

    def _sock_recv(self, bufsize: int) -> bytes:
        buf, pos = self._qf_buf, self._qf_pos
        if pos >= len(buf):
            buf = super()._sock_recv(max(bufsize, RECV_CHUNK))  # BlockingIOError when the socket has nothing
            if not buf:
                return buf  # connection closed
            self._qf_buf, pos = buf, 0
        end = min(pos + bufsize, len(buf))
        self._qf_pos = end
        return buf[pos:end]

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        """Handle every packet already read into the buffer, not one packet per select()."""
        rc = super().loop_read(max_packets)
        while rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS and self._sock is not None and self._qf_pos < len(
                self._qf_buf):
            rc = super().loop_read(max_packets)
        return rc

    def reconnect(self) -> mqtt.MQTTErrorCode:
        self._qf_buf, self._qf_pos = b"", 0  # bytes of the old connection never reach the new one's parser
        return super().reconnect()

    def queue_raw(self, data: bytes) -> None:
        """Queue already-encoded packets as one socket write (paho queues, and wakes its loop, once per packet).

        Dropped when not connected, like paho drops QoS 0 publishes and its acks then (the broker redelivers
        unacknowledged messages on the next connection; devices resend what was never acknowledged to them).
        """
        if self._sock is None:
            return
        self._packet_queue(_RAW_BLOCK, data, 0, 0)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _publish_qos0(topic: bytes, payload: bytes) -> bytes:
    """An MQTT 5 PUBLISH packet, QoS 0, no retain, no properties (property length 0)."""
    body = _U16.pack(len(topic)) + topic + b"\x00" + payload
    return b"\x30" + _varint(len(body)) + body


@dataclass(frozen=True, slots=True)
class InboundMessage:
    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> BrokerAddress:
        parsed = urlparse(url)
        tls = parsed.scheme in ("mqtts", "ssl")
        return cls(parsed.hostname or "127.0.0.1", parsed.port or (8883 if tls else 1883), tls)


class ServerMqtt:
    def __init__(self, url: str, client_id: str, *, username: str | None, password: str | None,
                 subscriptions: Sequence[tuple[str, int]], on_message: Callable[[InboundMessage], None],
                 manual_ack: bool = True, persistent: bool = True, ca_file: str | None = None,
                 session_expiry_s: int = SESSION_EXPIRY_S) -> None:
        self.address = BrokerAddress.from_url(url)
        self._subscriptions = list(subscriptions)
        self._on_message = on_message
        self._persistent = persistent
        self._session_expiry_s = session_expiry_s
        self.connected = threading.Event()
        self._client = BufferedClient(CallbackAPIVersion.VERSION2, client_id=client_id,
                                       protocol=mqtt.MQTTv5, manual_ack=manual_ack)
        if username:
            self._client.username_pw_set(username, password)
        if self.address.tls:
            self._client.tls_set(ca_certs=ca_file)
        self._client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_message = self._handle_message
        self._client.on_subscribe = self._handle_subscribe
        self._client.qf_on_publish = self._deliver

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._session_expiry_s if self._persistent else 0
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self._client.connect_async(self.address.host, self.address.port, keepalive=KEEPALIVE_S,
                                   clean_start=not self._persistent, properties=props)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def ack(self, message: InboundMessage) -> None:
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    def ack_many(self, messages: Sequence[InboundMessage]) -> None:
        """:meth:`ack` for many messages in one socket write (QoS 1: raw PUBACKs; QoS 2 goes through paho)."""
        block = b"".join([_PUBACK.pack(_PUBACK_TYPE, 2, m.mid) for m in messages if m.qos == 1])
        if block:
            self._client.queue_raw(block)
        for m in messages:
            if m.qos == 2:
                self._client.ack(m.mid, m.qos)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self._client.publish(topic, payload, qos=qos, retain=retain)

    def publish_many_qos0(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Publish (topic, payload)s at QoS 0 in one socket write: no packet ids, no PUBACKs to track.

        For messages whose loss the receiver repairs itself (the end-to-end acks: a device resends what it was
        never acknowledged, and the resend is acknowledged again)."""
        parts = []
        for topic, payload in messages:
            name = topic.encode()
            parts.append(_publish_qos0(name, payload))
        if parts:
            self._client.queue_raw(b"".join(parts))

    def _handle_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                        properties: object) -> None:
        if getattr(reason, "is_failure", False):
            log.error("mqtt connect refused", extra={"reason": str(reason)})
            return
        if not self._subscriptions:
            self.connected.set()
        else:
            # "connected" means subscribed: set once the broker's SUBACK arrives, so nothing published after
            # start-up can be missed by a caller that waited for it.
            client.subscribe([(topic, qos) for topic, qos in self._subscriptions])
        log.info("mqtt connected", extra={"host": self.address.host, "port": self.address.port})

    def _handle_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reason_codes: list,
                          properties: object) -> None:
        failed = [str(rc) for rc in reason_codes if getattr(rc, "is_failure", False)]
        if failed:
            log.error("mqtt subscription refused", extra={"reasons": failed})
            return
        self.connected.set()

    def _handle_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                           properties: object) -> None:
        self.connected.clear()
        log.warning("mqtt disconnected", extra={"reason": str(reason)})

    def _handle_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._deliver(InboundMessage(msg.topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.retain)))

    def _deliver(self, message: InboundMessage) -> None:
        try:
            self._on_message(message)
        except Exception:  # a handler bug must never kill the network loop
            log.exception("mqtt message handler failed", extra={"topic": message.topic})
