"""The device's own view of trouble: local limit alarms and the operating state, turned into events.

A real controller knows its alarm limits and whether its motor runs; it does not know *why* (that is the
server's diagnosis, scored against ground truth it never sees). So the agent reports what a PLC would:
``alarm_raised`` / ``alarm_cleared`` per signal and ``state_changed`` (running/stopped). Pure logic, fed one
sample at a time; no clock and no I/O.

Debounce: an alarm is raised after RAISE_SAMPLES consecutive samples past the limit and cleared only after
CLEAR_SAMPLES consecutive samples back inside it (minus a hysteresis margin). A single noisy sample or an
intermittent sensor spike therefore does not flood the timeline with raise/clear pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RAISE_SAMPLES = 3  # three in a row past a limit: a real excursion, not one noisy sample
CLEAR_SAMPLES = 30  # thirty in a row inside: an intermittent fault (spikes in 30 % of samples) stays raised
HYSTERESIS_REL = 0.05  # back inside by 5 % of nominal before a sample counts towards clearing
STOPPED_FRACTION = 0.05  # motor current below 5 % of nominal = stopped (a running motor draws far more)

Event = tuple[str, dict[str, Any]]  # (kind, data) as published on qf/v1/{id}/event


class AlarmMonitor:
    """Per-device alarm and operating-state tracker. ``update(values)`` returns the events of that sample."""

    def __init__(
        self, limits: Mapping[str, tuple[float | None, float | None]], nominal: Mapping[str, float]
    ) -> None:
        self.limits = dict(limits)
        self.nominal = dict(nominal)
        self.current_signals = [s for s in nominal if s.endswith("current_a")]
        self.active: dict[str, str] = {}  # signal -> "high"/"low" while its alarm is raised
        self._past: dict[str, int] = {}  # consecutive samples past the limit (not yet raised)
        self._inside: dict[str, int] = {}  # consecutive samples inside (while raised)
        self.state: str | None = None  # "running"/"stopped"; None until the first sample
        self._state_run = 0
        self._pending_state: str | None = None
        self._run_thresholds = [(s, STOPPED_FRACTION * self.nominal[s]) for s in self.current_signals]

    def _side(self, signal: str, value: float) -> str | None:
        low, high = self.limits.get(signal, (None, None))
        if high is not None and value > high:
            return "high"
        if low is not None and value < low:
            return "low"
        return None

    def _clearly_inside(self, signal: str, value: float) -> bool:
        low, high = self.limits.get(signal, (None, None))
        margin = HYSTERESIS_REL * self.nominal.get(signal, 0.0)
        return (high is None or value <= high - margin) and (low is None or value >= low + margin)

    def update(self, values: Mapping[str, float]) -> list[Event]:
        events: list[Event] = []
        for signal, value in values.items():
            if signal not in self.limits:
                continue
            if signal in self.active:
                if self._clearly_inside(signal, value):
                    n = self._inside.get(signal, 0) + 1
                    if n >= CLEAR_SAMPLES:
                        del self.active[signal]
                        self._inside.pop(signal, None)
                        events.append(("alarm_cleared", {"signal": signal, "value": value}))
                    else:
                        self._inside[signal] = n
                else:
                    self._inside.pop(signal, None)
                continue
            side = self._side(signal, value)
            if side is None:
                self._past.pop(signal, None)
                continue
            n = self._past.get(signal, 0) + 1
            if n >= RAISE_SAMPLES:
                self._past.pop(signal, None)
                self.active[signal] = side
                low, high = self.limits[signal]
                events.append(
                    (
                        "alarm_raised",
                        {
                            "signal": signal,
                            "value": value,
                            "side": side,
                            "limit": high if side == "high" else low,
                        },
                    )
                )
            else:
                self._past[signal] = n
        if self.current_signals:
            running = False
            for (
                s,
                threshold,
            ) in self._run_thresholds:  # a plain loop: any() over a generator cost ~1 us/sample
                if values.get(s, 0.0) > threshold:
                    running = True
                    break
            state = "running" if running else "stopped"
            if self.state is None:
                self.state = state  # the state at start-up is not a change
            elif state == self.state:
                self._pending_state, self._state_run = None, 0
            else:
                self._state_run = self._state_run + 1 if self._pending_state == state else 1
                self._pending_state = state
                if self._state_run >= RAISE_SAMPLES:
                    self.state, self._pending_state, self._state_run = state, None, 0
                    events.append(("state_changed", {"state": state}))
        return events
