"""The diagnose worker's detectors: one :class:`BlockMonitor` per (equipment type, normal model version).

Why a registry above the blocks: devices come and go (leases move, repairs reset them, models are retrained), and
the loop asks per device (active findings, last time seen, checkpoint state) while it feeds per pass. Every
device of a type is built from the same effective config (service.monitor_config), so one block per type and
model holds them all and a pass costs one numpy update per sample step per type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from diagnostics.block import BlockMonitor, Sample
from diagnostics.models import Finding
from diagnostics.monitor import DeviceMonitor
from diagnostics.normal_model import NormalModel
from diagnostics.rul import WearTracker


class Fleet:
    def __init__(self) -> None:
        self._blocks: dict[tuple[str, str | None], BlockMonitor] = {}
        self._of: dict[str, BlockMonitor] = {}

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._of

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._of))

    def __len__(self) -> int:
        return len(self._of)

    def block(self, device_id: str) -> BlockMonitor:
        return self._of[device_id]

    def add(self, device_id: str, equipment_type: str, config: Mapping[str, Any],
            model: NormalModel | None) -> BlockMonitor:
        """A fresh detector row for the device in its type's block (the block is made on first use)."""
        key = (equipment_type, model.version if model is not None else None)
        blk = self._blocks.get(key)
        if blk is None:
            blk = self._blocks[key] = BlockMonitor(equipment_type, config, model)
        self.remove(device_id)
        blk.add(device_id)
        self._of[device_id] = blk
        return blk

    def remove(self, device_id: str) -> None:
        blk = self._of.pop(device_id, None)
        if blk is not None:
            blk.remove(device_id)

    def observe(self, samples: Mapping[str, Sequence[Sample]]) -> set[str]:
        """Feed every device's new samples, one vectorised evaluation per block; returns the devices with a new
        or more severe finding."""
        per: dict[int, tuple[BlockMonitor, dict[str, Sequence[Sample]]]] = {}
        for d, s in samples.items():
            blk = self._of[d]
            per.setdefault(id(blk), (blk, {}))[1][d] = s
        raised: set[str] = set()
        for blk, part in per.values():
            raised |= blk.observe(part)
        return raised

    def active(self, device_id: str) -> list[Finding]:
        return self._of[device_id].active(device_id)

    def last_t(self, device_id: str) -> float | None:
        return self._of[device_id].last_seen(device_id)

    def with_findings(self) -> set[str]:
        """Devices with any active finding now (the rest look normal to the classifier)."""
        out: set[str] = set()
        for blk in self._blocks.values():
            rows = [i for i in blk.has_active().nonzero()[0].tolist() if blk.ids[i] is not None]
            out.update(blk.ids[i] for i in rows)  # type: ignore[misc]
        return out

    def check_silence(self, now: float) -> list[str]:
        """Devices that just went silent (each block's ``silence_s``)."""
        out: list[str] = []
        for blk in self._blocks.values():
            out += blk.check_silence(now, float(blk.cfg.get("silence_s", 300)))
        return out

    def export(self, device_id: str) -> tuple[DeviceMonitor, WearTracker]:
        return self._of[device_id].export(device_id)

    def wear(self, device_id: str) -> WearTracker:
        return self._of[device_id].export_wear(device_id)

    def load(self, device_id: str, mon: DeviceMonitor, wear: WearTracker | None) -> None:
        self._of[device_id].load(device_id, mon, wear)
