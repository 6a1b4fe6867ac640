"""Pure rules of the diagnose loop, shared with the benchmarks: detector config per device, which hypotheses may
drive the incident state machine, the per-device time-order rule and the organisation's service targets.

Apart from service.py because they do no I/O and bench.detect_fleet replays the loop with exactly these rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from core import metrics
from core.settings import ServiceSettings
from diagnostics.config import equipment_config
from diagnostics.incidents import OPEN_STATES, IncidentState, ServiceTargets
from diagnostics.models import FaultHypothesis
from diagnostics.normal_model import NormalModel


def service_targets(settings: ServiceSettings) -> ServiceTargets:
    """The organisation's service targets from the settings (``service.*``)."""
    return ServiceTargets(settings.response_min, settings.onsite_min, settings.repair_h * 60)


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


def in_time_order(last_t: float | None, samples: Sequence[Any]) -> list[Any]:
    """The per-device time-order rule: only samples (``(t, ...)`` tuples, sorted) newer than the newest the detectors
    saw are fed; older ones (late data, e.g. a backlog sent after live data) are counted and dropped."""
    out = []
    for s in samples:
        if last_t is not None and s[0] <= last_t:
            metrics.DIAGNOSE_LATE_SAMPLES.inc()
            continue
        out.append(s)
        last_t = s[0]
    return out
