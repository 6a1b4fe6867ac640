"""The diagnose loop: stream new telemetry through per-device monitors, decide incidents, fix or dispatch.

Each pass (``tick``): read which devices sent batches since the last pass (``ingest_batches``), feed each
device's readings after its watermark to its :class:`DeviceMonitor` in time order, classify the active findings,
advance the pure incident state machine and act on its events in one transaction: incident rows, a remote
command when the knowledge base names one and the device is online (the customer is not bothered), otherwise a
work order with skills, parts and SLA, plus timeline events and the customer notification. Progress (batch
cursor, per-device watermarks) and incident state live in the database, so a restart resumes where it stopped;
detector state (EWMA/CUSUM baselines) is rebuilt from new data.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import psycopg

from core.clock import Clock, to_datetime
from core.loops import run_polling
from core.settings import DiagnosticsSettings
from diagnostics import repository as repo
from diagnostics.actions import Actions
from diagnostics.classify import classify
from diagnostics.config import equipment_config
from diagnostics.incidents import OPEN_STATES, Incident, IncidentPolicy, IncidentState, step
from diagnostics.incidents import SLA_BY_TIER as _TIERS
from diagnostics.knowledge import KnowledgeEntry, load_knowledge
from diagnostics.models import FaultHypothesis
from diagnostics.monitor import DeviceMonitor
from diagnostics.normal_model import NormalModel
from diagnostics.remote import CommandChannel

log = logging.getLogger(__name__)
# (response, on site, repair) deadlines in seconds per customer tier, severity 2 (the board's manual incidents).
SLA_BY_TIER: dict[str, tuple[float, float, float]] = {
    tier: (d.response_min * 60.0, d.on_site_min * 60.0, d.repair_min * 60.0) for tier, d in _TIERS.items()}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class LoopPolicy:
    """Tuning of the live loop beyond the pure incident policy (times in simulated/clock seconds)."""

    incident: IncidentPolicy = field(default_factory=IncidentPolicy)
    remote_fix: bool = True  # try the knowledge base's remote command before sending a technician
    command_ttl_s: float = 300.0  # a device that has not answered in 5 min is unreachable: send a person
    # ...but never less than this many wall seconds: under a scaled clock (demo at 300x) 5 simulated minutes are
    # one real second, less than a device's command round trip
    command_ttl_wall_s: float = 30.0
    # after a command the condition must clear and stay clear for resolve_after_s: step detectors latch a fall for
    # up to an hour after the recovery, so two hours
    verify_s: float = 7200.0
    refresh_every_s: float = 60.0  # knowledge base, device list and models are re-read this often
    silence: bool = True  # a device that stops reporting opens communication_loss
    watch_s: float = 1800.0  # a severity-1 fault with no remote fix is watched 30 min before a visit: often it clears
    max_samples_per_device: int = 20_000  # per pass; a device back from a long outage catches up over passes


def monitor_config(equipment_type: str, config: Mapping[str, Any] | None,
                   model: NormalModel | None) -> dict[str, Any]:
    """Detector config for one device. Without a trained normal model, drift detectors are switched off: on
    raw signals they mistake the daily load cycle for drift (they are meant to watch the model's residuals),
    so an untrained type relies on thresholds, rates and sensor health until `train` has run."""
    cfg = equipment_config(equipment_type, config)
    if model is None:
        for sc in cfg.get("signals", {}).values():
            sc["drift"] = False
    return cfg


def _signals(evidence: Mapping[str, Any]) -> set[str]:
    sig = evidence.get("signals") or evidence.get("hypothesis", {}).get("signals") or ()
    return set(sig)


def focus(state: IncidentState, asset_id: str, hyps: list[FaultHypothesis]) -> list[FaultHypothesis]:
    """The hypotheses worth feeding the incident state machine (pure; shared with bench.detect_fleet).

    One symptom set explains one fault: only the best hypothesis may open an incident; runners-up (a tripped
    motor also "looks like" a leak and a stuck sensor) only keep already-open incidents alive. And symptoms on
    the signals of an already-open incident belong to it: a motor tripped an hour ago whose step latch expired
    reads like a seal leak (pressure and flow low), but it is the same stopped motor.
    """
    kept = hyps[:1] + [h for h in hyps[1:] if state.open_for(asset_id, h.mode) is not None]
    out = []
    for h in kept:
        if state.open_for(asset_id, h.mode) is None:
            mine = _signals(h.evidence)
            owner = next((i for i in state.incidents if i.asset_id == asset_id and i.state in OPEN_STATES
                          and mine & _signals(i.evidence)), None)
            if owner is not None:
                h = replace(h, mode=owner.mode)
        out.append(h)
    return out


class DiagnoseLoop:
    def __init__(self, connect: Callable[[], psycopg.Connection], settings: DiagnosticsSettings, clock: Clock,
                 *, policy: LoopPolicy | None = None, commands: CommandChannel | None = None,
                 config: dict | None = None) -> None:
        self._connect = connect
        self._settings = settings
        self._clock = clock
        self.policy = policy or LoopPolicy()
        self.commands = commands
        self._config = config
        self.incidents_opened = 0
        self._ready = False
        self._cursor = 0
        self._marks: dict[str, datetime] = {}
        self._dirty: set[str] = set()  # devices whose watermark moved this pass (only those are written)
        self._monitors: dict[str, DeviceMonitor] = {}
        self._devices: dict[str, repo.DeviceContext] = {}
        self._kb: dict[tuple[str, str], KnowledgeEntry] = {}
        self._models: dict[str, NormalModel] = {}
        self._state = IncidentState()
        self._refreshed_at = float("-inf")

    # --- process loop ---------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        def forget() -> None:
            self._ready = False  # reload persisted state: the failed transaction's effects are gone

        run_polling("diagnose", self._connect, self.tick, stop, self._settings.poll_interval_s, on_db_error=forget)

    def tick(self, conn: psycopg.Connection) -> int:
        """One pass; returns the number of incidents opened. Commits its own transaction."""
        now = self._clock.now()
        with conn.transaction():
            if not self._ready:
                self._load(conn, now)
            elif now - self._refreshed_at >= self.policy.refresh_every_s:
                self._refresh(conn, now)
            act = Actions(conn, self, now)
            self._feedback(conn, now)
            results = self.commands.drain() if self.commands is not None else []
            act.command_results(results)
            self._ingest(conn, act, now)
            act.check_attempts()
            act.check_watch()
            repo.save_progress(conn, self._cursor, {d: self._marks[d] for d in self._dirty})
            self._dirty = set()
        self.incidents_opened += act.opened
        return act.opened

    # --- state ----------------------------------------------------------------------------------------------

    def _load(self, conn: psycopg.Connection, now: float) -> None:
        repo.seed_knowledge(conn)
        self._cursor, self._marks = repo.load_progress(conn)
        self._dirty = set()
        self._monitors = {}
        self._refresh(conn, now)
        self._ready = True

    def _refresh(self, conn: psycopg.Connection, now: float) -> None:
        # Incident rows change outside this loop too (dispatch closes them on site): re-read the state machine's
        # view from the database, which holds everything this loop wrote.
        since = to_datetime(now - self.policy.incident.flap_window_s)
        incidents = []
        for r in repo.live_incidents(conn, since):
            incidents.append(Incident(
                str(r["id"]), r["device_id"], r["fault_mode"], r["status"], int(r["severity"]),
                float(r["confidence"]), r["opened_at"].timestamp(), r["last_abnormal_at"].timestamp(),
                r["last_abnormal_at"].timestamp(), r["resolved_at"].timestamp() if r["resolved_at"] else None,
                int(r["reopen_count"]), int(r["reopen_count"]) > 0, dict(r["evidence"])))
        self._state = IncidentState(tuple(incidents))
        self._devices = repo.devices(conn)
        self._kb = load_knowledge(repo.knowledge_doc(conn))
        models = {}
        for eq, (version, blob) in repo.latest_models(conn).items():
            try:
                models[eq] = NormalModel.from_bytes(blob)
            except (ValueError, KeyError) as exc:
                log.warning("normal model unreadable", extra={"equipment_type": eq, "version": version,
                                                              "error": str(exc)})
        if {k: m.version for k, m in models.items()} != {k: m.version for k, m in self._models.items()}:
            self._monitors = {}  # a new model version: monitors restart on it
        self._models = models
        self._refreshed_at = now

    @property
    def command_ttl_s(self) -> float:
        speed = float(getattr(self._clock, "speed", 1.0))
        return max(self.policy.command_ttl_s, self.policy.command_ttl_wall_s * speed)

    def knowledge(self, equipment_type: str, mode: str) -> KnowledgeEntry | None:
        return self._kb.get((equipment_type, mode))

    def device(self, device_id: str) -> repo.DeviceContext | None:
        return self._devices.get(device_id)

    @property
    def state(self) -> IncidentState:
        return self._state

    @state.setter
    def state(self, value: IncidentState) -> None:
        self._state = value

    def _monitor(self, ctx: repo.DeviceContext) -> DeviceMonitor:
        mon = self._monitors.get(ctx.id)
        if mon is None:
            model = self._models.get(ctx.equipment_type)
            cfg = monitor_config(ctx.equipment_type, self._config, model)
            # Silence is judged against data that arrives in batches (minutes late under a scaled clock): never
            # call a device silent before the settings' staleness limit.
            cfg["silence_s"] = max(float(cfg.get("silence_s", 300)), self._settings.stale_after_s)
            mon = DeviceMonitor(ctx.id, ctx.equipment_type, cfg, model)
            self._monitors[ctx.id] = mon
        return mon

    # --- detection ------------------------------------------------------------------------------------------

    def _ingest(self, conn: psycopg.Connection, act: Actions, now: float) -> None:
        news = repo.new_batches(conn, self._cursor)
        start_cursor, truncated = self._cursor, False
        if any(n.device_id not in self._devices for n in news):
            self._refresh(conn, now)
        for n in news:
            self._cursor = max(self._cursor, n.max_id)
            ctx = self._devices.get(n.device_id)
            if ctx is None:
                continue
            mark = self._marks.get(ctx.id, EPOCH)
            if n.last_ts <= mark:
                continue  # late data older than what the monitor already saw: cannot be replayed in order
            mon = self._monitor(ctx)
            last_t: float | None = None
            for count, (ts, values) in enumerate(repo.device_samples(conn, ctx.id, mark, n.last_ts), 1):
                last_t = ts.timestamp()
                mon.observe(last_t, values)
                self._marks[ctx.id] = ts
                self._dirty.add(ctx.id)
                if count >= self.policy.max_samples_per_device:
                    truncated = True  # come back for the rest next pass; watermarks skip what was done
                    break
            if last_t is not None:
                self._decide(act, ctx, mon, last_t)
        if truncated:
            self._cursor = start_cursor
        if self.policy.silence:
            for mon in self._monitors.values():
                if mon.check_silence(now):
                    ctx = self._devices.get(mon.device_id)
                    if ctx is not None:
                        self._decide(act, ctx, mon, now)

    def _decide(self, act: Actions, ctx: repo.DeviceContext, mon: DeviceMonitor, t: float) -> None:
        hyps = focus(self._state, ctx.id, classify(ctx.equipment_type, mon.active()))
        before = {i.id: i for i in self._state.incidents if i.asset_id == ctx.id}
        self._state, events = step(self._state, ctx.id, hyps, t, self.policy.incident)
        for ev in events:
            act.incident_event(ctx, ev)
        evented = {ev.incident.id for ev in events}
        for inc in self._state.incidents:
            old = before.get(inc.id)
            if (inc.asset_id == ctx.id and inc.id not in evented and old is not None
                    and inc.last_abnormal_at != old.last_abnormal_at and inc.id.isdigit()):
                act.touch(inc)

    # --- knowledge from closed work orders ------------------------------------------------------------------

    def _feedback(self, conn: psycopg.Connection, now: float) -> None:
        from diagnostics.training import apply_work_order_feedback  # keeps the loop module small

        if apply_work_order_feedback(conn, now):
            self._kb = load_knowledge(repo.knowledge_doc(conn))

