"""Frozen value types of the edge side: device credentials, fault ground truth, commands.

These are the shapes other teams rely on (the diagnostics team scores its detectors against ``FaultLabel``),
so they stay plain frozen dataclasses with no behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DeviceSpec:
    """One device's identity and MQTT credentials (the broker ACL keys on ``username == device_id``)."""

    device_id: str
    equipment_type: str
    username: str
    password: str


@dataclass(frozen=True)
class FaultLabel:
    """Ground truth of one injected fault.

    ``onset_s`` is when the fault starts to develop and ``failure_s`` when the equipment reaches functional
    failure (signals clearly past alarm limits), both in simulated epoch seconds. ``remote_fixable`` says
    whether a remote ``reset`` command clears it.
    """

    device_id: str
    mode: str
    onset_s: float
    failure_s: float
    remote_fixable: bool


@dataclass(frozen=True)
class Command:
    """A remote command as received on ``qf/v1/{id}/cmd`` (times in epoch ms, as on the wire)."""

    id: str
    cmd: str
    args: dict[str, Any] = field(default_factory=dict)
    issued_at: int = 0
    expires_at: int = 0
    issued_by: str = ""


@dataclass(frozen=True)
class CommandResult:
    """The answer published on ``qf/v1/{id}/cmd/result``."""

    id: str
    ok: bool
    result: dict[str, Any]
