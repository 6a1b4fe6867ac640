"""Pure, seeded equipment simulator: plausible signals, load cycles, developing faults with ground truth.

Deterministic for a given (seed, device_id) and the same sequence of calls, so tests and benchmarks can replay
a fleet exactly. No clock and no I/O here: the caller passes simulated time ``t`` (epoch seconds).

Equipment types and signal names are a contract with the diagnostics team (see docs/edge_agent.md).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from edge_agent.models import FaultLabel

NOMINAL: dict[str, dict[str, float]] = {
    "pump": {
        "pressure_bar": 4.0,
        "flow_lpm": 120.0,
        "motor_temp_c": 55.0,
        "vibration_mm_s": 2.0,
        "current_a": 12.0,
    },
    "chiller": {
        "supply_temp_c": 7.0,
        "return_temp_c": 12.0,
        "compressor_current_a": 40.0,
        "condenser_pressure_bar": 14.0,
        "vibration_mm_s": 1.5,
    },
    "compressor": {
        "discharge_pressure_bar": 8.0,
        "discharge_temp_c": 85.0,
        "motor_temp_c": 70.0,
        "current_a": 60.0,
        "vibration_mm_s": 2.5,
    },
}
EQUIPMENT_TYPES: tuple[str, ...] = tuple(NOMINAL)

# How strongly each signal follows load (relative change per unit of load above/below MEAN_LOAD).
# Chosen so that healthy equipment over its full load range stays well inside ALARM_LIMITS.
_LOAD_GAIN: dict[str, float] = {
    "pressure_bar": 0.2,
    "flow_lpm": 0.5,
    "motor_temp_c": 0.25,
    "vibration_mm_s": 0.2,
    "current_a": 0.6,
    "supply_temp_c": 0.05,
    "return_temp_c": 0.15,
    "compressor_current_a": 0.6,
    "condenser_pressure_bar": 0.2,
    "discharge_pressure_bar": 0.15,
    "discharge_temp_c": 0.15,
}
MEAN_LOAD = 0.65  # mid-point of the daily load cycle (fraction of rated load)
DAILY_SWING = 0.3  # +-30 % load between night (~02:00) and afternoon (~14:00) peak
DUTY_SWING = 0.05  # +-5 % short process cycle on top of the daily cycle
DUTY_PERIOD_S = 900.0  # 15-minute process cycle, typical of batch processes
NOISE_REL = 0.01  # 1 % of nominal Gaussian sensor noise: visible but far below fault effects
AMBIENT_C = 25.0  # temperature a stopped machine cools toward
COOLDOWN_S = 900.0  # thermal time constant of a stopped motor (15 min)

# Typical alarm limits (low, high); None = no limit. A fault at its failure stage crosses these clearly, so a
# threshold detector with a minimum duration finds it. vibration 7.1 mm/s is ISO 10816 zone C/D for class II.
ALARM_LIMITS: dict[str, dict[str, tuple[float | None, float | None]]] = {
    "pump": {
        "pressure_bar": (2.0, 6.0),
        "flow_lpm": (60.0, None),
        "motor_temp_c": (None, 90.0),
        "vibration_mm_s": (None, 7.1),
        "current_a": (3.0, 16.8),
    },
    "chiller": {
        "supply_temp_c": (None, 11.0),
        "return_temp_c": (None, 18.0),
        "compressor_current_a": (10.0, 56.0),
        "condenser_pressure_bar": (None, 18.0),
        "vibration_mm_s": (None, 7.1),
    },
    "compressor": {
        "discharge_pressure_bar": (4.0, 10.0),
        "discharge_temp_c": (None, 110.0),
        "motor_temp_c": (None, 90.0),
        "current_a": (15.0, 84.0),
        "vibration_mm_s": (None, 7.1),
    },
}

FAULT_MODES: tuple[str, ...] = (
    "bearing_wear",
    "seal_leak",
    "clogged_filter",
    "overheating",
    "refrigerant_leak",
    "motor_trip",
    "sensor_stuck",
    "sensor_spike",
    "sensor_drift",
)
SENSOR_FAULTS = frozenset({"sensor_stuck", "sensor_spike", "sensor_drift"})
APPLICABLE_TYPES: dict[str, frozenset[str]] = {m: frozenset(EQUIPMENT_TYPES) for m in FAULT_MODES} | {
    "seal_leak": frozenset({"pump"}),
    "refrigerant_leak": frozenset({"chiller"}),
}
# A remote reset restarts a tripped motor and recalibrates a drifting sensor; everything else needs a visit.
REMOTE_FIXABLE: dict[str, bool] = {m: m in ("motor_trip", "sensor_drift") for m in FAULT_MODES}
# Default onset -> functional failure time in simulated seconds; hours for wear, zero for sudden events.
DEFAULT_DEVELOP_S: dict[str, float] = {
    "bearing_wear": 8 * 3600.0,
    "seal_leak": 3 * 3600.0,
    "clogged_filter": 4 * 3600.0,
    "overheating": 2 * 3600.0,
    "refrigerant_leak": 4 * 3600.0,
    "motor_trip": 0.0,
    "sensor_stuck": 0.0,
    "sensor_spike": 1800.0,
    "sensor_drift": 3 * 3600.0,
}
SIGNAL_DECIMALS = 3  # resolution of a typical 16-bit transmitter at these ranges; keeps payloads small
SPIKE_FACTOR = 4.0  # a spike reads 4x nominal: physically implausible, clearly above every high limit
SPIKE_P_MIN, SPIKE_P_MAX = 0.02, 0.3  # per-sample spike probability at onset and at failure stage


@dataclass
class _Active:
    """Mutable state of one fault that is still present on the device."""

    label: FaultLabel
    signal: str | None = None  # sensor faults: which signal is affected
    stuck_value: float | None = None

    def severity(self, t: float) -> float:
        if t < self.label.onset_s:
            return 0.0
        span = self.label.failure_s - self.label.onset_s
        return 1.0 if span <= 0 else min(1.0, (t - self.label.onset_s) / span)


def daily_load(t: float) -> float:
    """Fraction of rated load at time t: low at night, afternoon peak, plus a short process cycle."""
    hour = (t % 86400.0) / 3600.0
    return (
        MEAN_LOAD
        - DAILY_SWING * math.cos(2 * math.pi * (hour - 2.0) / 24.0)
        + DUTY_SWING * math.sin(2 * math.pi * t / DUTY_PERIOD_S)
    )


class Equipment:
    """One simulated machine. ``sample(t)`` must be called with non-decreasing t."""

    def __init__(self, device_id: str, equipment_type: str, *, seed: int = 0) -> None:
        if equipment_type not in NOMINAL:
            raise ValueError(f"unknown equipment type {equipment_type!r}")
        self.device_id = device_id
        self.equipment_type = equipment_type
        self.nominal = NOMINAL[equipment_type]
        self._terms = [(n, nom, _LOAD_GAIN[n], NOISE_REL * nom) for n, nom in self.nominal.items()]
        self._rng = random.Random(f"{seed}:{device_id}:noise")
        self._fault_rng = random.Random(f"{seed}:{device_id}:faults")
        self._active: list[_Active] = []
        self.labels: list[FaultLabel] = []
        self.last: dict[str, float] = {}

    @property
    def active_faults(self) -> list[FaultLabel]:
        return [a.label for a in self._active]

    def inject(
        self, mode: str, onset_s: float, *, develop_s: float | None = None, signal: str | None = None
    ) -> FaultLabel:
        """Start a fault at ``onset_s``; failure comes ``develop_s`` later (mode default if None)."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}")
        if self.equipment_type not in APPLICABLE_TYPES[mode]:
            raise ValueError(f"{mode} does not apply to a {self.equipment_type}")
        dev = DEFAULT_DEVELOP_S[mode] if develop_s is None else max(0.0, float(develop_s))
        label = FaultLabel(self.device_id, mode, float(onset_s), float(onset_s) + dev, REMOTE_FIXABLE[mode])
        if mode in SENSOR_FAULTS and signal is None:
            signal = self._fault_rng.choice(sorted(self.nominal))
        if signal is not None and signal not in self.nominal:
            raise ValueError(f"{self.equipment_type} has no signal {signal!r}")
        self._active.append(_Active(label, signal))
        self.labels.append(label)
        return label

    def maybe_random_fault(
        self, t0: float, t1: float, rate_per_hour: float, modes: tuple[str, ...] | None = None
    ) -> FaultLabel | None:
        """Poisson fault arrivals over (t0, t1]; one fault at a time keeps the ground truth unambiguous."""
        if rate_per_hour <= 0 or t1 <= t0 or self._active:
            return None
        if self._fault_rng.random() >= 1.0 - math.exp(-rate_per_hour * (t1 - t0) / 3600.0):
            return None
        choices = [m for m in (modes or FAULT_MODES) if self.equipment_type in APPLICABLE_TYPES[m]]
        if not choices:
            return None
        mode = self._fault_rng.choice(choices)
        onset = t0 + self._fault_rng.random() * (t1 - t0)
        develop = DEFAULT_DEVELOP_S[mode] * self._fault_rng.uniform(0.5, 1.5)  # spread around the typical
        return self.inject(mode, onset, develop_s=develop)

    def repair(self) -> list[FaultLabel]:
        """A technician's repair on site: clears every active fault, remote-fixable or not."""
        cleared = [a.label for a in self._active]
        self._active = []
        return cleared

    def reset(self) -> list[FaultLabel]:
        """Remote reset/recalibration: clears the faults a reset fixes and returns them."""
        cleared = [a.label for a in self._active if a.label.remote_fixable]
        self._active = [a for a in self._active if not a.label.remote_fixable]
        return cleared

    def sample(self, t: float) -> dict[str, float]:
        """Signals at simulated time t (epoch s). Hot path of the fleet: kept to one pass when healthy."""
        dl = daily_load(t) - MEAN_LOAD
        gauss = self._rng.gauss
        v = {name: nom * (1.0 + gain * dl) + gauss(0.0, sd) for name, nom, gain, sd in self._terms}
        sensors = []
        for a in self._active:
            if t < a.label.onset_s:
                continue
            s = a.severity(t)
            if a.label.mode in SENSOR_FAULTS:
                sensors.append((a, s))
            else:
                self._apply_process_fault(v, a.label, s, t)
        # no signal goes negative, except chilled water that may legitimately approach 0 C
        if sensors:
            v = {n: x if n == "supply_temp_c" else max(0.0, x) for n, x in v.items()}
            for a, s in sensors:
                self._apply_sensor_fault(v, a, s)
            v = {n: round(x, SIGNAL_DECIMALS) for n, x in v.items()}
        else:
            v = {n: round(x if n == "supply_temp_c" else max(0.0, x), SIGNAL_DECIMALS) for n, x in v.items()}
        self.last = v
        return v

    def _apply_process_fault(self, v: dict[str, float], label: FaultLabel, s: float, t: float) -> None:
        et, mode = self.equipment_type, label.mode
        temp = "motor_temp_c" if "motor_temp_c" in v else None
        if mode == "bearing_wear":
            v["vibration_mm_s"] += 8.0 * s**1.5  # gradual rise, +8 mm/s at failure (> 7.1)
            late = max(0.0, (s - 0.4) / 0.6)  # temperature follows once wear is advanced
            if temp:
                v[temp] += 45.0 * late
            else:
                v["compressor_current_a"] *= 1.0 + 0.2 * late
        elif mode == "seal_leak":
            v["pressure_bar"] *= 1.0 - 0.65 * s
            v["flow_lpm"] *= 1.0 - 0.6 * s
        elif mode == "clogged_filter":
            if et == "pump":
                v["pressure_bar"] *= 1.0 + 0.7 * s
                v["current_a"] *= 1.0 + 0.5 * s
                v["flow_lpm"] *= 1.0 - 0.6 * s
            elif et == "compressor":
                v["discharge_temp_c"] += 40.0 * s
                v["current_a"] *= 1.0 + 0.3 * s
                v["discharge_pressure_bar"] *= 1.0 + 0.1 * s
            else:
                v["condenser_pressure_bar"] *= 1.0 + 0.45 * s
                v["compressor_current_a"] *= 1.0 + 0.2 * s
                v["supply_temp_c"] += 2.0 * s
        elif mode == "overheating":
            if et == "chiller":
                v["condenser_pressure_bar"] *= 1.0 + 0.5 * s
                v["supply_temp_c"] += 3.0 * s
            else:
                v["motor_temp_c"] += 50.0 * s
                if et == "compressor":
                    v["discharge_temp_c"] += 40.0 * s
        elif mode == "refrigerant_leak":
            v["supply_temp_c"] += 8.0 * s
            v["compressor_current_a"] *= 1.0 + 0.5 * s
        elif mode == "motor_trip" and t >= label.failure_s:
            cool = math.exp(-(t - label.failure_s) / COOLDOWN_S)
            for name, x in list(v.items()):
                if name.endswith("current_a") or name in (
                    "flow_lpm",
                    "pressure_bar",
                    "discharge_pressure_bar",
                ):
                    v[name] = 0.0
                elif name == "vibration_mm_s":
                    v[name] = 0.05
                elif name in ("motor_temp_c", "discharge_temp_c"):
                    v[name] = AMBIENT_C + (x - AMBIENT_C) * cool
                elif name == "supply_temp_c":
                    v[name] = v["return_temp_c"]  # no cooling: supply water warms to return temperature
                elif name == "condenser_pressure_bar":
                    v[name] = 6.0  # refrigerant pressures equalise when the compressor stops

    def _apply_sensor_fault(self, v: dict[str, float], a: _Active, s: float) -> None:
        sig = a.signal
        assert sig is not None
        nom = self.nominal[sig]
        if a.label.mode == "sensor_stuck":
            if a.stuck_value is None:
                a.stuck_value = round(v[sig], 2)
            v[sig] = a.stuck_value
        elif a.label.mode == "sensor_spike":
            if self._fault_rng.random() < SPIKE_P_MIN + (SPIKE_P_MAX - SPIKE_P_MIN) * s:
                v[sig] = nom * SPIKE_FACTOR
        else:  # sensor_drift: towards (and 60 % beyond) the nearest alarm limit
            low, high = ALARM_LIMITS[self.equipment_type][sig]
            target = high if high is not None else low
            assert target is not None
            v[sig] += s * 1.6 * (target - nom)
