"""Rule-based fault classification over findings: which fault mode explains what the detectors see.

Why rules, not a trained classifier: there is no labelled fault history yet, each rule is a sentence a
service engineer can check ("seal leak = pressure and flow both fall, current does not rise"), and rules
live in ``fault_rules.json`` so they change without code. Sensor faults are recognised first because a
broken sensor would otherwise be mistaken for a process fault on that signal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from diagnostics.models import FaultHypothesis, Finding

W_REQUIRE = 0.6  # share of confidence earned by the rule's required signal directions
W_SUPPORT = 0.25  # share earned by supporting (optional) signals
W_SUDDEN = 0.15  # share earned by matching the expected onset (sudden vs gradual)
P_AGAINST = 0.35  # penalty per signal moving the way the rule says it should not
MIN_CONFIDENCE = 0.2  # hypotheses weaker than this are noise, not worth a technician's reading time
SENSOR_CONF = {"stuck": 0.9, "spike": 0.8, "out_of_range": 0.85, "dropout": 0.8}  # near-certain signatures
SENSOR_MODE = {"stuck": "sensor_stuck", "spike": "sensor_spike", "out_of_range": "sensor_drift",
               "dropout": "sensor_dropout"}
SUDDEN_KINDS = frozenset({"rate_fall", "rate_rise"})
SENSOR_KINDS = frozenset(SENSOR_MODE)
# A spiking sensor spikes again: one lone spike is not a fault. The spike detector's limit (8 robust z) is judged
# against a 60-sample median/MAD, whose spread estimate is itself noisy: healthy Gaussian noise crosses it once per
# ~2e7 samples (4.6e-8 per sample, Monte Carlo), ~400 times a day on 20,000 devices x 5 signals at 1 Hz, and 100 x
# as often while the window fills (4.8e-6 at 30 samples). Each of those opened a sensor_spike incident on a healthy
# device (bench.pipeline at 20,000 devices: 2-5 a run; its offline replay, seed 2: 7, all in the first 20 s of
# judging). Two on one signal within the detector's hold (10 min) are ~1e-12 by chance; the simulator's spiking
# sensor spikes on 2-30 % of its samples (its incident now comes at the second: median 55 s after onset at 1 Hz,
# was 32 s).
SPIKE_REPEAT = 2
LONE_SPIKE_CONF = 0.3  # listed as a hypothesis, under the incident floor (IncidentPolicy.min_confidence 0.4)


@lru_cache(maxsize=1)
def default_rules() -> dict[str, Any]:
    return json.loads(resources.files("diagnostics").joinpath("fault_rules.json").read_text())


def _directions(f: Finding) -> dict[str, str]:
    d = f.evidence.get("direction")
    if isinstance(d, Mapping):
        return {s: str(v) for s, v in d.items()}
    if isinstance(d, str):
        return {s: d for s in f.signals}
    return {}


def _window(fs: Sequence[Finding]) -> dict[str, float]:
    return {"from": min(f.started_at for f in fs), "to": max(f.at for f in fs)}


def _lone_spike(f: Finding) -> bool:
    """A spike finding that has not repeated (yet): not evidence that the sensor is broken."""
    return f.kind == "spike" and int(f.evidence.get("count", SPIKE_REPEAT)) < SPIKE_REPEAT


def _sensor_hypotheses(findings: Sequence[Finding]) -> list[FaultHypothesis]:
    out = []
    for kind, mode in SENSOR_MODE.items():
        fs = [f for f in findings if f.kind == kind]
        if fs:
            conf = LONE_SPIKE_CONF if all(_lone_spike(f) for f in fs) else SENSOR_CONF[kind]
            out.append(FaultHypothesis(mode, conf, {
                "signals": sorted({s for f in fs for s in f.signals}), "window": _window(fs),
                "why": f"{kind} on the sensor signal", "details": [dict(f.evidence) for f in fs[:3]]}, tuple(fs)))
    return out


def classify(equipment_type: str, findings: Sequence[Finding],
             rules: Mapping[str, Any] | None = None) -> list[FaultHypothesis]:
    """Rank fault-mode hypotheses for one asset's current findings (best first)."""
    rules = rules if rules is not None else default_rules()
    hyps = _sensor_hypotheses(findings)
    sensor_signals = {s for f in findings if f.kind in SENSOR_KINDS and not _lone_spike(f) for s in f.signals}
    # A lone spike's one wild reading has pushed its signal's drift, model and rate detectors, so their findings on
    # that signal are no evidence either; a threshold alarm is (it needs the limit held for a minimum duration). A
    # ramp through the spike limit can still leave a lone spike behind, and hiding its threshold alarm for the
    # spike's hold (10 min) would hide the developing fault.
    spiked = {s for f in findings if _lone_spike(f) for s in f.signals}
    process = [f for f in findings if f.kind not in SENSOR_KINDS and f.kind != "silence"]
    if any(f.kind == "silence" for f in findings):
        fs = [f for f in findings if f.kind == "silence"]
        hyps.append(FaultHypothesis("communication_loss", 0.7, {"window": _window(fs), "why": "no data"}, tuple(fs)))
    sudden = any(f.kind in SUDDEN_KINDS for f in process)
    if sudden:
        # A step change (trip) pulls the robust operating-point fit off: residual-based evidence on the
        # untouched signals then points the wrong way, so direct step evidence alone decides.
        process = [f for f in process if f.kind in SUDDEN_KINDS or f.kind.startswith("threshold_")]
    moves: dict[str, set[str]] = {}
    dev: dict[str, float] = {}
    for f in process:
        ignored = sensor_signals if f.kind.startswith("threshold_") else sensor_signals | spiked
        for s, d in _directions(f).items():
            if s in ignored:
                continue  # a broken sensor's reading is not evidence about the process
            moves.setdefault(s, set()).add(d)
            dev[s] = max(dev.get(s, 0.0), abs(f.score))
    for rule in rules.get("equipment", {}).get(equipment_type, []):
        req, sup, against = rule.get("require", {}), rule.get("support", {}), rule.get("against", {})
        matched = [s for s, d in req.items() if d in moves.get(s, ())]
        if not matched:
            continue
        conf = W_REQUIRE * len(matched) / len(req)
        if sup:
            conf += W_SUPPORT * sum(d in moves.get(s, ()) for s, d in sup.items()) / len(sup)
        else:
            conf += W_SUPPORT * len(matched) / len(req)
        if "sudden" in rule:
            conf += W_SUDDEN if rule["sudden"] == sudden else 0.0
        else:
            conf += W_SUDDEN / 2
        contradictions = [s for s, d in {**req, **sup}.items() if moves.get(s) and d not in moves[s]]
        opposed = [s for s, d in against.items() if d in moves.get(s, ())]
        conf -= P_AGAINST * (len(contradictions) + len(opposed))
        if len(matched) < len(req):
            conf *= 0.5  # a missing required symptom halves the belief, it does not erase it
        if conf < MIN_CONFIDENCE:
            continue
        used = tuple(f for f in process if set(f.signals) & set(req) | set(f.signals) & set(sup))
        hyps.append(FaultHypothesis(rule["mode"], round(min(conf, 1.0), 3), {
            "signals": {s: sorted(moves[s]) for s in moves if s in req or s in sup},
            "matched": matched, "missing": [s for s in req if s not in matched],
            "contradicting": contradictions + opposed, "sudden": sudden,
            "how_far": {s: round(dev[s], 2) for s in matched},
            "window": _window(used) if used else None}, used))
    lone = _lone_drift(process, sensor_signals | spiked)
    if lone is not None:
        hyps.append(lone)
    return sorted(hyps, key=lambda h: -h.confidence)


def _lone_drift(process: Sequence[Finding], sensor_signals: set[str]) -> FaultHypothesis | None:
    """One signal drifting while every correlated signal stays normal points at the sensor, not the machine."""
    drifting = [f for f in process if f.kind.startswith("drift_") or f.kind == "model_deviation"]
    signals = {s for f in process for s in f.signals} - sensor_signals
    if len(signals) != 1 or not drifting or any(f.kind in SUDDEN_KINDS for f in process):
        return None
    (sig,) = signals
    return FaultHypothesis("sensor_drift", 0.45, {"signals": [sig], "window": _window(drifting),
                                                  "why": "only this signal left normal; correlated signals did not"},
                           tuple(drifting))
