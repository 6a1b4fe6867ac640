"""The detectors of many devices of one equipment type, evaluated with numpy: one update per sample *step* for
the whole block instead of a Python state machine per device, signal and sample.

Why: at fleet scale (20,000 devices at 1 Hz) the per-sample scalar monitor cost ~40-170 us a sample. Here each
detector's state is an array indexed by device row (diagnostics/vector_*.py); a pass's samples are laid out as
(devices x k-th new sample) and step k advances every device that has a k-th sample at once. Findings follow
:class:`diagnostics.monitor.DeviceMonitor` exactly: per (detector, kind) key the block keeps active / severity /
started_at / reported-at / insertion order as arrays, and builds Condition/Finding objects only for devices with
an active key when someone asks (a healthy fleet costs no Python per device).

The scalar :class:`DeviceMonitor` and :class:`WearTracker` remain the checkpoint format: ``export`` writes a row
into fresh scalar objects and ``load`` reads one back, so checkpoints written before the block existed restore
unchanged, and the equivalence tests compare the two paths state for state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any, cast

import numpy as np

from diagnostics.models import Finding
from diagnostics.monitor import DeviceMonitor, ModelDetector
from diagnostics.normal_model import NormalModel
from diagnostics.rul import WearTracker, limits_from_config
from diagnostics.vector_base import NAN, opt
from diagnostics.vector_detectors import VDrift, VRate, VThreshold
from diagnostics.vector_model import VModel
from diagnostics.vector_sensor import VDropout, VRange, VSpike, VStuck

log = logging.getLogger(__name__)
Sample = tuple[float, Mapping[str, float]]
SILENCE_KEY = ("silence", "silence", ())
_VECTOR = {"ThresholdDetector": VThreshold, "RateDetector": VRate, "StuckDetector": VStuck,
           "SpikeDetector": VSpike, "RangeDetector": VRange, "DropoutDetector": VDropout}


class BlockMonitor:
    """Detector state of every device of one equipment type under one config and normal model."""

    def __init__(self, equipment_type: str, config: Mapping[str, Any] | None, model: NormalModel | None,
                 cap: int = 64) -> None:
        self.equipment_type, self.config, self.model = equipment_type, config, model
        tpl = DeviceMonitor("", equipment_type, config, model)
        self.cfg = tpl.cfg
        cols = list(self.cfg.get("signals", {}))
        cols += [s for s in (model.signals if model else ()) if s not in cols]
        self.cols = {s: j for j, s in enumerate(cols)}
        self.cap = cap
        self.vdets: list[Any] = []
        self.keys: list[tuple[int, str, tuple[str, str, tuple[str, ...]]]] = []
        self.vmodel: VModel | None = None
        for det in tpl._detectors:
            if isinstance(det, ModelDetector):
                v: Any = VModel(det, [self.cols[s] for s in det.model.signals], cap)
                self.vmodel = v
            else:
                sig = cast(Any, det).signal
                v = _VECTOR[type(det).__name__](det, self.cols[sig], cap)
            self._add(v, det.name, () if isinstance(det, ModelDetector) else (cast(Any, det).signal,))
        self.drift_sig: list[str] = []
        for sig, det in tpl._drifts.items():
            self._add(VDrift(det, self.cols[sig], cap, warm=model is None), det.name, (sig,))
            self.drift_sig.append(sig)
        self.n_det = len(tpl._detectors)
        k = len(self.keys)
        self.kact = np.zeros((k, cap), dtype=bool)
        self.ksev = np.zeros((k, cap), dtype=np.int64)
        self.kstart = np.full((k, cap), NAN)
        self.kat = np.full((k, cap), NAN)
        self.kseq = np.zeros((k, cap), dtype=np.int64)
        self.seq = 0
        self.last_t = np.full(cap, NAN)
        self.lastv = np.full((cap, len(cols)), NAN)
        self.silent: dict[int, Finding] = {}
        self.restored: dict[int, dict[tuple, Finding]] = {}  # loaded rows until their next sample
        self.is_over = np.zeros(cap, dtype=bool)  # row has an entry in silent or restored
        # wear (diagnostics/rul.py WearTracker): the open 10-minute bucket per limited signal as arrays
        self.limits = limits_from_config(self.cfg)
        self.wear_policy = WearTracker(self.limits).policy
        self.wsig = [s for s in self.limits]
        self.wb = np.full((cap, len(self.wsig)), NAN)
        self.wsum = np.zeros((cap, len(self.wsig)))
        self.wn = np.zeros((cap, len(self.wsig)))
        self.wfirst = np.full(cap, NAN)
        self.wclosed: dict[int, dict[str, list[list[float]]]] = {}
        self.rows: dict[str, int] = {}
        self.ids: list[str | None] = [None] * cap
        self._free = list(range(cap - 1, -1, -1))

    def _add(self, v: Any, name: str, signals: tuple[str, ...]) -> None:
        vi = len(self.vdets)
        self.vdets.append(v)
        for kind in v.kinds:
            self.keys.append((vi, kind, (name, kind, signals)))

    # --- membership ---------------------------------------------------------------------------------------

    def __contains__(self, device_id: str) -> bool:
        return device_id in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, device_id: str) -> int:
        """A fresh row for the device (as a newly built DeviceMonitor); returns the row."""
        if device_id in self.rows:
            return self.rows[device_id]
        if not self._free:
            self._grow(self.cap * 2)
        i = self._free.pop()
        self.rows[device_id], self.ids[i] = i, device_id
        return i

    def remove(self, device_id: str) -> None:
        i = self.rows.pop(device_id, None)
        if i is None:
            return
        for v in self.vdets:
            v.reset(i)
        if self.vmodel is not None:
            self.vmodel.stale.pop(i, None)
        self.kact[:, i], self.ksev[:, i], self.kstart[:, i], self.kat[:, i], self.kseq[:, i] = False, 0, NAN, NAN, 0
        self.last_t[i], self.lastv[i] = NAN, NAN
        self.silent.pop(i, None)
        self.restored.pop(i, None)
        self.is_over[i] = False
        self.wb[i], self.wsum[i], self.wn[i], self.wfirst[i] = NAN, 0.0, 0.0, NAN
        self.wclosed.pop(i, None)
        self.ids[i] = None
        self._free.append(i)

    def _grow(self, cap: int) -> None:
        for v in self.vdets:
            v.grow(cap)

        def more(a: np.ndarray, fill: Any, axis: int = 0) -> np.ndarray:
            shape = list(a.shape)
            shape[axis] = cap - a.shape[axis]
            return np.concatenate([a, np.full(shape, fill, dtype=a.dtype)], axis=axis)

        self.kact, self.ksev = more(self.kact, False, 1), more(self.ksev, 0, 1)
        self.kstart, self.kat, self.kseq = more(self.kstart, NAN, 1), more(self.kat, NAN, 1), more(self.kseq, 0, 1)
        self.last_t, self.lastv, self.is_over = more(self.last_t, NAN), more(self.lastv, NAN), more(self.is_over, False)
        self.wb, self.wsum, self.wn, self.wfirst = more(self.wb, NAN), more(self.wsum, 0.0), more(self.wn, 0.0), \
            more(self.wfirst, NAN)
        self.ids += [None] * (cap - self.cap)
        self._free = list(range(cap - 1, self.cap - 1, -1)) + self._free
        self.cap = cap

    # --- evaluation ---------------------------------------------------------------------------------------

    def observe(self, samples: Mapping[str, Sequence[Sample]]) -> set[str]:
        """Feed each device's new samples (time-ordered, each newer than the device's ``last_t``; the caller
        applies the time-order rule). Devices must have been ``add``-ed. Returns the devices that got a new (or
        more severe) finding, what ``DeviceMonitor.observe`` returned per sample."""
        self._raised: set[str] = set()
        devs = [(self.rows[d], s) for d, s in samples.items() if s]
        if not devs:
            return self._raised
        cols = list(self.cols)
        n, width = len(devs), max(len(s) for _, s in devs)
        rows = np.array([r for r, _ in devs], dtype=np.int64)
        lens = np.array([len(s) for _, s in devs])
        get = itemgetter(*cols) if len(cols) > 1 else (lambda v: (v[cols[0]],))
        flat = []
        for _, s in devs:
            for t, vals in s:
                try:  # one C call per sample when every signal is there (the common case)
                    flat.append((t, *get(vals)))
                except KeyError:
                    flat.append((t, *[vals.get(c, NAN) for c in cols]))
        data = np.array(flat, dtype=float)
        pos = np.repeat(np.arange(n), lens) * width + (np.arange(len(flat)) - np.repeat(np.cumsum(lens) - lens, lens))
        grid = np.full((n * width, 1 + len(cols)), NAN)
        grid[pos] = data
        cube = grid.reshape(n, width, 1 + len(cols))
        values = cube[:, :, 1:]
        values[~np.isfinite(values)] = NAN  # the scalar detectors treat inf like a missing reading
        for k in range(width):
            sel = lens > k
            if sel.all():
                self._step(rows, cube[:, k, 0], values[:, k])
            else:
                self._step(rows[sel], cube[sel, k, 0], values[sel, k])
        return self._raised

    def _step(self, ix: np.ndarray, t: np.ndarray, x: np.ndarray) -> None:
        stats: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        rz_all = None
        for v in self.vdets[: self.n_det]:
            if isinstance(v, VModel):
                stats += v.step(ix, t, x[:, v.cols])
                rz_all = v.residuals(ix)
            else:
                stats += v.step(ix, t, x[:, v.col])
        for sig, v in zip(self.drift_sig, self.vdets[self.n_det:], strict=True):
            if self.model is None:
                stats += v.step(ix, t, x[:, v.col], None)
            elif sig in self.model.signals:
                assert rz_all is not None
                stats += v.step(ix, t, x[:, v.col], rz_all[:, self.model.signals.index(sig)])
            else:  # a signal the model does not cover: its drift never steps (monitor: drift.current)
                stats += v.step(ix, t, x[:, v.col], np.full(len(ix), NAN))
        if stats:
            act = np.stack([s[0] for s in stats])
            sev = np.stack([s[1] for s in stats])
            start = np.stack([s[2] for s in stats])
            pa, ps = self.kact[:, ix], self.ksev[:, ix]
            new = act & (~pa | (sev > ps))
            self.ksev[:, ix] = np.where(new, sev, ps)
            self.kstart[:, ix] = np.where(new, start, self.kstart[:, ix])
            self.kat[:, ix] = np.where(new, t[None, :], self.kat[:, ix])
            if new.any():
                for k, j in zip(*np.nonzero(new), strict=True):
                    key, device_id = self.keys[int(k)][2], self.ids[int(ix[j])] or ""
                    self._raised.add(device_id)
                    log.info("finding", extra={"device_id": device_id, "kind": key[1], "signals": key[2]})
            first = act & ~pa
            self.kseq[:, ix] = np.where(first, self.seq + np.arange(len(stats))[:, None], self.kseq[:, ix])
            self.kact[:, ix] = act
            self.seq += len(stats)
        self.last_t[ix] = t
        self.lastv[ix] = x
        if self.silent or self.restored:
            for i in ix[self.is_over[ix]].tolist():
                self.silent.pop(i, None)
                self.restored.pop(i, None)
                self.is_over[i] = False
        self._wear(ix, t, x)

    def _wear(self, ix: np.ndarray, t: np.ndarray, x: np.ndarray) -> None:
        first = self.wfirst[ix]
        self.wfirst[ix] = np.where(np.isnan(first), t, first)
        bucket_s, history_s = self.wear_policy.bucket_s, self.wear_policy.history_s
        b = t - t % bucket_s
        for j, sig in enumerate(self.wsig):
            v = x[:, self.cols[sig]]
            ok = ~np.isnan(v)
            r, bb, vv = ix[ok], b[ok], v[ok]
            ob = self.wb[r, j]
            acc = ob == bb
            self.wsum[r[acc], j] += vv[acc]
            self.wn[r[acc], j] += 1.0
            roll = ob < bb
            for i, old, new_b in zip(r[roll].tolist(), ob[roll].tolist(), bb[roll].tolist(), strict=True):
                closed = self.wclosed.setdefault(i, {}).setdefault(sig, [])
                closed.append([old, float(self.wsum[i, j]), float(self.wn[i, j])])
                while closed and closed[0][0] < new_b - history_s:
                    closed.pop(0)
            start = np.isnan(ob) | roll
            self.wb[r[start], j], self.wsum[r[start], j], self.wn[r[start], j] = bb[start], vv[start], 1.0

    # --- reading findings ---------------------------------------------------------------------------------

    def active(self, device_id: str) -> list[Finding]:
        """As ``DeviceMonitor.active()``: the device's active findings in the order they became active."""
        i = self.rows[device_id]
        if i in self.restored:
            out = list(self.restored[i].values())
        else:
            ks = np.flatnonzero(self.kact[:, i])
            ks = ks[np.argsort(self.kseq[ks, i], kind="stable")]
            out = [self._finding(i, int(k)) for k in ks]
        if i in self.silent:
            out.append(self.silent[i])
        return out

    def has_active(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Rows with any active finding (bool per row of ``rows``, default every row)."""
        sel = slice(None) if rows is None else rows
        return self.kact[:, sel].any(axis=0) | self.is_over[sel]

    def _finding(self, i: int, k: int) -> Finding:
        vi, kind, key = self.keys[k]
        v = self.vdets[vi]
        col = getattr(v, "col", 0)
        c = v.condition(i, kind, float(self.last_t[i]), float(self.lastv[i, col]))
        return Finding(self.ids[i] or "", key[0], c.signals, c.kind, int(self.ksev[k, i]), float(self.kstart[k, i]),
                       float(self.kat[k, i]), c.score, c.evidence)

    def check_silence(self, now: float, limit: float) -> list[str]:
        """Devices quiet for ``limit`` s that were not yet reported silent (``DeviceMonitor.check_silence``)."""
        quiet = np.flatnonzero(~np.isnan(self.last_t) & (now - self.last_t >= limit))
        out = []
        for i in quiet.tolist():
            if i in self.silent:
                continue
            last = float(self.last_t[i])
            self.silent[i] = Finding(self.ids[i] or "", "silence", (), "silence", 2, last, now, (now - last) / limit,
                                     {"last_seen": last, "silent_s": now - last})
            self.is_over[i] = True
            out.append(self.ids[i] or "")
        return out

    def last_seen(self, device_id: str) -> float | None:
        return opt(self.last_t[self.rows[device_id]])

    # --- scalar objects (checkpoints, reference) --------------------------------------------------------

    def export(self, device_id: str) -> tuple[DeviceMonitor, WearTracker]:
        """The device's state as a fresh DeviceMonitor and WearTracker (what the scalar path would hold)."""
        i = self.rows[device_id]
        mon = DeviceMonitor.from_effective(device_id, self.equipment_type, self.cfg, self.model)
        for v, det in zip(self.vdets, [*mon._detectors, *mon._drifts.values()], strict=True):
            v.export(i, det)
        mon._active = {(f.detector, f.kind, () if f.detector == ModelDetector.name else f.signals)
                       if f.detector != "silence" else SILENCE_KEY: f for f in self.active(device_id)}
        mon.last_t = opt(self.last_t[i])
        return mon, self.export_wear(device_id)

    def export_wear(self, device_id: str) -> WearTracker:
        """The device's wear history as a WearTracker (for the RUL pass and checkpoints)."""
        i = self.rows[device_id]
        wear = WearTracker(self.limits)
        closed = self.wclosed.get(i, {})
        for j, sig in enumerate(self.wsig):
            rows = [list(r) for r in closed.get(sig, [])]
            if self.wb[i, j] == self.wb[i, j]:
                rows.append([float(self.wb[i, j]), float(self.wsum[i, j]), float(self.wn[i, j])])
            wear.buckets[sig] = rows
        wear.first_t = opt(self.wfirst[i])
        return wear

    def load(self, device_id: str, mon: DeviceMonitor, wear: WearTracker | None = None) -> None:
        """Take over a scalar monitor's (and wear tracker's) state, e.g. a restored checkpoint."""
        i = self.add(device_id)
        for v, det in zip(self.vdets, [*mon._detectors, *mon._drifts.values()], strict=True):
            v.load(i, det)
        index = {key: k for k, (_vi, _kind, key) in enumerate(self.keys)}
        self.kact[:, i] = False
        for pos, (key, f) in enumerate(mon._active.items()):
            if key == SILENCE_KEY:
                self.silent[i] = f
                continue
            k = index[key]
            self.kact[k, i], self.ksev[k, i], self.kstart[k, i], self.kat[k, i] = True, f.severity, f.started_at, f.at
            self.kseq[k, i] = pos - len(mon._active)  # before anything that activates later
        self.restored[i] = {k: f for k, f in mon._active.items() if k != SILENCE_KEY}
        self.is_over[i] = True
        self.last_t[i] = NAN if mon.last_t is None else mon.last_t
        if wear is not None:
            self.wfirst[i] = NAN if wear.first_t is None else wear.first_t
            closed = {}
            for j, sig in enumerate(self.wsig):
                rows = wear.buckets.get(sig, [])
                closed[sig] = [list(r) for r in rows[:-1]]
                if rows:
                    self.wb[i, j], self.wsum[i, j], self.wn[i, j] = rows[-1]
            self.wclosed[i] = closed
