"""The benchmark's lean publisher: schema-v1 telemetry at a target rate, QoS 1, bounded in-flight window.

Why not the edge_agent ``Fleet``: it simulates equipment, keeps a SQLite buffer and one TCP connection per device,
which costs ~7 µs per reading (docs/edge_agent.md) — 150k readings/s would need more than one of this machine's two
cores before ingest and PostgreSQL get any. This publisher keeps what matters to ingest: the same schema-v1
payload (written by orjson: the edge agent's ``encode_batch`` uses the standard library's json, which made this
process use a third of a core at 250k readings/s; ``--slow-encoder`` in bench.ingest restores it), the same topics,
QoS 1 with PUBACK accounting, a per-device ``seq`` that increases by one per message, and device timestamps taken
from the (optionally scaled) clock. It publishes for many devices over one connection as a bench account whose
ACL allows ``qf/v1/#``.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core.mqtt import BufferedClient
from edge_agent.payload import encode_batch, topic
from edge_agent.simulator import NOMINAL

# Distinct value sets per device type, cycled: enough variety for realistic JSON sizes, no per-reading RNG cost.
VALUE_POOL = 64
# Pacing: sleep only when more than this ahead of schedule, so small messages go out in short bursts instead of one
# sleep (a syscall and a wake-up) each, which was most of this process's CPU at thousands of messages/s.
PACING_SLACK_S = 0.002
# Progress reports to the parent this often (wall seconds).
REPORT_EVERY_S = 1.0


@dataclass(frozen=True)
class PublisherConfig:
    host: str
    port: int
    username: str
    password: str
    devices: tuple[tuple[str, str], ...]  # (device_id, equipment_type)
    readings_per_message: int
    rate: float  # readings/s for this publisher; 0 = as fast as the in-flight window allows
    seconds: float
    speed: float
    inflight: int
    seq_base: int
    t0_wall: float  # shared anchor: device time = t0_wall + (wall - t0_wall) * speed
    slow_encoder: bool = False  # edge_agent.payload.encode_batch (stdlib json) instead of orjson


def _value_pool(equipment_type: str, rng: random.Random) -> list[dict[str, float]]:
    nominal = NOMINAL[equipment_type]
    return [{name: round(v * rng.uniform(0.9, 1.1), 3) for name, v in nominal.items()} for _ in range(VALUE_POOL)]


def run_publisher(cfg: PublisherConfig, pipe: Connection, client_id: str) -> None:
    """Process entry point: publish until ``cfg.seconds`` have passed, wait for every PUBACK, report totals."""
    rng = random.Random(client_id)
    # Every message carries the same number of readings (all types have the same signal count), so PUBACKs are
    # counted, not mapped by mid: on_publish runs under paho's own lock and must not take ours (lock order).
    k = len(NOMINAL[cfg.devices[0][1]])
    if any(len(NOMINAL[t]) != k for _, t in cfg.devices):
        raise ValueError("devices must share the signal count")
    n_samples = max(1, cfg.readings_per_message // k)
    per_message = n_samples * k
    acked = [0]
    window = threading.Semaphore(cfg.inflight)
    connected = threading.Event()

    def on_publish(_c: Any, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        acked[0] += 1  # only the paho loop thread writes it
        window.release()

    # The server adapter's paho client: one socket read serves many PUBACKs.
    client = BufferedClient(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(cfg.username, cfg.password)
    client.max_inflight_messages_set(cfg.inflight)
    client.on_publish = on_publish
    client.on_connect = lambda *_a: connected.set()
    client.connect(cfg.host, cfg.port, keepalive=30)
    client.loop_start()
    if not connected.wait(10):
        pipe.send({"error": "publisher could not connect"})
        return
    pools = {d: _value_pool(t, rng) for d, t in cfg.devices}
    seqs = {d: cfg.seq_base for d, _ in cfg.devices}
    last_t = {d: 0 for d, _ in cfg.devices}
    n_dev = len(cfg.devices)
    # Sample spacing per device in device-clock ms: at a target rate each device samples every
    # n_dev * signals / rate seconds; flat out, 1 ms (the finest distinct timestamp) and the clock catches up.
    per_dev_rate = cfg.rate / n_dev if cfg.rate > 0 else 0.0
    published = {"messages": 0, "readings": 0}
    start = time.time()
    pipe.send({"started": start})  # the measurement window opens here, not at process spawn
    next_report = start + REPORT_EVERY_S
    message_period = cfg.readings_per_message / cfg.rate if cfg.rate > 0 else 0.0
    due = start
    for i in itertools.count():
        now = time.time()
        if now - start >= cfg.seconds:
            break
        if message_period:
            if due > now + PACING_SLACK_S:
                time.sleep(due - now)
            due += message_period
        device_id, _ = cfg.devices[i % n_dev]
        dev_now_ms = int((cfg.t0_wall + (time.time() - cfg.t0_wall) * cfg.speed) * 1000)
        step_ms = max(1, int(k * 1000 * cfg.speed / per_dev_rate)) if per_dev_rate else 1
        newest = max(dev_now_ms, last_t[device_id] + n_samples * step_ms)
        pool = pools[device_id]
        last_t[device_id] = newest
        if cfg.slow_encoder:
            samples = [(newest - (n_samples - 1 - j) * step_ms, pool[(i + j) % VALUE_POOL])
                       for j in range(n_samples)]
            body = encode_batch(device_id, seqs[device_id], samples)
        else:
            body = orjson.dumps({"v": 1, "device_id": device_id, "seq": seqs[device_id], "samples": [
                {"t": newest - (n_samples - 1 - j) * step_ms, "m": pool[(i + j) % VALUE_POOL]}
                for j in range(n_samples)]})
        seqs[device_id] += 1
        window.acquire()
        client.publish(topic(device_id, "telemetry"), body, qos=1)
        published["messages"] += 1
        published["readings"] += per_message
        if now >= next_report:
            pipe.send({"progress": True, "published": dict(published),
                       "acked": {"messages": acked[0], "readings": acked[0] * per_message}})
            next_report = now + REPORT_EVERY_S
    for _ in range(cfg.inflight):  # every PUBACK back: the window is whole again
        if not window.acquire(timeout=60):
            break
    final = {"final": True, "published": dict(published),
             "acked": {"messages": acked[0], "readings": acked[0] * per_message},
             "unacked": published["messages"] - acked[0], "elapsed_s": time.time() - start}
    client.disconnect()
    client.loop_stop()
    pipe.send(final)
