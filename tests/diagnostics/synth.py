"""Tiny synthetic equipment streams for tests: nominal values scaled by a daily load plus noise."""

from __future__ import annotations

import math

import numpy as np

NOMINAL = {
    "pump": {"pressure_bar": 4.0, "flow_lpm": 120.0, "motor_temp_c": 55.0, "vibration_mm_s": 2.0, "current_a": 12.0},
    "chiller": {"supply_temp_c": 7.0, "return_temp_c": 12.0, "compressor_current_a": 40.0,
                "condenser_pressure_bar": 14.0, "vibration_mm_s": 1.5},
    "compressor": {"discharge_pressure_bar": 8.0, "discharge_temp_c": 85.0, "motor_temp_c": 70.0,
                   "current_a": 60.0, "vibration_mm_s": 2.5},
}
LOAD_GAIN = 0.15  # +-15 % swing of every signal with load over the day
NOISE = 0.005  # 0.5 % relative noise
STEP_S = 10.0  # sample period in the synthetic streams


def load(t: float) -> float:
    return math.sin(2 * math.pi * t / 86400.0)


def healthy(equipment: str, t: float, rng: np.random.Generator) -> dict[str, float]:
    g = 1 + LOAD_GAIN * load(t)
    return {s: v * g * (1 + rng.normal(0, NOISE)) for s, v in NOMINAL[equipment].items()}


def stream(equipment: str, start: float, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        t = start + i * STEP_S
        yield t, healthy(equipment, t, rng)


# fault -> {signal: relative change at full severity}; ramp over the fault's duration unless sudden
FAULTS = {
    ("pump", "bearing_wear"): {"vibration_mm_s": 1.5, "motor_temp_c": 0.15},
    ("pump", "seal_leak"): {"pressure_bar": -0.35, "flow_lpm": -0.3},
    ("pump", "clogged_filter"): {"pressure_bar": 0.3, "current_a": 0.2, "flow_lpm": -0.3},
    ("pump", "overheating"): {"motor_temp_c": 0.5},
    ("pump", "motor_trip"): {"current_a": -1.0, "flow_lpm": -1.0, "pressure_bar": -1.0},
    ("chiller", "refrigerant_leak"): {"supply_temp_c": 0.6, "compressor_current_a": 0.25},
    ("chiller", "bearing_wear"): {"vibration_mm_s": 1.5},
    ("chiller", "clogged_filter"): {"condenser_pressure_bar": 0.45, "compressor_current_a": 0.2, "supply_temp_c": 0.25},
    ("compressor", "clogged_filter"): {"discharge_temp_c": 0.25, "current_a": 0.1},
    ("compressor", "overheating"): {"motor_temp_c": 0.4, "discharge_temp_c": 0.1},
    ("compressor", "bearing_wear"): {"vibration_mm_s": 1.5, "motor_temp_c": 0.1},
    ("compressor", "motor_trip"): {"current_a": -1.0, "discharge_pressure_bar": -1.0},
}


def apply_fault(values: dict[str, float], equipment: str, mode: str, progress: float) -> dict[str, float]:
    """Apply fault ``mode`` at ``progress`` in [0, 1] (1 = fully developed)."""
    out = dict(values)
    for s, rel in FAULTS[(equipment, mode)].items():
        out[s] = values[s] * (1 + rel * progress)
    return out
