"""What the diagnose loop's responses (``actions.py``, ``repairs.py``) need of the live loop, and the small helpers
they share. Why a module of its own: the loop (``service.py``) imports the responses, so they must not import it
back; they see the loop only through the ``LoopView`` protocol named here."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import psycopg

from diagnostics import repository as repo
from diagnostics.incidents import (
    IncidentState,
    ServiceClocks,
    ServiceTargets,
    coverage_clock_start,
    service_clocks,
)
from diagnostics.knowledge import KnowledgeEntry
from diagnostics.models import FaultHypothesis
from diagnostics.policy import LoopPolicy
from diagnostics.remote import CommandChannel
from i18n import term


class LoopView(Protocol):
    """What the responses need of the live loop (``diagnostics.service.DiagnoseLoop`` provides it): named here so
    that the response modules do not import the loop that imports them."""

    policy: LoopPolicy
    commands: CommandChannel | None
    targets: ServiceTargets
    state: IncidentState

    @property
    def command_ttl_s(self) -> float: ...

    def device(self, device_id: str) -> repo.DeviceContext | None: ...

    def knowledge(self, equipment_type: str, mode: str) -> KnowledgeEntry | None: ...

    def reset_device(self, conn: psycopg.Connection, device_id: str, *, wear: bool = True,
                     since: datetime | None = None) -> None: ...

    def watermark(self, device_id: str) -> datetime | None: ...

    def hypotheses(self, device_id: str) -> list[FaultHypothesis]: ...

    def owns(self, device_id: str) -> bool: ...


def clock_start(ctx: repo.DeviceContext, at: datetime) -> datetime:
    """SLA clocks start when the covering contract's coverage hours open (at once inside them / no contract)."""
    return coverage_clock_start(at, ctx.coverage_days, ctx.coverage_start, ctx.coverage_end)


def corrective_clocks(ctx: repo.DeviceContext, opened: datetime, severity: int, loop: LoopView) -> ServiceClocks:
    """Service targets (from the opening) and contract deadlines (from the clock start) of a corrective job."""
    return service_clocks(opened, clock_start(ctx, opened), severity, ctx.deadlines, ctx.targets(loop.targets))


def fault_name(mode: str) -> dict[str, str]:
    """A fault's name as a nested catalogue message (``fault.<mode>``), its English label where none exists."""
    return term("fault", mode)
