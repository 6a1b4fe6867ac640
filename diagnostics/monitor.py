"""Per-device streaming monitor: runs the configured detectors and turns conditions into findings."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from diagnostics import shift
from diagnostics.config import equipment_config
from diagnostics.detectors import (
    Condition,
    Cusum,
    Detector,
    DriftDetector,
    RateDetector,
    ThresholdDetector,
    severity_from_score,
)
from diagnostics.models import Finding
from diagnostics.normal_model import NormalModel
from diagnostics.sensor_health import DropoutDetector, RangeDetector, SpikeDetector, StuckDetector

log = logging.getLogger(__name__)
SENSOR_FAULT_KINDS = frozenset({"stuck", "spike", "out_of_range", "dropout"})


class ModelDetector:
    """Multivariate deviation from the learned normal model, confirmed per the type's ``model.confirm``.

    ``cusum`` (default, load-varying fleet equipment): CUSUM on log(normal-model score). ``shift`` (steady-state
    equipment, e.g. test rigs): EWMA shift distance of the standardised signals against ``shift_limit``, with
    minimum duration and hold (:mod:`diagnostics.shift`). A model stored before shift statistics existed falls
    back to ``cusum`` with a warning rather than going blind.
    """

    name = "model"

    def __init__(self, model: NormalModel, *, cusum_k: float, cusum_h: float, clear: float,
                 residual_z: float, confirm: str = "cusum", shift_alpha: float | None = None,
                 shift_limit: float = shift.LIMIT, shift_min_duration_s: float = shift.MIN_DURATION_S,
                 shift_hold_s: float = shift.HOLD_S) -> None:
        # shift_alpha is a training-time parameter (read by train_normal_model); accepted here so one config
        # section describes the whole model, the tracker uses the alpha the model was fitted with.
        if confirm not in ("cusum", "shift"):
            raise ValueError(f"model.confirm must be 'cusum' or 'shift', not {confirm!r}")
        if confirm == "shift" and model.shift_alpha is None:
            log.warning("model has no shift statistics, confirming with cusum",
                        extra={"model_version": model.version})
            confirm = "cusum"
        self.model, self.residual_z, self.confirm = model, residual_z, confirm
        self._cusum = Cusum(cusum_k, cusum_h, clear)
        self._tracker = shift.ShiftTracker(model) if confirm == "shift" else None
        self._shift = shift.ShiftAlarm(shift_limit, shift_min_duration_s, shift_hold_s)
        self._since: float | None = None
        self.last_residuals: dict[str, float] = {}
        self._last: list[Condition] = []

    def step(self, t: float, values: Mapping[str, float]) -> list[Condition]:
        if any(not math.isfinite(float(values.get(s, math.nan))) for s in self.model.signals):
            self.last_residuals = {}
            return self._last  # incomplete sample: nothing new to say, keep what is active
        ms = self.model.score(values)
        self.last_residuals = ms.residual_z
        if self._tracker is not None:
            distance = self._tracker.step([float(values[s]) for s in self.model.signals])
            alarm = self._shift.step(t, distance)
            score = distance / self._shift.limit
            since = self._shift.since
        else:
            alarm = self._cusum.step(math.log(max(ms.score, 1e-9))) > 0
            score, since = ms.score, t
        if alarm and self._since is None:
            self._since = since
        elif not alarm:
            self._since = None
        self._last = self._current(score)
        return self._last

    def _current(self, score: float) -> list[Condition]:
        shift_z = self._tracker.last_z if self._tracker is not None else None
        return model_conditions(self.model, self.confirm, self.residual_z, self._since, score,
                                self.last_residuals, shift_z)


def model_conditions(model: NormalModel, confirm: str, residual_z: float, since: float | None, score: float,
                     rz: Mapping[str, float], smoothed_z: Any) -> list[Condition]:
    """The model detector's active condition and its evidence (shared with the vectorised detector)."""
    if since is None:
        return []
    shift_z = None
    if smoothed_z is not None:
        shift_z = {s: float(v) for s, v in zip(model.signals, smoothed_z)}
    # name the signals that tripped this confirmation: under "shift" the smoothed z says which signals
    # moved (on a steady rig a fault moves signals together, so residuals would blur it), else residuals
    basis = shift_z if shift_z is not None else rz
    off = sorted((s for s in basis if abs(basis[s]) >= residual_z), key=lambda s: -abs(basis[s]))
    signals = tuple(off) or (max(basis, key=lambda s: abs(basis[s])),)
    evidence: dict[str, Any] = {"residual_z": {s: round(v, 2) for s, v in rz.items()},
                                "direction": {s: "up" if basis[s] > 0 else "down" for s in signals},
                                "model_version": model.version, "confirm": confirm}
    if shift_z is not None:
        evidence["shift_z"] = {s: round(v, 2) for s, v in shift_z.items()}
    return [Condition("model_deviation", signals, severity_from_score(score), since, score, evidence)]


