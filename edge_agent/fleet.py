"""A fleet of simulated devices in one process: thousands of agents, each with its own MQTT connection.

Agents are split over a few ``Worker`` threads (each owns a selector and one SQLite buffer file), never one
paho thread per device.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge_agent.agent import Agent, AgentConfig
from edge_agent.buffer import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, BufferStore, DiskBuffer, fresh_seq_base
from edge_agent.models import DeviceSpec, FaultLabel
from edge_agent.mqtt import MqttConnection
from edge_agent.runner import Worker, run_workers
from edge_agent.simulator import Equipment

log = logging.getLogger(__name__)

DEVICES_PER_WORKER = 250  # one thread keeps ~250 devices at 60x speed busy but not late (2-core machine)
MAX_WORKERS = 4  # the GIL caps useful threads; more only adds switching


class Fleet:
    """Simulated devices publishing to one broker. ``clock`` is simulated time in epoch seconds."""

    def __init__(
        self,
        devices: Sequence[DeviceSpec],
        *,
        host: str,
        port: int,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
        sample_interval_s: float = 1.0,
        batch_interval_s: float = 1.0,
        fault_rate_per_device_hour: float = 0.0,
        fault_modes: Sequence[str] | None = None,
        buffer_dir: Path | None = None,
        tls_ca: str | None = None,
        max_samples_per_batch: int = 100,
        inflight_window: int = 20,
        max_buffer_rows: int = DEFAULT_MAX_ROWS,
        max_buffer_bytes: int = DEFAULT_MAX_BYTES,
        workers: int | None = None,
        seq_base: int | None = None,
        server_ack: bool = True,
        ack_timeout_s: float = 30.0,
        events: bool = True,
    ) -> None:
        """``server_ack``: keep each batch until ingest's end-to-end ack (False: the broker's PUBACK suffices,
        for a broker without ingest). ``ack_timeout_s``: wall seconds before an unacked batch is resent."""
        ids = [d.device_id for d in devices]
        if len(set(ids)) != len(ids):
            raise ValueError("device ids must be unique")
        self.clock = clock
        self._tmp = None if buffer_dir is not None else tempfile.mkdtemp(prefix="qf-edge-")
        self.buffer_dir = Path(buffer_dir if buffer_dir is not None else self._tmp)  # type: ignore[arg-type]
        self.buffer_dir.mkdir(parents=True, exist_ok=True)
        cfg = AgentConfig(
            sample_interval_s=sample_interval_s,
            batch_interval_s=batch_interval_s,
            max_samples_per_batch=max_samples_per_batch,
            inflight_window=inflight_window,
            max_buffer_rows=max_buffer_rows,
            max_buffer_bytes=max_buffer_bytes,
            fault_rate_per_device_hour=fault_rate_per_device_hour,
            fault_modes=tuple(fault_modes) if fault_modes else None,
            server_ack=server_ack,
            ack_timeout_s=ack_timeout_s,
            events=events,
        )
        n = workers or max(1, min(MAX_WORKERS, math.ceil(len(devices) / DEVICES_PER_WORKER)))
        self._errors: list[BaseException] = []
        self._stores = [BufferStore(self.buffer_dir / f"buffer-{i}.sqlite") for i in range(n)]
        self._workers = [
            Worker(f"qf-edge-{i}", st, on_error=self._errors.append) for i, st in enumerate(self._stores)
        ]
        self._agents: dict[str, Agent] = {}
        base = (
            fresh_seq_base(time.time()) if seq_base is None else seq_base
        )  # only for devices without a buffer
        self._labels_lock = threading.Lock()
        self._random_labels: list[FaultLabel] = []
        for i, spec in enumerate(devices):
            w = i % n
            buf = DiskBuffer(
                self._stores[w],
                spec.device_id,
                max_rows=max_buffer_rows,
                max_bytes=max_buffer_bytes,
                initial_seq=base,
            )
            agent = Agent(spec, Equipment(spec.device_id, spec.equipment_type, seed=seed), buf, clock, cfg)
            conn = MqttConnection(
                spec, host, port, agent, self._workers[w], inflight=inflight_window, tls_ca=tls_ca
            )
            agent.attach(conn)
            self._workers[w].add(agent, conn)
            self._agents[spec.device_id] = agent
        self._started = self._stopped = False

    def start(self) -> None:
        if self._started:
            raise RuntimeError("fleet already started")
        self._started = True
        for w in self._workers:
            w.start()

    def stop(self, timeout_s: float = 10) -> None:
        """Flush open batches, wait up to timeout_s for every buffered batch to be acked, disconnect."""
        if self._stopped:
            return
        self._stopped = True
        if self._started:
            run_workers(self._workers, timeout_s)
        for w in self._workers:
            if w.is_alive():  # closing SQLite under a running thread would crash the process
                log.error("fleet worker %s did not stop; its buffer stays open", w.name)
            else:
                w.store.close()
        if self._tmp and not any(w.is_alive() for w in self._workers):
            shutil.rmtree(self._tmp, ignore_errors=True)
        if self._errors:
            raise RuntimeError(f"{len(self._errors)} fleet worker(s) crashed") from self._errors[0]

    def agent(self, device_id: str) -> Agent:
        return self._agents[device_id]

    def connection(self, device_id: str) -> MqttConnection:
        tr = self._agents[device_id].transport
        assert isinstance(tr, MqttConnection)
        return tr

    def inject_fault(
        self, device_id: str, mode: str, *, develop_s: float | None = None, signal: str | None = None
    ) -> FaultLabel:
        """Start a fault now (simulated time); develop_s is onset -> functional failure in simulated s."""
        agent = self._agents[device_id]
        with agent.lock:
            return agent.equipment.inject(mode, self.clock(), develop_s=develop_s, signal=signal)

    def repair(self, device_id: str) -> list[FaultLabel]:
        """Clear every fault of the device, as a completed on-site visit does."""
        agent = self._agents[device_id]
        with agent.lock:
            return agent.equipment.repair()

    @property
    def ground_truth(self) -> list[FaultLabel]:
        out: list[FaultLabel] = []
        for a in self._agents.values():
            with a.lock:
                out.extend(a.equipment.labels)
        return sorted(out, key=lambda f: (f.onset_s, f.device_id))

    def stats(self) -> dict[str, Any]:
        agents = list(self._agents.values())
        return {
            "devices": len(agents),
            "connected": sum(1 for a in agents if a.transport is not None and a.transport.connected),
            "published_messages": sum(a.published_messages for a in agents),
            "published_readings": sum(a.published_readings for a in agents),
            "acked_messages": sum(a.acked_messages for a in agents),
            "resent_messages": sum(a.resent_messages for a in agents),
            "events": sum(a.events_emitted for a in agents),
            "buffered": sum(a.buffer.rows for a in agents),
            "dropped": sum(a.buffer.dropped for a in agents),
            # wall seconds per sampling round of the slowest worker; far above 0.05 s = fleet overloaded
            "tick_round_s": round(max((w.round_s for w in self._workers), default=0.0), 3),
        }
