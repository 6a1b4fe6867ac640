"""The diagnose loop: stream new telemetry through per-device monitors, decide incidents, fix or dispatch.

Each pass (``tick``): read the batches ingest committed since the last pass, in commit order (``arrival``,
migration 0230), feed their samples to the detectors in time order (vectorised over all devices of a type,
diagnostics/block.py), classify the active
findings, advance the pure incident state machine and act on its events in one transaction: incident rows, a
remote command when the knowledge base names one and the device is online (the customer is not bothered),
otherwise a work order with skills, parts and SLA, plus timeline events and the customer notification. Progress
(the arrival cursor, and per device the newest reading time evaluated), incident state and the detectors' own
state (checkpointed per device every ``checkpoint_every_s`` and on shutdown as packed block rows,
diagnostics/loop_checkpoints.py and block_checkpoint.py, with the arrival cursor they include) live in the database, so a restart resumes
where it stopped with warm detectors. A completed on-site repair resets the device's detectors (the old fault's
baselines and latches must not re-fire) and is then verified from telemetry before the incident closes.
Remaining useful life is estimated from the same stream (diagnostics/rul.py, ``WearTracker``; rul_pass.py).

Why arrival order, not device time (issue #19): progress used to be a per-device watermark on the device's own
timestamps, so one batch stamped a day ahead (or a demo run whose simulated clock ended ahead of the next one's)
hid every later reading "before the watermark" and detection went silent. Now each committed batch is evaluated
exactly once whatever its timestamps. Time order per device is kept by one rule: a sample is fed to the detectors
only if it is newer than the newest sample they already saw (``DeviceMonitor.last_t``); an older one (late data,
e.g. a backlog sent after live data) is counted (``quietfix_diagnose_late_samples``) and not fed, because the
streaming detectors' rates and baselines assume time moves forward. Within one pass a device's new samples are
sorted by time first, so data that is merely out of order inside a pass is fed in order. Batches with a clock
fault are stored apart by ingest and never fed (docs/contracts.md, "Device clocks").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime

import psycopg

from core import commands as core_commands
from core import metrics
from core.clock import Clock, to_datetime
from core.loops import run_polling
from core.settings import DiagnosticsSettings
from diagnostics import leases as lease_store
from diagnostics import repository as repo
from diagnostics.actions import Actions, Outgoing
from diagnostics.classify import classify
from diagnostics.fleet import Fleet
from diagnostics.incidents import Incident, IncidentState, ServiceTargets, step
from diagnostics.knowledge import KnowledgeEntry, load_knowledge
from diagnostics.leases import LeaseChange, Leases, default_worker_id, partition
from diagnostics.loop_checkpoints import DetectorCheckpoints
from diagnostics.loop_rules import focus, in_time_order
from diagnostics.models import FaultHypothesis
from diagnostics.normal_model import NormalModel
from diagnostics.policy import LoopPolicy
from diagnostics.remote import CommandChannel
from diagnostics.rul_live import LearnedRul
from diagnostics.rul_pass import estimate_rul

log = logging.getLogger(__name__)


class DiagnoseLoop(DetectorCheckpoints):
    def __init__(self, connect: Callable[[], psycopg.Connection], settings: DiagnosticsSettings, clock: Clock,
                 *, policy: LoopPolicy | None = None, commands: CommandChannel | None = None,
                 config: dict | None = None, targets: ServiceTargets | None = None) -> None:
        self._connect = connect
        # The organisation's service targets (settings ``service``): every corrective job carries them.
        self.targets = targets or ServiceTargets()
        self._settings = settings
        self._clock = clock
        self.policy = policy or LoopPolicy(decide_s=settings.remote_decision_s, watch_s=settings.watch_s)
        self.commands = commands
        self._config = config
        self.incidents_opened = 0
        self._ready = False
        # Leases (diagnostics/leases.py): the partitions this worker holds and each one's arrival cursor.
        self.leases = Leases(settings.worker_id or default_worker_id(), settings.lease_ttl_s)
        self._cursors: dict[int, int] = {}
        self._marks: dict[str, datetime] = {}
        # After an on-site repair: readings stamped before the visit was completed still describe the broken
        # machine; some arrive after the reset (batches in flight), and a fresh monitor must not learn from them.
        self._fresh_from: dict[str, float] = {}
        self._dirty: set[str] = set()  # devices whose watermark moved this pass (only those are written)
        self._fleet = Fleet()  # every held device's detector state, vectorised per equipment type (fleet.py)
        self._devices: dict[str, repo.DeviceContext] = {}
        self._kb: dict[tuple[str, str], KnowledgeEntry] = {}
        self._models: dict[str, NormalModel] = {}
        self._state = IncidentState()
        self._refreshed_at = float("-inf")
        self._checkpoints: dict[str, repo.Checkpoint] = {}
        self._saved_t: dict[str, float | None] = {}  # device -> monitor.last_t at its last checkpoint
        # device -> when (monotonic) its next periodic checkpoint is due: spread over the interval by device, so
        # a pass never snapshots the whole fleet at once (latency spikes, lock waits on the progress rows)
        self._cp_due: dict[str, float] = {}
        self._fps: dict[tuple[str, str | None], str] = {}  # (type, model version) -> scalar format fingerprint
        self._rul_at = float("-inf")
        self._learned_rul = LearnedRul()  # the fleet's learned RUL model where trained, else the trend (rul_live.py)
        self._received: dict[str, float] = {}  # device -> newest batch receive time (clock s) of this pass
        self.restored = 0  # monitors resumed from a checkpoint (observability and tests)

    # --- process loop ---------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        def forget() -> None:
            self._ready = False  # reload persisted state: the failed transaction's effects are gone

        run_polling("diagnose", self._connect, self.tick, stop, self._settings.poll_interval_s, on_db_error=forget)
        self.shutdown()

    def shutdown(self) -> None:
        """Checkpoint every monitor's detector state (called when the loop stops) and hand the leases back, so
        the other workers (or the next process) resume at once with warm detectors."""
        if not self._ready:
            return
        try:
            with self._connect() as conn, conn.transaction():
                n = self._save_checkpoints(conn, self._clock.now(), force=True)
                self.leases.leave(conn)
            log.info("detector state checkpointed on shutdown", extra={"devices": n})
        except psycopg.Error as exc:
            log.warning("shutdown checkpoint failed", extra={"error": str(exc).strip()[:200]})

    def tick(self, conn: psycopg.Connection) -> int:
        """One pass; returns the number of incidents opened. Commits its own transaction, then publishes the
        remote commands it recorded (a device's answer must always find its ``commands`` row)."""
        now = self._clock.now()
        self._received = {}
        with conn.transaction():
            if not self._ready:
                self._load(conn, now)
            elif now - self._refreshed_at >= self.policy.refresh_every_s:
                self._refresh(conn, now)
            self._lease(conn, now)
            act = Actions(conn, self, now)
            if 0 in self.leases.held:  # fleet-wide work: one worker does it (the holder of partition 0)
                self._feedback(conn, now)
            act.repairs([r for r in repo.new_repairs(conn) if self.owns(r["device_id"])])
            results = self.commands.drain() if self.commands is not None else []
            # every worker hears every result (exclusive sessions); each acts on its own devices' only
            act.command_results([r for r in results if self.owns(r.device_id)])
            self._ingest(conn, act, now)
            act.flush_touches()
            act.check_attempts()
            act.check_watch()
            act.check_repairs()
            repo.save_progress(conn, None, {d: self._marks[d] for d in self._dirty})
            lease_store.save_cursors(conn, self._cursors)
            self._dirty = set()
            if now - self._rul_at >= self._settings.rul_every_s:
                estimate_rul(conn, ((d, self._fleet.wear(d)) for d in self._fleet), self._learned_rul,
                             self._devices, now, self._settings.rul_retention_s)
                self._rul_at = now
            self._save_checkpoints(conn, now)  # the devices whose periodic checkpoint is due
        self._publish(conn, act.outgoing)
        self._observe_latency(act.detections)
        self.incidents_opened += act.opened
        return act.opened

    def _publish(self, conn: psycopg.Connection, outgoing: list[Outgoing]) -> None:
        """Send the committed commands; record whether each left (a failed send times out into a visit)."""
        for out in outgoing:
            cmd = out.command
            sent = True
            try:
                assert self.commands is not None
                self.commands.send(cmd.device_id, cmd.id, cmd.cmd, dict(cmd.args),
                                   int(cmd.issued_at.timestamp() * 1000), int(cmd.expires_at.timestamp() * 1000))
            except Exception as exc:  # noqa: BLE001 - a broker hiccup must not lose the pass; the TTL decides
                sent = False
                log.warning("remote fix not published", extra={"device_id": cmd.device_id, "command_id": cmd.id,
                                                               "error": str(exc)[:200]})
            with conn.transaction():
                core_commands.mark_sent(conn, cmd.id, sent)

    def _observe_latency(self, detections: list[tuple[int, float, float | None]]) -> None:
        """Two latencies per opened incident: the pipeline's own (deciding reading's ingest receive time -> incident
        committed, wall seconds = clock / speed) and the fault's (onset of the first finding -> incident committed,
        in the equipment's clock seconds: a drift caught after 20 simulated minutes took 20 minutes whatever the
        simulation speed)."""
        if not detections:
            return
        speed = float(getattr(self._clock, "speed", 1.0))
        now = self._clock.now()
        for _, received, onset in detections:
            metrics.DETECTION_DECISION_LATENCY.observe(max(0.0, (now - received) / speed))
            if onset is not None:
                metrics.DETECTION_LATENCY.observe(max(0.0, now - onset))

    # --- state ----------------------------------------------------------------------------------------------

    def _load(self, conn: psycopg.Connection, now: float) -> None:
        repo.seed_knowledge(conn)
        _, self._marks = repo.load_progress(conn)
        self._dirty = set()
        self._fleet = Fleet()
        self._saved_t = {}
        self._checkpoints = {}  # loaded per partition as leases are gained
        self._cursors = {}
        self.leases.reset()  # what the database says we hold is re-learnt by the next renewal
        self._refresh(conn, now)
        self._ready = True

    def _refresh(self, conn: psycopg.Connection, now: float) -> None:
        # Incident rows change outside this loop too (dispatch closes them on site): re-read the state machine's
        # view from the database, which holds everything this loop wrote.
        since = to_datetime(now - self.policy.incident.flap_window_s)
        incidents = []
        for r in repo.live_incidents(conn, since):
            if not self.owns(r["device_id"]):
                continue  # another worker's device: that worker's state machine decides it
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
            self._fleet = Fleet()  # a new model version: detectors restart on it (old checkpoints no longer fit)
        self._models = models
        self._refreshed_at = now

    # --- leases: which devices are this worker's ---------------------------------------------------------------

    def owns(self, device_id: str) -> bool:
        return partition(device_id) in self.leases.held

    def _lease(self, conn: psycopg.Connection, now: float) -> None:
        """Renew the leases (row-locked until this pass commits), then follow what moved: partitions over our share
        are checkpointed and handed back in this transaction; partitions lost (we stalled past the TTL) are dropped
        unwritten; partitions gained start from their stored cursor and their devices' checkpoints."""
        change: LeaseChange = self.leases.renew(conn)
        if change.release:
            self._save_checkpoints(conn, now, force=True, parts=change.release)
            self.leases.release(conn, change.release)
        if change.gained:
            stored = lease_store.load_cursors(conn)
            for p in change.gained:
                self._cursors[p] = stored.get(p, 0)
            ids = [d for d in self._devices if partition(d) in change.gained]
            self._checkpoints.update(repo.load_checkpoints(conn, ids))
            self._marks.update(lease_store.load_marks(conn, ids))
        if change.release or change.lost or change.gained:
            held = self.leases.held
            for p in set(self._cursors) - held:
                del self._cursors[p]
            for d in [d for d in self._fleet if partition(d) not in held]:
                self._fleet.remove(d)
                self._saved_t.pop(d, None)
            self._checkpoints = {d: c for d, c in self._checkpoints.items() if partition(d) in held}
            self._refresh(conn, now)  # the state machine's view: the incidents of the devices we hold now
            log.info("diagnose leases moved", extra={"worker_id": self.leases.worker_id, "held": len(held),
                                                     "gained": len(change.gained), "lost": len(change.lost),
                                                     "released": len(change.release)})

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

    def reset_device(self, conn: psycopg.Connection, device_id: str, *, wear: bool = True,
                     since: datetime | None = None) -> None:
        """Forget the device's detector state and baselines (after an on-site repair, or a remote reset the device
        says cleared the fault): the next reading starts a fresh monitor, so the fixed fault's latches and drifted
        baselines cannot re-fire. ``wear=False`` keeps the wear history (a reset replaced no part). ``since``: the
        repair's completion; readings stamped up to then are not fed to the fresh monitor (they arrive late)."""
        self._fleet.remove(device_id)  # the wear history goes with the row (as before: ``wear`` is not honoured)
        if since is not None:
            self._fresh_from[device_id] = since.timestamp()
        self._saved_t.pop(device_id, None)
        self._checkpoints.pop(device_id, None)
        repo.delete_checkpoint(conn, device_id)

    def watermark(self, device_id: str) -> datetime | None:
        return self._marks.get(device_id)

    def hypotheses(self, device_id: str) -> list[FaultHypothesis]:
        ctx = self._devices.get(device_id)
        return classify(ctx.equipment_type, self._fleet.active(device_id)) \
            if device_id in self._fleet and ctx is not None else []

    # --- detection ------------------------------------------------------------------------------------------

    def _ingest(self, conn: psycopg.Connection, act: Actions, now: float) -> None:
        # One scan from the slowest held partition's cursor; each batch is evaluated by its device's partition
        # only if that partition's cursor has not passed it yet (exactly once across workers and hand-overs).
        held = self._cursors
        news = repo.new_batches(conn, min(held.values()), self._settings.max_batches_per_pass) if held else []
        if any(n.device_id not in self._devices for n in news):
            self._refresh(conn, now)
        readable = []
        for n in news:
            part = partition(n.device_id)
            if n.device_id not in self._devices or part not in held or n.arrival <= held[part]:
                continue
            self._received[n.device_id] = max(self._received.get(n.device_id, 0.0), n.received_at.timestamp())
            if n.clock_offset_ms is None:
                readable.append(n)  # a clock fault's readings are stored apart: nothing to evaluate
        # One query for the whole pass; each device's samples come sorted by time (the per-device order rule).
        feed: dict[str, list[tuple[float, Mapping[str, float]]]] = {}
        got = repo.batch_samples(conn, readable)
        self._ensure_many([self._devices[d] for d in got], conn)
        for device_id, samples in got.items():
            cut = self._fresh_from.get(device_id)
            if cut is not None:
                # the broken machine's readings, after the repair (sorted: they come first)
                late = next((k for k, (t, _) in enumerate(samples) if t > cut), len(samples))
                if late:
                    metrics.DIAGNOSE_LATE_SAMPLES.inc(late)
                    samples = samples[late:]
                if samples:
                    self._fresh_from.pop(device_id, None)  # a reading after the repair: the rule has done its job
            kept = in_time_order(self._fleet.last_t(device_id), samples)
            if kept:
                feed[device_id] = kept
                self._marks[device_id] = to_datetime(kept[-1][0])
                self._dirty.add(device_id)
        self._fleet.observe(feed)  # one vectorised evaluation per equipment type
        # a device with no finding and no incident looks normal: the state machine has nothing to do for it
        busy = self._fleet.with_findings() | {i.asset_id for i in self._state.incidents}
        for device_id, fed in feed.items():
            if device_id in busy:
                self._decide(act, self._devices[device_id], fed[-1][0])
        if news:
            for part in held:
                held[part] = max(held[part], news[-1].arrival)
        if self.policy.silence:
            for device_id in self._fleet.check_silence(now):
                ctx = self._devices.get(device_id)
                if ctx is not None:
                    self._decide(act, ctx, now)

    def _decide(self, act: Actions, ctx: repo.DeviceContext, t: float) -> None:
        hyps = focus(self._state, ctx.id, classify(ctx.equipment_type, self._fleet.active(ctx.id)))
        before = {i.id: i for i in self._state.incidents if i.asset_id == ctx.id}
        self._state, events = step(self._state, ctx.id, hyps, t, self.policy.incident)
        for ev in events:
            act.incident_event(ctx, ev, self._received.get(ctx.id))
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


