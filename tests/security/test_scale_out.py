"""Ingest scales out through the MQTT 5 shared subscription: N workers in one group split one stream, and every
batch is stored exactly once (the (device, seq) claim makes a redelivery to another worker harmless).

Real broker (this module's own Mosquitto on the project's configuration) and real database; the throughput of
two workers is measured by ``python -m bench.ingest --workers 2`` (README), not asserted here."""

from __future__ import annotations

import json
import time

import psycopg
import pytest

from core.clock import SystemClock
from core.provision import provision
from core.settings import Settings
from ingest import start_ingest
from quietfix.seed import seed
from tests.helpers import wait_for
from tests.security.conftest import OwnBroker
from tests.security.mqtt_probe import Probe

pytestmark = pytest.mark.integration

BATCHES_PER_DEVICE = 40


def test_two_workers_in_one_group_split_the_stream_and_store_each_batch_once(
        settings: Settings, conn: psycopg.Connection, own_broker: OwnBroker) -> None:
    devices = [d.device_id for d in seed(conn, devices=4, technicians=1, users=False)]
    conn.commit()
    s = own_broker.settings(database_url=settings.database_url)
    s.ingest = settings.ingest.model_copy(update={"shared_group": "ingest"})
    passwords = provision(s, devices)
    workers = [start_ingest(s, SystemClock(), worker_id=f"scale-out-{i}") for i in (1, 2)]
    publishers = [Probe(own_broker.port, d, passwords[d]) for d in devices]
    try:
        assert all(w.mqtt.connected.wait(10) for w in workers) and all(p.accepted for p in publishers)
        now = int(time.time() * 1000)
        for seq in range(1, BATCHES_PER_DEVICE + 1):
            for device, pub in zip(devices, publishers):
                samples = [{"t": now + seq * 1000 + k, "m": {"pressure_bar": float(seq)}} for k in range(5)]
                pub.publish(f"qf/v1/{device}/telemetry",
                            json.dumps({"v": 1, "device_id": device, "seq": seq, "samples": samples}).encode())
        total = len(devices) * BATCHES_PER_DEVICE
        wait_for(lambda: sum(w.worker.stats.messages for w in workers) >= total, timeout_s=60)
        per_worker = [w.worker.stats.messages for w in workers]
        batches, readings = conn.execute("SELECT count(*), sum(readings) FROM ingest_batches").fetchone()
        conn.commit()
    finally:
        for pub in publishers:
            pub.close()
        for w in workers:
            w.stop()
    assert all(n > 0 for n in per_worker), per_worker  # the broker split the group's stream
    assert sum(per_worker) == total
    assert (batches, readings) == (total, total * 5)  # every batch once, nothing lost or doubled
