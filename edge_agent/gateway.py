"""A real gateway: the agent publishing what its sources read, instead of a simulated machine.

``GatewayAgent`` is the simulator's ``Agent`` (same disk buffer, seq counter, end-to-end acks, resends, events and
command gate) with a different producer: it drains the sources' ``Sink`` on the agent's thread, keeps each
reading's device timestamp, and turns source health changes into ``sensor_health`` events. Sources run in their
own threads, so a hung protocol never holds up publishing.

A new mapping pushed as the ``set_mapping`` command is validated like the TOML ``[[sources]]``, then *tried*
(every new source must connect and read cleanly) while the old sources keep running. Only then are the old ones
swapped out; any failure leaves the old mapping in place (rolled back) and answers ``ok=false`` with the reason.
The trial runs in its own thread (the answer is published when it ends); the swap itself runs on the agent's
thread between two batches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from edge_agent.agent import Agent, AgentConfig
from edge_agent.alarms import AlarmMonitor
from edge_agent.buffer import BufferStore, DiskBuffer, fresh_seq_base
from edge_agent.commands import DEFERRED
from edge_agent.config import ConfigError, GatewayConfig, SourceConfig, parse_sources
from edge_agent.models import CommandResult, DeviceSpec
from edge_agent.mqtt import MqttConnection
from edge_agent.payload import MAX_READINGS_PER_MESSAGE, decode_command, encode_cmd_result, topic
from edge_agent.runner import Worker, run_workers
from edge_agent.sources import Sink, Source, build_source

log = logging.getLogger(__name__)

TRIAL_TIMEOUT_S = 5.0  # a pushed mapping's sources get this long to connect and read once
HEALTH_EVENT = "sensor_health"
MAPPING_FILE = "mapping.json"  # the last accepted pushed mapping, kept across restarts


class _Signals:
    """What ``Agent`` expects of its equipment, for a gateway: the type and the last value of each signal."""

    def __init__(self, equipment_type: str, names: Sequence[str]) -> None:
        self.equipment_type = equipment_type
        self.nominal = {n: 0.0 for n in names}
        self.last: dict[str, float] = {}
        self.active_faults: list[Any] = []
        self.labels: list[Any] = []


def _limits(sources: Sequence[SourceConfig]) -> dict[str, tuple[float | None, float | None]]:
    return {s.name: (s.alarm_low, s.alarm_high) for src in sources for s in src.signals
            if s.alarm_low is not None or s.alarm_high is not None}


class GatewayAgent(Agent):
    def __init__(self, spec: DeviceSpec, cfg: GatewayConfig, buffer: DiskBuffer, sink: Sink,
                 clock: Callable[[], float] = time.time, config: AgentConfig | None = None,
                 sources: Sequence[SourceConfig] | None = None) -> None:
        self.cfg = cfg
        self.sink = sink
        self.source_cfgs: tuple[SourceConfig, ...] = tuple(sources if sources is not None else cfg.sources)
        self.sources: list[Source] = []
        self._by_t: dict[int, dict[str, float]] = {}
        self._last_t: dict[str, int] = {}  # newest device time sent per signal: no reading goes out twice
        self.stale = 0  # readings not newer than one already sent (a re-delivered OPC UA value, a clock step)
        self.mapping_version = 0
        self._cmd_id = ""  # id of the command being handled (a deferred answer needs it)
        self._trial: tuple[str, tuple[SourceConfig, ...], Any, threading.Thread, list[str]] | None = None
        names = [s.name for src in self.source_cfgs for s in src.signals]
        agent_cfg = config or AgentConfig(sample_interval_s=cfg.sample_interval_s,
                                          batch_interval_s=cfg.batch_interval_s, max_buffer_rows=cfg.max_buffer_rows)
        super().__init__(spec, _Signals(cfg.equipment_type, names), buffer, clock, agent_cfg)  # type: ignore[arg-type]
        self._resize()
        self.gate.handlers = {"ping": self._cmd_ping, "snapshot": self._cmd_snapshot,
                              "set_interval": self._cmd_set_interval, "set_mapping": self._cmd_set_mapping}

    def _alarm_monitor(self) -> AlarmMonitor:
        return AlarmMonitor(_limits(self.source_cfgs), {})

    def _resize(self) -> None:
        n = max(1, sum(len(s.signals) for s in self.source_cfgs))
        self._max_samples = max(1, min(self.config.max_samples_per_batch, MAX_READINGS_PER_MESSAGE // n))

    # ---- sources -----------------------------------------------------------------------------------------
    def start_sources(self) -> None:
        self.sources = [build_source(c) for c in self.source_cfgs]
        for s in self.sources:
            s.start(self.sink)

    def stop_sources(self) -> None:
        for s in self.sources:
            s.stop()

    # ---- producing -----------------------------------------------------------------------------------------
    def produce(self) -> None:
        """Batch what the sources delivered since the last call (device timestamps kept), emit health events."""
        self._finish_trial()
        now = self.clock()
        readings, health = self.sink.drain()
        if health and self._by_t:
            self._close_batch()  # the readings that led to a health change go first
        for h in health:
            data: dict[str, Any] = {"source": h.source, "state": "ok" if h.ok else "failed"}
            if h.signal:
                data["signal"] = h.signal
            if h.error:
                data["error"] = h.error[:500]
            self._emit_event(h.t_ms / 1000, HEALTH_EVENT, data)
        fresh: dict[int, dict[str, float]] = {}
        for r in readings:
            if r.t_ms <= self._last_t.get(r.signal, -1):
                self.stale += 1
                continue
            self._last_t[r.signal] = r.t_ms
            if not self._by_t:
                self._batch_start = now
            self._by_t.setdefault(r.t_ms, {})[r.signal] = r.value
            fresh.setdefault(r.t_ms, {})[r.signal] = r.value
            self.equipment.last[r.signal] = r.value
            if len(self._by_t) >= self._max_samples:
                self._close_batch()
        if self.alarms is not None:
            for t_ms in sorted(fresh):
                for kind, data in self.alarms.update(fresh[t_ms]):
                    self._emit_event(t_ms / 1000, kind, data)
        if self._by_t and now - self._batch_start >= self.config.batch_interval_s:
            self._close_batch()

    def _emit_event(self, t: float, kind: str, data: Mapping[str, Any]) -> None:
        if self._by_t:
            self._close_batch()
        super()._emit_event(t, kind, data)

    def _close_batch(self) -> None:
        if self._by_t:
            self._samples, self._by_t = sorted(self._by_t.items()), {}
        if self._samples:
            super()._close_batch()

    def flush(self) -> None:
        """On stop (sources already stopped): take what they delivered last, then close the open batch."""
        self.produce()
        self._close_batch()

    # ---- commands -----------------------------------------------------------------------------------------
    def _cmd_snapshot(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "equipment_type": self.cfg.equipment_type,
            "signals": dict(self.equipment.last),
            "sources": [{"name": c.name, "type": c.type, "signals": [s.name for s in c.signals]}
                        for c in self.source_cfgs],
            "failing": [{"source": s, "signal": g, "error": e} for (s, g), e in self.sink.failures().items()],
            "mapping_version": self.mapping_version,
            "sample_interval_s": self.sample_interval_s,
            "buffered": self.buffer.rows,
            "dropped": self.buffer.dropped,
            "next_seq": self.buffer.next_seq,
            "connected": bool(self.transport and self.transport.connected),
        }

    def _cmd_set_interval(self, args: Mapping[str, Any]) -> dict[str, Any]:
        result = super()._cmd_set_interval(args)
        for s in self.sources:
            s.interval_s = self.sample_interval_s  # polling sources pick it up at their next cycle
        return result

    def on_message(self, topic_: str, payload: bytes) -> None:
        if not topic_.endswith("/ack"):
            try:
                self._cmd_id = decode_command(payload).id
            except ValueError:
                self._cmd_id = ""
        super().on_message(topic_, payload)

    def _cmd_set_mapping(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Validate now (a bad mapping is answered at once); try it in a thread, answer when the trial ends."""
        if self._trial is not None:
            raise ValueError(f"mapping rejected: command {self._trial[0]} is still trying a mapping")
        try:
            new = parse_sources(args.get("sources"), default_interval_s=self.sample_interval_s,
                                base_dir=Path(self.cfg.path).resolve().parent if self.cfg.path else Path.cwd())
        except ConfigError as exc:
            raise ValueError(f"mapping rejected, old mapping kept: {exc}") from exc
        problems: list[str] = []
        thread = threading.Thread(target=lambda: problems.extend(self.try_mapping(new)), daemon=True,
                                  name=f"qf-trial-{self.device_id}")
        self._trial = (self._cmd_id, new, args.get("sources"), thread, problems)
        thread.start()
        return DEFERRED

    def _finish_trial(self) -> None:
        """On the agent's thread: once the trial thread is done, swap (or not) and publish the answer."""
        if self._trial is None or self._trial[3].is_alive():
            return
        cid, new, raw, _, problems = self._trial
        self._trial = None
        if problems:
            res = CommandResult(cid, False, {"reason": "mapping rejected, old mapping kept: " + "; ".join(problems)})
        else:
            try:
                self.apply_mapping(new, raw)
                res = CommandResult(cid, True, {"mapping_version": self.mapping_version,
                                                "sources": [c.name for c in new],
                                                "signals": [s.name for c in new for s in c.signals]})
            except ValueError as exc:
                res = CommandResult(cid, False, {"reason": str(exc)})
        if self.transport is not None:
            self.transport.publish(topic(self.device_id, "cmd/result"), encode_cmd_result(res, self._now_ms()))

    def try_mapping(self, new: Sequence[SourceConfig], timeout_s: float = TRIAL_TIMEOUT_S) -> list[str]:
        """Build and read every new source once (in parallel) while the old ones keep running."""
        try:
            built = [build_source(c) for c in new]
        except Exception as exc:  # noqa: BLE001 - a bad DBC, a missing secret: a rejection reason, not a crash
            return [f"cannot build sources: {exc}"]
        trial = Sink()
        running = {c.name: c.type for c in self.source_cfgs}
        threads = []
        for src in built:
            if src.kind == "http_push":
                if running.get(src.name) == "http_push":
                    continue  # same endpoint, already bound by the running source
                threads.append(threading.Thread(target=self._probe_push, args=(src, trial), daemon=True))
            else:
                threads.append(threading.Thread(target=src.read_once, args=(trial, timeout_s), daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout_s + 5)
        return [f"{src}{'.' + sig if sig else ''}: {err}" for (src, sig), err in sorted(trial.failures().items())]

    @staticmethod
    def _probe_push(src: Source, trial: Sink) -> None:
        try:
            src.start(trial)
        except OSError as exc:
            trial.failed(src.name, f"cannot listen: {exc}")
            return
        src.stop()

    def apply_mapping(self, new: Sequence[SourceConfig], raw: Any) -> None:
        old_cfgs, old_sources = self.source_cfgs, self.sources
        self.stop_sources()
        self.source_cfgs = tuple(new)
        try:
            self.start_sources()
        except Exception as exc:  # rollback: the old sources were stopped, start them again
            self.stop_sources()
            self.source_cfgs, self.sources = old_cfgs, old_sources
            for s in self.sources:
                s.start(self.sink)
            raise ValueError(f"mapping rejected, old mapping restored: cannot start: {exc}") from exc
        self.mapping_version += 1
        self.sink.forget({(c.name, "") for c in new} | {(c.name, s.name) for c in new for s in c.signals})
        self._resize()
        self.equipment.last = {k: v for k, v in self.equipment.last.items()
                               if k in {s.name for c in new for s in c.signals}}
        if self.alarms is not None:
            self.alarms = self._alarm_monitor()
        save_mapping(Path(self.cfg.state_dir), self.cfg, raw)
        if self.config.events:
            self._emit_event(self.clock(), "config_changed", {"mapping_version": self.mapping_version,
                                                              "sources": [c.name for c in new]})


def _sources_hash(cfg: GatewayConfig) -> str:
    return hashlib.sha256(json.dumps(list(cfg.raw_sources), sort_keys=True, default=str).encode()).hexdigest()


def save_mapping(state_dir: Path, cfg: GatewayConfig, raw: Any) -> None:
    """Keep a pushed mapping across restarts, tied to the config's own sources: editing the file wins."""
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / (MAPPING_FILE + ".tmp")
    tmp.write_text(json.dumps({"config_sources": _sources_hash(cfg), "sources": raw}))
    tmp.replace(state_dir / MAPPING_FILE)


def saved_mapping(cfg: GatewayConfig) -> tuple[SourceConfig, ...] | None:
    path = Path(cfg.state_dir) / MAPPING_FILE
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if obj.get("config_sources") != _sources_hash(cfg):
        log.info("config file changed since the last pushed mapping; using the file's sources")
        return None
    try:
        return parse_sources(obj.get("sources"), default_interval_s=cfg.sample_interval_s,
                             base_dir=Path(cfg.path).resolve().parent if cfg.path else Path.cwd())
    except ConfigError as exc:
        log.warning("saved mapping %s is invalid, using the file's sources: %s", path, exc)
        return None


class Gateway:
    """Everything one gateway process runs: sources, agent, disk buffer, one MQTT connection and its thread."""

    def __init__(self, cfg: GatewayConfig, *, clock: Callable[[], float] = time.time, server_ack: bool = True,
                 ack_timeout_s: float = 30.0, seq_base: int | None = None) -> None:
        self.cfg = cfg
        state = Path(cfg.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        self.store = BufferStore(state / "buffer.sqlite")
        self.sink = Sink(now=clock)
        buffer = DiskBuffer(self.store, cfg.device_id, max_rows=cfg.max_buffer_rows,
                            initial_seq=fresh_seq_base(time.time()) if seq_base is None else seq_base)
        spec = DeviceSpec(cfg.device_id, cfg.equipment_type, cfg.broker.username or cfg.device_id,
                          cfg.broker.password())
        agent_cfg = AgentConfig(sample_interval_s=cfg.sample_interval_s, batch_interval_s=cfg.batch_interval_s,
                                max_buffer_rows=cfg.max_buffer_rows, server_ack=server_ack,
                                ack_timeout_s=ack_timeout_s)
        self.agent = GatewayAgent(spec, cfg, buffer, self.sink, clock, agent_cfg, sources=saved_mapping(cfg))
        self.worker = Worker(f"qf-edge-{cfg.device_id}", self.store, on_error=self._crashed)
        b = cfg.broker
        self.conn = MqttConnection(spec, b.host, b.port, self.agent, self.worker, inflight=agent_cfg.inflight_window,
                                   tls_ca=b.ca_file or None, tls=b.tls, tls_cert=b.client_cert or None,
                                   tls_key=b.client_key or None)
        self.agent.attach(self.conn)
        self.worker.add(self.agent, self.conn)
        self.errors: list[BaseException] = []

    def _crashed(self, exc: BaseException) -> None:
        self.errors.append(exc)

    def start(self) -> None:
        self.agent.start_sources()
        self.worker.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop reading, publish what was read, wait up to ``timeout_s`` for acks, disconnect."""
        self.agent.stop_sources()
        run_workers([self.worker], timeout_s)
        if not self.worker.is_alive():
            self.store.close()

    def stats(self) -> dict[str, Any]:
        a = self.agent
        return {"device_id": a.device_id, "connected": self.conn.connected, "readings": a.published_readings,
                "messages": a.published_messages, "acked": a.acked_messages, "events": a.events_emitted,
                "buffered": a.buffer.rows, "stale": a.stale, "rejected": self.sink.rejected,
                "overflowed": self.sink.overflowed,
                "failing": len(self.sink.failures()), "mapping_version": a.mapping_version}

