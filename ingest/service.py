"""The ingest worker: MQTT messages in, committed rows out, acknowledgement last.

A message is acknowledged to the broker only after the transaction holding its rows (or its dead letter) has
committed. If the database is down the batch is retried with back-off and nothing is acknowledged, so the broker
keeps every message (persistent session) until it can be stored. Redelivery is harmless: (device, seq) is
claimed once in the same transaction as the COPY.

After the commit the worker also acknowledges end to end: one ``qf/v1/{device}/ack`` message per device and
flush lists the seqs (telemetry batches and events, new or already stored) that are now durable. The edge agent
keeps each batch on its disk until that ack arrives, so a message the broker loses (e.g. Mosquitto 2.0 dropping
a shared subscription's queue on restart) is resent by the device instead of lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg

from core import metrics
from core.clock import Clock, to_datetime
from core.commands import consume_result_message
from core.contracts import (
    EventMessage,
    PayloadError,
    TelemetryBatch,
    decode_event,
    decode_status,
    decode_telemetry,
    encode_acks,
    parse_topic,
    peek_seq,
    topic,
)
from core.mqtt import InboundMessage
from core.settings import IngestSettings, StorageSettings
from ingest import repository as repo
from ingest.events import store_events
from ingest.lifecycle import apply_timescale_policies, run_lifecycle, storage_mode

log = logging.getLogger(__name__)

# Back-off while the database is unreachable: fast first retry, capped so recovery is noticed within 5 s.
DB_RETRY_MIN_S = 0.2
DB_RETRY_MAX_S = 5.0
# Partitions are created this far ahead (plain PostgreSQL path) so inserts never hit the default partition.
PARTITIONS_AHEAD = timedelta(days=3)
# How often (clock time) liveness and partition upkeep run.
MAINTENANCE_EVERY_S = 5.0
# While a batch fills (up to batch_max_wait_s), the writer looks at the inbox this often instead of being woken per
# message: a wake-up per message (queue.Queue's condition variable) cost more than a small message's decode.
FILL_POLL_S = 0.005
# An idle writer wakes this often to run maintenance and notice stop().
IDLE_WAIT_S = 0.2


@dataclass
class IngestStats:
    messages: int = 0
    readings: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    events: int = 0
    device_acks: int = 0  # end-to-end ack messages published to devices
    batches_committed: int = 0
    db_errors: int = 0
    last_commit_wall: float = field(default=0.0)


class IngestWorker:
    """Batches inbound messages into one transaction each; ``ack`` gets each batch's messages after its commit."""

    def __init__(self, connect: Callable[[], psycopg.Connection], settings: IngestSettings, clock: Clock,
                 ack: Callable[[Sequence[InboundMessage]], None], storage: StorageSettings | None = None,
                 publish: Callable[[Sequence[tuple[str, bytes]]], None] | None = None) -> None:
        """``connect`` must return an autocommit connection: each batch is one explicit transaction.

        ``ack(messages)`` acknowledges a committed batch's messages to the broker (one call per batch, so the adapter
        can write them at once). ``publish([(topic, payload), ...])`` sends a batch's end-to-end acks to the
        devices; None disables them.
        """
        self._publish = publish
        self._storage = storage or StorageSettings()
        self._next_lifecycle = 0.0
        self._policies_applied = False
        self._lifecycle: threading.Thread | None = None
        self._lifecycle_conn: psycopg.Connection | None = None  # used only by the lifecycle thread
        self._connect = connect
        self._settings = settings
        self._clock = clock
        self._ack = ack
        # The inbox: paho's thread appends, the writer pops (deque append/popleft are atomic); ``_wake`` is set when
        # a message arrives while the writer may be sleeping on an empty inbox.
        self._inbox: deque[InboundMessage] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None
        self._known: set[str] = set()
        self._next_maintenance = 0.0
        self.stats = IngestStats()

    # -- wiring -------------------------------------------------------------------------------------------
    def submit(self, message: InboundMessage) -> None:
        self._inbox.append(message)
        if not self._wake.is_set():
            self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout_s)
        if self._lifecycle is not None:
            self._lifecycle.join(timeout_s)
        if self._lifecycle_conn is not None:
            self._lifecycle_conn.close()
        if self._conn is not None:
            self._conn.close()

    @property
    def backlog(self) -> int:
        return len(self._inbox)

    # -- loop ---------------------------------------------------------------------------------------------
    def _run(self) -> None:
        pending: list[InboundMessage] = []
        delay = DB_RETRY_MIN_S
        while not self._stop.is_set() or pending or self._inbox:
            if not pending:
                pending = self._collect()
            try:
                self._maintain()
                if pending:
                    self._process(pending)
                    pending = []
                delay = DB_RETRY_MIN_S
            except psycopg.Error as exc:
                self.stats.db_errors += 1
                log.warning("database unavailable; batch kept for retry: %s", str(exc).strip()[:300],
                            extra={"messages": len(pending), "error": str(exc).strip()[:200]})
                self._reset_connection()
                if self._stop.is_set():
                    return  # unacknowledged messages stay with the broker for the next worker
                time.sleep(delay)
                delay = min(delay * 2, DB_RETRY_MAX_S)

    def _collect(self) -> list[InboundMessage]:
        """Up to batch_max_messages, waiting at most batch_max_wait_s after the first one for the batch to fill."""
        inbox, limit = self._inbox, self._settings.batch_max_messages
        if not inbox:
            self._wake.clear()
            if not inbox:  # checked again after clear(): a message appended in between has set the event
                self._wake.wait(IDLE_WAIT_S)
            if not inbox:
                return []
        deadline = time.monotonic() + self._settings.batch_max_wait_s
        while len(inbox) < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.is_set():
                break
            time.sleep(min(FILL_POLL_S, remaining))
        popleft = inbox.popleft
        return [popleft() for _ in range(min(limit, len(inbox)))]

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
            self._known = repo.known_devices(self._conn)
        return self._conn

    def _reset_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None

    def _maintain(self) -> None:
        now = self._clock.now()
        if now < self._next_maintenance:
            return
        conn = self._connection()
        with conn.transaction():
            repo.ensure_partitions(conn, to_datetime(now) - timedelta(days=1), to_datetime(now) + PARTITIONS_AHEAD)
            gone = repo.mark_stale_offline(conn, to_datetime(now), timedelta(seconds=self._settings.offline_after_s))
        for device_id in gone:
            log.info("device offline (stale)", extra={"device_id": device_id})
        self._next_maintenance = now + MAINTENANCE_EVERY_S
        if now >= self._next_lifecycle and (self._lifecycle is None or not self._lifecycle.is_alive()):
            # Own thread and connection: a rollup pass takes up to seconds of PostgreSQL time and must not hold
            # up the writer (in the writer's loop it was the ingest benchmark's p99).
            self._lifecycle = threading.Thread(target=self._run_lifecycle, args=(now,), name="ingest-lifecycle",
                                               daemon=True)
            self._lifecycle.start()
            self._next_lifecycle = now + self._storage.rollup_every_s

    def _run_lifecycle(self, now: float) -> None:
        try:
            if self._lifecycle_conn is None or self._lifecycle_conn.closed:
                self._lifecycle_conn = self._connect()
            conn = self._lifecycle_conn
            with conn.transaction():
                if not self._policies_applied and storage_mode(conn) == "timescale":
                    apply_timescale_policies(conn, self._storage)
                self._policies_applied = True
                result = run_lifecycle(conn, to_datetime(now), self._storage)
        except psycopg.Error as exc:
            log.warning("storage lifecycle pass failed; retried on the next one: %s", str(exc).strip()[:300],
                        extra={"error": str(exc).strip()[:200]})
            if self._lifecycle_conn is not None:
                self._lifecycle_conn.close()
            return
        if result.partitions_dropped:
            log.info("partitions dropped", extra={"count": result.partitions_dropped})

    def _process(self, messages: list[InboundMessage]) -> None:
        conn = self._connection()
        now = self._clock.now()
        received = to_datetime(now)
        now_ms = int(now * 1000)
        batches: list[TelemetryBatch] = []
        events: list[EventMessage] = []
        durable: dict[str, list[int]] = defaultdict(list)  # device -> seqs to acknowledge end to end
        dead: list[repo.DeadLetter] = []
        statuses: list[tuple[str, bool]] = []
        results: list[InboundMessage] = []
        unknown_seen = False
        stale = 0  # retained statuses of devices this deployment does not know
        # Each decoded batch's bytes (by object: two messages may carry the same seq), for a replay's dead letter.
        payload_of: dict[int, bytes] = {}
        replayed_readings = 0
        for msg in messages:
            device_id: str | None = None
            try:
                device_id, kind = parse_topic(msg.topic)
                if kind == "status" and not msg.payload:
                    continue  # an empty retained message deletes the broker's copy (a retired device): no news
                if device_id not in self._known and not unknown_seen:
                    self._known = repo.known_devices(conn)  # a device provisioned since the last refresh
                    unknown_seen = True
                if device_id not in self._known:
                    if kind == "status" and msg.retain:
                        stale += 1  # the broker's copy of another fleet's state (a retired scratch fleet, a
                        continue  # killed benchmark): nothing sent to us, so no dead letter
                    raise PayloadError("unknown device")
                if kind == "telemetry":
                    batch = decode_telemetry(device_id, msg.payload, now_ms=now_ms)
                    batches.append(batch)
                    payload_of[id(batch)] = msg.payload
                    durable[device_id].append(batch.seq)
                elif kind == "event":
                    event = decode_event(device_id, msg.payload, now_ms=now_ms)
                    events.append(event)
                    durable[device_id].append(event.seq)
                elif kind == "status":
                    status = decode_status(device_id, msg.payload)
                    statuses.append((device_id, status.online))
                elif kind == "cmd/result":
                    results.append(msg)
                else:
                    raise PayloadError(f"unexpected topic kind '{kind}'")
            except PayloadError as exc:
                dead.append(repo.DeadLetter(received, msg.topic, device_id, exc.reason, msg.payload))
                if device_id is not None and device_id in self._known and msg.topic.endswith(
                        ("/telemetry", "/event")):
                    seq = peek_seq(device_id, msg.payload)  # kept as a dead letter: durable too, so acked
                    if seq is not None:
                        durable[device_id].append(seq)
        with conn.transaction():
            for msg in results:  # a command's answer, recorded against the command that asked for it
                device_id = parse_topic(msg.topic)[0]
                reason = consume_result_message(conn, device_id, msg.payload, received)
                if reason is not None:
                    dead.append(repo.DeadLetter(received, msg.topic, device_id, reason, msg.payload))
            seen_before: list[TelemetryBatch] = []
            written = repo.write_batches(conn, batches, received, seen_before,
                                         clock_skew_max_s=self._settings.clock_skew_max_s)
            for b in repo.replays_with_other_content(conn, seen_before):  # rare: only batches seen before
                dead.append(repo.DeadLetter(received, topic(b.device_id, "telemetry"), b.device_id,
                                            f"replayed seq {b.seq} with other content", payload_of[id(b)]))
                replayed_readings += b.reading_count
            repo.insert_dead_letters(conn, dead)
            new_events = store_events(conn, events, received)
            for device_id, online in statuses:
                repo.set_status(conn, device_id, online, received)
        self._ack(messages)
        self._ack_devices(durable, now_ms)
        metrics.INGEST_MESSAGES.inc(len(messages))
        metrics.INGEST_READINGS.inc(written)
        total = sum(map(repo.readings_of, batches))
        metrics.INGEST_DUPLICATES.inc(total - written - replayed_readings)
        metrics.INGEST_BACKLOG.set(self.backlog)
        skew_ms = self._settings.clock_skew_max_s * 1000
        metrics.CLOCK_FAULT_BATCHES.inc(sum(1 for b in batches if b.samples[-1].t_ms - now_ms > skew_ms))
        newest = [b.samples[-1].t_ms for b in batches
                  if b.samples and b.samples[-1].t_ms - now_ms <= skew_ms]  # devices send samples in time order
        if newest:
            metrics.INGEST_LAG.set(max(0.0, now - max(newest) / 1000))
        for letter in dead:
            metrics.DEAD_LETTERS.labels(metrics.reason_label(letter.reason)).inc()
        self.stats.messages += len(messages)
        self.stats.readings += written
        self.stats.duplicates += total - written - replayed_readings
        self.stats.dead_letters += len(dead)
        self.stats.events += new_events
        self.stats.batches_committed += 1
        self.stats.last_commit_wall = time.time()
        if dead:
            log.warning("messages dead-lettered", extra={"count": len(dead), "reason": dead[0].reason})
        if stale:
            log.info("retained statuses of unknown devices skipped", extra={"count": stale})

    def _ack_devices(self, durable: dict[str, list[int]], now_ms: int) -> None:
        """Tell each device which of its seqs are committed: one message per device per flush, not per batch.

        Published after the commit, so an ack never names something that could still roll back. If this process
        dies between commit and publish, the device resends after its ack timeout and the duplicate is acked.
        """
        if self._publish is None:
            return
        out = [(topic(device_id, "ack"), payload) for device_id, seqs in durable.items()
               for payload in encode_acks(seqs, now_ms)]
        self._publish(out)
        self.stats.device_acks += len(out)