def build_detectors(cfg: Mapping[str, Any], model: NormalModel | None) -> tuple[list[Detector], dict[str, DriftDetector]]:
    dets: list[Detector] = []
    drifts: dict[str, DriftDetector] = {}
    for sig, sc in cfg.get("signals", {}).items():
        if "range" in sc:
            dets.append(RangeDetector(sig, low=sc["range"][0], high=sc["range"][1]))
        if "threshold" in sc:
            dets.append(ThresholdDetector(sig, **sc["threshold"]))
        if "rate" in sc:
            dets.append(RateDetector(sig, **{**cfg.get("rate", {}), **sc["rate"]}))
        if sc.get("drift"):
            params = {**cfg.get("drift", {}), **(sc["drift"] if isinstance(sc["drift"], Mapping) else {})}
            drifts[sig] = DriftDetector(sig, **params)
        if sc.get("stuck", True) is not False:
            dets.append(StuckDetector(sig, **{**cfg.get("stuck", {}), **(sc.get("stuck") or {})}))
        if sc.get("spike", True) is not False:
            dets.append(SpikeDetector(sig, **{**cfg.get("spike", {}), **(sc.get("spike") or {})}))
        dets.append(DropoutDetector(sig, gap_s=sc.get("gap_s", cfg.get("gap_s", 120))))
    if model is not None:
        dets.append(ModelDetector(model, **cfg.get("model", {})))
    return dets, drifts


class DeviceMonitor:
    """All detectors of one device. Feed samples in time order; read findings and active conditions."""

    def __init__(self, device_id: str, equipment_type: str, config: Mapping[str, Any] | None = None,
                 model: NormalModel | None = None) -> None:
        self._build(device_id, equipment_type, equipment_config(equipment_type, config), model)

    @classmethod
    def from_effective(cls, device_id: str, equipment_type: str, cfg: dict[str, Any],
                       model: NormalModel | None) -> DeviceMonitor:
        """A fresh monitor from an already effective config (``other.cfg``), without re-merging the defaults:
        the block path exports a monitor per checkpoint, and the merge was most of that cost."""
        mon = cls.__new__(cls)
        mon._build(device_id, equipment_type, cfg, model)
        return mon

    def _build(self, device_id: str, equipment_type: str, cfg: dict[str, Any], model: NormalModel | None) -> None:
        self.device_id, self.equipment_type, self.model = device_id, equipment_type, model
        self.cfg = cfg
        self._detectors, self._drifts = build_detectors(self.cfg, model)
        self._model_det = next((d for d in self._detectors if isinstance(d, ModelDetector)), None)
        self._active: dict[tuple[str, str, tuple[str, ...]], Finding] = {}
        self.last_t: float | None = None

    def observe(self, t: float, values: Mapping[str, float]) -> list[Finding]:
        """Process one sample; returns findings that became active or got more severe now."""
        self.last_t = t
        self._active.pop(("silence", "silence", ()), None)
        new: list[Finding] = []
        seen: set[tuple[str, str, tuple[str, ...]]] = set()
        for det in self._detectors:
            new += self._apply(det.name, det.step(t, values), t, seen)
        for sig, drift in self._drifts.items():
            if self._model_det is None:
                conds = drift.step(t, values)
            elif sig in self._model_det.last_residuals:
                conds = drift.step(t, values, self._model_det.last_residuals[sig])
            else:  # incomplete sample: no residual, keep the drift state as it is
                conds = drift.current(t)
            new += self._apply(drift.name, conds, t, seen)
        for key in [k for k in self._active if k not in seen and k[0] != "silence"]:
            del self._active[key]
        for f in new:
            log.info("finding", extra={"device_id": self.device_id, "kind": f.kind, "signals": f.signals})
        return new

    def _apply(self, name: str, conds: list[Condition], t: float, seen: set) -> list[Finding]:
        out = []
        for c in conds:
            # the model names whichever signals are off right now; that set wanders, the condition does not
            key = (name, c.kind, () if name == ModelDetector.name else c.signals)
            seen.add(key)
            prev = self._active.get(key)
            f = Finding(self.device_id, name, c.signals, c.kind, c.severity, c.started_at, t, c.score, c.evidence)
            if prev is None or c.severity > prev.severity:
                out.append(f)
                self._active[key] = f
            else:
                self._active[key] = Finding(prev.device_id, name, c.signals, c.kind, prev.severity,
                                            prev.started_at, prev.at, c.score, c.evidence)
        return out

    def check_silence(self, now: float) -> list[Finding]:
        """Call periodically with the current time: a device quiet for ``silence_s`` yields one finding."""
        limit = float(self.cfg.get("silence_s", 300))
        key = ("silence", "silence", ())
        if self.last_t is None or now - self.last_t < limit:
            return []
        if key in self._active:
            return []
        f = Finding(self.device_id, "silence", (), "silence", 2, self.last_t, now, (now - self.last_t) / limit,
                    {"last_seen": self.last_t, "silent_s": now - self.last_t})
        self._active[key] = f
        return [f]

    def active(self) -> list[Finding]:
        """Conditions active now (latest score/evidence, first-reported severity unless it rose)."""
        return list(self._active.values())
