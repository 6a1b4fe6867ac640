"""The diagnose loop's detector rows and their checkpoints: resume on first sight, save spread over time.

Why a separate module (a mixin of :class:`diagnostics.service.DiagnoseLoop`): resuming and saving detector state is
its own concern with its own cost profile at fleet scale (issue #17): checkpoints are written in the compact block
format (diagnostics/block_checkpoint.py, one numpy gather per block for every due device), scalar JSON checkpoints
written before it still resume (diagnostics/checkpoint.py), and a hand-over's thousands of devices are restored and
replayed in one batch per pass rather than one query and one evaluation per device.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg

from core.clock import to_datetime
from core.settings import DiagnosticsSettings
from diagnostics import block_checkpoint, checkpoint
from diagnostics import repository as repo
from diagnostics.block import BlockMonitor
from diagnostics.fleet import Fleet
from diagnostics.leases import partition
from diagnostics.loop_rules import in_time_order, monitor_config
from diagnostics.monitor import DeviceMonitor
from diagnostics.normal_model import NormalModel
from diagnostics.rul import WearTracker, limits_from_config

log = logging.getLogger("diagnostics.service")


class DetectorCheckpoints:
    """State the loop keeps (set in DiagnoseLoop.__init__/_load); declared here for the methods below."""

    _fleet: Fleet
    _settings: DiagnosticsSettings
    _config: dict | None
    _models: dict[str, NormalModel]
    _checkpoints: dict[str, repo.Checkpoint]
    _saved_t: dict[str, float | None]
    _cp_due: dict[str, float]
    _fps: dict[tuple[str, str | None], str]
    _marks: dict[str, datetime]
    _cursors: dict[int, int]
    restored: int

    def _ensure(self, ctx: repo.DeviceContext, conn: psycopg.Connection | None = None) -> None:
        """Give the device a detector row (resumed from its checkpoint when one fits) if it has none yet."""
        self._ensure_many([ctx], conn)

    def _ensure_many(self, ctxs: Sequence[repo.DeviceContext], conn: psycopg.Connection | None) -> None:
        """Detector rows for the devices that have none yet, resumed from their checkpoints when they fit. Batched
        because a hand-over brings thousands of devices into one pass: compact checkpoints are unpacked per block
        at once, and the batches a stopped process evaluated after their checkpoints are replayed with one query
        and one vectorised evaluation."""
        replay: dict[str, tuple[int, int]] = {}
        packed: dict[int, tuple[BlockMonitor, list[tuple[repo.DeviceContext, repo.Checkpoint, dict]]]] = {}
        cfgs: dict[str, dict] = {}  # one effective config per type (a merge is ~0.7 ms; a hand-over has 10,000s)
        for ctx in ctxs:
            if ctx.id in self._fleet:
                continue
            model = self._models.get(ctx.equipment_type)
            cfg = cfgs.get(ctx.equipment_type)
            if cfg is None:
                cfg = cfgs[ctx.equipment_type] = monitor_config(ctx.equipment_type, self._config, model)
                # Silence is judged against data that arrives in batches (minutes late under a scaled clock): never
                # call a device silent before the settings' staleness limit.
                cfg["silence_s"] = max(float(cfg.get("silence_s", 300)), self._settings.stale_after_s)
            blk = self._fleet.add(ctx.id, ctx.equipment_type, cfg, model)
            cp = self._checkpoints.pop(ctx.id, None)
            if cp is None:
                continue
            if cp.blob is not None:
                packed.setdefault(id(blk), (blk, []))[1].append((ctx, cp, cfg))
            elif self._resume_scalar(ctx, cfg, model, cp):
                self._resumed(ctx.id, cp, replay)
        for blk, items in packed.values():
            fp = block_checkpoint.fingerprint(blk)
            fits = [(ctx, cp, cfg) for ctx, cp, cfg in items if cp.fingerprint == fp]
            if len(fits) < len(items):
                log.info("detector checkpoints do not fit the current config/model; relearning",
                         extra={"equipment_type": blk.equipment_type, "devices": len(items) - len(fits)})
            done = set(block_checkpoint.unpack(blk, [(ctx.id, cp.blob or b"", cp.state) for ctx, cp, _ in fits]))
            for ctx, cp, cfg in fits:
                if ctx.id in done:
                    self._resumed(ctx.id, cp, replay)
                else:
                    log.warning("detector checkpoint unreadable; relearning", extra={"device_id": ctx.id})
                    self._fleet.add(ctx.id, ctx.equipment_type, cfg, blk.model)  # a fresh row again
        if conn is not None and replay:
            self._replay(conn, replay)

    def monitor_state(self, device_id: str) -> tuple[DeviceMonitor, WearTracker] | None:
        """The device's detector and wear state as the scalar objects a checkpoint stores (None: not watched)."""
        return self._fleet.export(device_id) if device_id in self._fleet else None

    # --- detector checkpoints -------------------------------------------------------------------------------

    def _fingerprint(self, mon: DeviceMonitor, wear: WearTracker, cfg: Mapping[str, Any],
                     model: NormalModel | None) -> str:
        """The state shape's fingerprint, computed once per equipment type and model version: every monitor of a
        type is built from the same config (monitor_config), and the shape is fixed at construction."""
        key = (mon.equipment_type, model.version if model else None)
        fp = self._fps.get(key)
        if fp is None:
            fp = checkpoint.fingerprint(mon, checkpoint.fingerprint(wear), cfg, model.version if model else None)
            self._fps[key] = fp
        return fp

    def _resume_scalar(self, ctx: repo.DeviceContext, cfg: Mapping[str, Any], model: NormalModel | None,
                       cp: repo.Checkpoint) -> bool:
        """Restore a scalar (format 1, JSON) checkpoint into the device's fresh row when it fits: restored into the
        scalar objects, then loaded into the block. Checkpoints written before the compact format still resume."""
        device_id = ctx.id
        mon = DeviceMonitor(device_id, ctx.equipment_type, cfg, model)
        wear = WearTracker(limits_from_config(mon.cfg))
        if cp.fingerprint != self._fingerprint(mon, wear, mon.cfg, model):
            log.info("detector checkpoint does not fit the current config/model; relearning",
                     extra={"device_id": device_id})
            return False
        try:
            checkpoint.restore(mon, cp.state["monitor"])
            checkpoint.restore(wear, cp.state["wear"])
            self._fleet.load(device_id, mon, wear)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            log.warning("detector checkpoint unreadable; relearning", extra={"device_id": device_id,
                                                                             "error": str(exc)[:200]})
            self._fleet.add(device_id, ctx.equipment_type, cfg, model)  # a fresh row again
            return False
        return True

    def _resumed(self, device_id: str, cp: repo.Checkpoint, replay: dict[str, tuple[int, int]]) -> None:
        """Bookkeeping for a restored row; the device's batches that arrived after the checkpoint and before the
        partition's cursor (evaluated by a process that then stopped) are due for replay."""
        self._saved_t[device_id] = self._fleet.last_t(device_id)
        self.restored += 1
        cursor = self._cursors.get(partition(device_id), 0)
        if cp.arrival is not None and cp.arrival < cursor:
            replay[device_id] = (cp.arrival, cursor)

    def _replay(self, conn: psycopg.Connection, spans: Mapping[str, tuple[int, int]]) -> None:
        """Feed restored devices what they missed, so each ends where the stopped process was (its decisions were
        committed then: only the detector state is rebuilt here)."""
        missed = [b for b in repo.missed_batches(conn, spans) if b.clock_offset_ms is None]
        feed = {}
        for device_id, samples in repo.batch_samples(conn, missed).items():
            kept = in_time_order(self._fleet.last_t(device_id), samples)
            if kept:
                feed[device_id] = kept
        self._fleet.observe(feed)

    def _save_checkpoints(self, conn: psycopg.Connection, now: float, force: bool = False,
                          parts: frozenset[int] | None = None) -> int:
        """Checkpoint the devices whose periodic checkpoint is due (all of them, or those of ``parts``, when
        forced) in the compact format: one numpy gather per block for all of them (block_checkpoint.py)."""
        wall = time.monotonic()
        every = self._settings.checkpoint_every_s
        due: dict[int, tuple[BlockMonitor, list[str]]] = {}
        for device_id in self._fleet:
            if parts is not None and partition(device_id) not in parts:
                continue
            if not force:
                at = self._cp_due.get(device_id)
                if at is None:  # first sight: due somewhere in the coming interval, the same place every time
                    at = self._cp_due[device_id] = wall + every * (zlib.crc32(device_id.encode()) % 997) / 997
                if at > wall:
                    continue
                self._cp_due[device_id] = wall + every
            last_t = self._fleet.last_t(device_id)
            if device_id not in self._marks or last_t is None or \
                    (not force and self._saved_t.get(device_id) == last_t):
                continue
            blk = self._fleet.block(device_id)
            due.setdefault(id(blk), (blk, []))[1].append(device_id)
        rows = []
        for blk, ids in due.values():
            fp = block_checkpoint.fingerprint(blk)
            for device_id, (blob, extra) in zip(ids, block_checkpoint.pack(blk, ids), strict=True):
                rows.append(repo.Checkpoint(device_id, fp, self._marks[device_id], extra,
                                            self._cursors.get(partition(device_id), 0), blob))
                self._saved_t[device_id] = self._fleet.last_t(device_id)
        if rows:
            repo.save_checkpoints(conn, rows, to_datetime(now))
        return len(rows)
