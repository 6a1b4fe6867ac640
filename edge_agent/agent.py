"""Edge agent: samples equipment on the injected clock, batches, buffers on disk, publishes with QoS 1.

Delivery rule: a batch (or event) is written to the disk buffer (with its seq) *before* it is published, and
deleted only when it is acknowledged **end to end**: ingest publishes ``qf/v1/{id}/ack`` with the seqs whose rows
are committed. A broker PUBACK only frees the MQTT in-flight slot (the window that paces sending), because a
broker can still lose an accepted message (Mosquitto 2.0 drops a shared subscription's queue on restart).
Unacked batches are resent, oldest first, when their ack is ``ack_timeout_s`` (wall time) overdue and after
every reconnect; after a restart the whole buffer is replayed. The server dedups the resulting duplicates on
(device_id, seq) and acks them again. Missing acks never stop new data: sending is paced by PUBACKs only, and
the unacked batches wait in the (bounded) buffer.

With ``server_ack=False`` (a broker without ingest, e.g. a bare simulator run) the PUBACK deletes the batch, as
before the end-to-end ack existed.

The agent is single-threaded by design: the thread that drives its connection also calls ``tick``, so there are
no races between publish and acknowledgement.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edge_agent.alarms import AlarmMonitor
from edge_agent.buffer import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, DiskBuffer
from edge_agent.commands import CommandGate
from edge_agent.models import DeviceSpec, FaultLabel
from edge_agent.mqtt import Transport
from edge_agent.payload import (
    MAX_READINGS_PER_MESSAGE,
    decode_ack,
    decode_command,
    encode_batch,
    encode_cmd_result,
    encode_event,
    encode_status,
    topic,
)
from edge_agent.simulator import ALARM_LIMITS, Equipment

log = logging.getLogger(__name__)

MIN_SAMPLE_INTERVAL_S = 0.01  # set_interval lower bound: 100 Hz is beyond any process signal we simulate
MAX_SAMPLE_INTERVAL_S = 3600.0  # set_interval upper bound: slower than hourly is not monitoring any more
# While no end-to-end ack arrives at all (ingest down, or an old broker ACL without qf/v1/%u/ack), the ack timeout
# doubles per silent round up to this, so a device does not resend its whole buffer every ack_timeout_s.
MAX_ACK_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class AgentConfig:
    sample_interval_s: float = 1.0  # clock seconds between samples
    batch_interval_s: float = 1.0  # clock seconds a batch may span before it is closed
    max_samples_per_batch: int = 100  # 100 x 5 signals ~ 10 kB of JSON: well inside the 256 KiB limit
    inflight_window: int = 20  # unacknowledged telemetry messages per device; enough to fill a LAN round trip
    # Wait for ingest's end-to-end ack (qf/v1/{id}/ack) before deleting a batch; False = broker PUBACK suffices.
    server_ack: bool = True
    # Wall seconds an unacked batch waits before it is resent. Ingest commits within a second when healthy; 30 s
    # keeps a slow database from causing resend storms, yet bounds the delay after a broker lost messages.
    ack_timeout_s: float = 30.0
    # Local alarm / running-state events on qf/v1/{id}/event (see alarms.py).
    events: bool = True
    max_buffer_rows: int = DEFAULT_MAX_ROWS
    max_buffer_bytes: int = DEFAULT_MAX_BYTES
    fault_rate_per_device_hour: float = 0.0
    fault_modes: tuple[str, ...] | None = None


class Agent:
    """One device. Call ``attach`` with its transport, then ``tick`` regularly from the driving thread."""

    def __init__(
        self,
        spec: DeviceSpec,
        equipment: Equipment,
        buffer: DiskBuffer,
        clock: Callable[[], float],
        config: AgentConfig = AgentConfig(),
        on_fault: Callable[[FaultLabel], None] | None = None,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        """``wall`` measures ack timeouts: network time, not the (possibly 60x) simulated ``clock``."""
        self.spec, self.equipment, self.buffer, self.clock = spec, equipment, buffer, clock
        self.wall = wall
        self.config = config
        self.sample_interval_s = config.sample_interval_s
        self._on_fault = on_fault
        self.transport: Transport | None = None
        self.lock = threading.Lock()  # guards the equipment against inject_fault from other threads
        self._inflight: dict[int, int] = {}  # paho mid -> seq, until the broker's PUBACK
        # seq -> wall deadline of its end-to-end ack (server_ack only); insertion order = deadline order
        self._waiting: dict[int, float] = {}
        self._ack_timeout = config.ack_timeout_s  # current timeout: backs off while no ack arrives at all
        self._acked_since_expiry = False
        self._resend: list[int] = []  # heap of seqs to send again, oldest first
        self._sent_upto = -1  # highest seq handed to the transport (new batches continue after it)
        self._samples: list[tuple[int, Mapping[str, float]]] = []
        self._batch_start = 0.0
        self._next_t: float | None = None
        self._fault_t = 0.0  # random faults are drawn over (previous tick, now] of clock time
        self._max_samples = max(
            1, min(config.max_samples_per_batch, MAX_READINGS_PER_MESSAGE // len(equipment.nominal))
        )
        self.published_messages = 0
        self.published_readings = 0
        self.acked_messages = 0  # batches/events deleted from the buffer after their acknowledgement
        self.resent_messages = 0  # re-sends after an ack timeout or a reconnect (duplicates the server drops)
        self.events_emitted = 0
        self.alarms = self._alarm_monitor() if config.events else None
        self.gate = CommandGate(
            {
                "ping": self._cmd_ping,
                "snapshot": self._cmd_snapshot,
                "set_interval": self._cmd_set_interval,
                "reset": self._cmd_reset,
            }
        )

    def _alarm_monitor(self) -> AlarmMonitor:
        """The simulated types' limits; a gateway agent takes them from its signal mapping instead."""
        return AlarmMonitor(ALARM_LIMITS[self.equipment.equipment_type], self.equipment.nominal)

    @property
    def device_id(self) -> str:
        return self.spec.device_id

    def attach(self, transport: Transport) -> None:
        self.transport = transport

    # ---- sampling and batching -------------------------------------------------------------------------
    def tick(self) -> None:
        """Produce every sample due up to now, close due batches, publish."""
        self.produce()
        self.pump()

    def produce(self) -> None:
        """Sample everything due up to now (catch-up for a fast clock) and buffer the batches that are due.

        Separate from ``pump`` so a driver can commit a whole round of buffered batches before any of them
        is published: a batch must be durable (with its seq) before it can be acknowledged.
        """
        now = self.clock()
        if self._next_t is None:
            self._next_t = self._fault_t = now
        with self.lock:
            prev, self._fault_t = self._fault_t, max(self._fault_t, now)
            while self._next_t <= now:
                t = self._next_t
                if self._samples and t - self._batch_start >= self.config.batch_interval_s:
                    self._close_batch()
                if not self._samples:
                    self._batch_start = t
                values = self.equipment.sample(t)
                self._samples.append((round(t * 1000), values))
                if self.alarms is not None:
                    for kind, data in self.alarms.update(values):
                        self._emit_event(t, kind, data)
                if len(self._samples) >= self._max_samples:
                    self._close_batch()
                self._next_t = t + self.sample_interval_s
            if self.config.fault_rate_per_device_hour > 0 and now > prev:
                label = self.equipment.maybe_random_fault(
                    prev, now, self.config.fault_rate_per_device_hour, self.config.fault_modes
                )
                if label is not None and self._on_fault:
                    self._on_fault(label)
        if self._samples and now - self._batch_start >= self.config.batch_interval_s:
            self._close_batch()

    def flush(self) -> None:
        """Close the open batch now (on stop), so every sample taken is in the durable buffer."""
        if self._samples:
            self._close_batch()

    def _close_batch(self) -> None:
        samples, self._samples = self._samples, []
        dropped = self.buffer.dropped
        self.buffer.append(lambda seq: encode_batch(self.device_id, seq, samples))
        self.published_readings += sum(len(m) for _, m in samples)
        if self.config.events and self.buffer.dropped > dropped:
            self._emit_event(samples[-1][0] / 1000, "buffer_overflow", {"dropped_total": self.buffer.dropped})

    def _emit_event(self, t: float, kind: str, data: Mapping[str, Any]) -> None:
        """Buffer an event like a batch: same seq counter, same durability and acknowledgement.

        The open telemetry batch is closed first, so the event's seq follows the readings that led to it.
        """
        if self._samples:
            self._close_batch()
        self.buffer.append(lambda seq: encode_event(seq, round(t * 1000), kind, data), leaf="event")
        self.events_emitted += 1
        log.info(
            "%s event %s",
            self.device_id,
            kind,
            extra={"device_id": self.device_id, "event": kind, **{f"event_{k}": v for k, v in data.items()}},
        )

    # ---- delivery ---------------------------------------------------------------------------------------
    def pump(self) -> None:
        """Hand buffered batches to the transport while the in-flight (PUBACK) window has room: overdue resends
        first, then new batches, both oldest first."""
        tr = self.transport
        if tr is None or not tr.connected:
            return
        if self.config.server_ack:
            self._expire()
        room = self.config.inflight_window - len(self._inflight)
        if room <= 0:
            return
        while self._resend and room > 0:
            take = [heapq.heappop(self._resend) for _ in range(min(room, len(self._resend)))]
            rows = self.buffer.get(sorted(set(take)))  # acked or dropped meanwhile: nothing to resend
            for i, (seq, payload, leaf) in enumerate(rows):
                if not self._send(seq, payload, leaf):
                    for later, _, _ in rows[i:]:
                        heapq.heappush(self._resend, later)
                    return
                self.resent_messages += 1
                room -= 1
        if room <= 0 or self._sent_upto >= self.buffer.next_seq - 1:
            return  # no room, or nothing newer than what was sent: skip the query (pump runs on every ack)
        for seq, payload, leaf in self.buffer.pending(self._sent_upto, room):
            if not self._send(seq, payload, leaf):
                break
            self._sent_upto = seq

    def _send(self, seq: int, payload: bytes, leaf: str) -> bool:
        assert self.transport is not None
        mid = self.transport.publish(topic(self.device_id, leaf), payload)
        if mid is None:
            return False
        self._inflight[mid] = seq
        if self.config.server_ack:
            self._waiting.pop(seq, None)  # re-insert at the end: deadlines stay in insertion order
            self._waiting[seq] = self.wall() + self._ack_timeout
        self.published_messages += 1
        return True

    def _expire(self) -> None:
        """Batches whose end-to-end ack is overdue go back to the resend queue (cost: the overdue ones only)."""
        if not self._waiting:
            return
        now = self.wall()
        late = []
        for seq, deadline in self._waiting.items():
            if deadline > now:
                break
            late.append(seq)
        if not late:
            return
        for seq in late:
            del self._waiting[seq]
            heapq.heappush(self._resend, seq)
        if not self._acked_since_expiry and self._ack_timeout < MAX_ACK_TIMEOUT_S:
            self._ack_timeout = min(MAX_ACK_TIMEOUT_S, self._ack_timeout * 2)
            if self._ack_timeout >= MAX_ACK_TIMEOUT_S:
                log.warning(
                    "%s: no end-to-end ack for a long time; is ingest running and may the device read "
                    "its ack topic?",
                    self.device_id,
                    extra={"device_id": self.device_id, "buffered": self.buffer.rows},
                )
        self._acked_since_expiry = False
        log.info(
            "%s: %d batches unacknowledged in time, resending",
            self.device_id,
            len(late),
            extra={"device_id": self.device_id, "resend": len(late), "oldest_seq": min(late)},
        )

    def on_connected(self) -> None:
        """(Re)connected: announce online, subscribe to commands and acks, replay what is unacknowledged.

        Batches without a PUBACK at the disconnect are resent by paho itself (same mid). With server acks, the
        ones the broker had PUBACKed but ingest never acked are resent too: the broker may have lost them (a
        restart), and the duplicates are harmless. Without server acks replay continues after paho's resends.
        """
        assert self.transport is not None
        self.transport.publish(
            topic(self.device_id, "status"), encode_status("online", self._now_ms()), retain=True
        )
        self.transport.subscribe(topic(self.device_id, "cmd"))
        if self.config.server_ack:
            self.transport.subscribe(topic(self.device_id, "ack"))
            with_paho = set(self._inflight.values())
            for seq in [s for s in self._waiting if s not in with_paho]:
                del self._waiting[seq]
                heapq.heappush(self._resend, seq)
        else:
            self._sent_upto = max(self._inflight.values(), default=-1)
        log.info(
            "%s connected, %d batches buffered",
            self.device_id,
            self.buffer.rows,
            extra={"device_id": self.device_id, "buffered": self.buffer.rows},
        )
        self.pump()

    def announce_offline(self) -> None:
        if self.transport is not None and self.transport.connected:
            self.transport.publish(
                topic(self.device_id, "status"), encode_status("offline", self._now_ms()), retain=True
            )

    def on_disconnected(self) -> None:
        log.info(
            "%s offline, buffering",
            self.device_id,
            extra={"device_id": self.device_id, "buffered": self.buffer.rows},
        )

    def on_acked(self, mid: int) -> None:
        """The broker's PUBACK. It deletes the batch only without server acks; it always frees a paho slot."""
        seq = self._inflight.pop(mid, None)
        if seq is None:
            return  # status or cmd result
        if not self.config.server_ack and self.buffer.ack(seq):
            self.acked_messages += 1
        self.pump()

    def on_server_ack(self, seqs: list[int]) -> None:
        """Ingest committed these seqs: delete them from the disk buffer; acks work, so no back-off."""
        for seq in seqs:
            self._waiting.pop(seq, None)
            if self.buffer.ack(seq):
                self.acked_messages += 1
        self._acked_since_expiry = True
        self._ack_timeout = self.config.ack_timeout_s
        self.pump()

    def on_message(self, topic_: str, payload: bytes) -> None:
        if topic_.endswith("/ack"):
            try:
                seqs = decode_ack(payload)
            except ValueError as exc:
                log.warning(
                    "%s: bad ack payload: %s",
                    self.device_id,
                    exc,
                    extra={"device_id": self.device_id, "error": str(exc)},
                )
                return
            self.on_server_ack(seqs)
            return
        try:
            cmd = decode_command(payload)
        except ValueError as exc:
            log.warning(
                "%s: bad command payload: %s",
                self.device_id,
                exc,
                extra={"device_id": self.device_id, "error": str(exc)},
            )
            return
        res = self.gate.handle(cmd, self._now_ms())
        if res is not None and self.transport is not None:
            self.transport.publish(
                topic(self.device_id, "cmd/result"), encode_cmd_result(res, self._now_ms())
            )

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def _now_ms(self) -> int:
        return round(self.clock() * 1000)

    # ---- commands -----------------------------------------------------------------------------------------
    def _cmd_ping(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        return {"pong": True}

    def _cmd_snapshot(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            faults = [{"mode": f.mode, "onset_s": f.onset_s} for f in self.equipment.active_faults]
            signals = dict(self.equipment.last)
        return {
            "equipment_type": self.equipment.equipment_type,
            "signals": signals,
            "active_faults": faults,
            "sample_interval_s": self.sample_interval_s,
            "buffered": self.buffer.rows,
            "dropped": self.buffer.dropped,
            "next_seq": self.buffer.next_seq,
            "connected": bool(self.transport and self.transport.connected),
        }

    def _cmd_set_interval(self, args: Mapping[str, Any]) -> dict[str, Any]:
        value = float(args["interval_s"])
        if not MIN_SAMPLE_INTERVAL_S <= value <= MAX_SAMPLE_INTERVAL_S:
            raise ValueError(f"interval_s must be within [{MIN_SAMPLE_INTERVAL_S}, {MAX_SAMPLE_INTERVAL_S}]")
        old, self.sample_interval_s = self.sample_interval_s, value
        if self.config.events:
            self._emit_event(self.clock(), "config_changed", {"sample_interval_s": value, "previous_s": old})
        return {"interval_s": value, "previous_s": old}

    def _cmd_reset(self, args: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            cleared = self.equipment.reset()
        return {"subsystem": str(args.get("subsystem", "all")), "cleared": [f.mode for f in cleared]}
