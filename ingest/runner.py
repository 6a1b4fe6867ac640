"""Wires the ingest worker to the broker: a shared subscription so N worker processes split the load.

The same connection publishes the end-to-end acks (``qf/v1/{device}/ack``) back to the devices.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from core.clock import Clock
from core.db import connect
from core.mqtt import ServerMqtt
from core.settings import Settings
from ingest.service import IngestWorker

log = logging.getLogger(__name__)


@dataclass
class RunningIngest:
    worker: IngestWorker
    mqtt: ServerMqtt

    def stop(self) -> None:
        # Stop taking messages first, then drain what was received; unacked ones stay with the broker.
        self.mqtt.stop()
        self.worker.stop()


def start_ingest(settings: Settings, clock: Clock, *, worker_id: str | None = None) -> RunningIngest:
    worker_id = worker_id or settings.ingest.worker_id
    group = settings.ingest.shared_group
    prefix = f"$share/{group}/" if group else ""
    holder: dict[str, ServerMqtt] = {}
    if settings.ingest.device_ack_qos == 0:
        def publish(acks: Sequence[tuple[str, bytes]]) -> None:
            holder["mqtt"].publish_many_qos0(acks)
    else:
        def publish(acks: Sequence[tuple[str, bytes]]) -> None:
            for t, p in acks:
                holder["mqtt"].publish(t, p, qos=1)
    worker = IngestWorker(lambda: connect(settings.database_url, autocommit=True), settings.ingest, clock,
                          ack=lambda ms: holder["mqtt"].ack_many(ms), storage=settings.storage, publish=publish)
    mqtt = ServerMqtt(settings.mqtt_url, worker_id, username=settings.mqtt_username,
                      password=settings.mqtt_password,
                      subscriptions=[(f"{prefix}qf/v1/+/telemetry", 1), (f"{prefix}qf/v1/+/status", 1),
                                     (f"{prefix}qf/v1/+/cmd/result", 1), (f"{prefix}qf/v1/+/event", 1)],
                      ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
                      on_message=worker.submit, session_expiry_s=settings.ingest.session_expiry_s)
    holder["mqtt"] = mqtt
    worker.start()
    mqtt.start()
    log.info("ingest started", extra={"worker_id": worker_id})
    return RunningIngest(worker, mqtt)


def run_ingest(settings: Settings, clock: Clock, stop: threading.Event) -> None:
    running = start_ingest(settings, clock)
    try:
        stop.wait()
    finally:
        running.stop()
