"""Frozen value types shared by detectors, classifier and incident logic.

They carry no behaviour so they can cross process boundaries (database rows, MQTT payloads) unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One abnormal condition seen by one detector on one device.

    ``started_at`` is when the condition began (before min-duration confirmation), ``at`` when it was
    reported; ``score`` is detector-specific (how far from normal, in the detector's own units, >= 1 means
    past the alarm limit) and ``evidence`` holds the numbers a technician needs to trust it.
    """

    device_id: str
    detector: str
    signals: tuple[str, ...]
    kind: str
    severity: int
    started_at: float
    at: float
    score: float
    evidence: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class FaultHypothesis:
    """A ranked guess of the fault mode behind a set of findings, with why it was chosen."""

    mode: str
    confidence: float
    evidence: dict[str, Any]
    findings: tuple[Finding, ...]
