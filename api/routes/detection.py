"""``GET /api/detection/health``: is detection keeping up? For the route board's "Detection" strip (issue #19).

Computed from the database on each request (a few indexed reads), so it is right even while the diagnose process
is stopped: which devices have committed data diagnose has not evaluated and how long it has waited, the open
``detection_stalled`` alarm (raised by the watchdog beside the API, diagnostics/watchdog.py), and the devices whose
clock is faulty (their readings are stored apart, docs/contracts.md "Device clocks"). Staff only: it names
every customer's devices.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from api.auth import Staff
from api.deps import Conn
from api.routes.board import now_of
from diagnostics import repository as repo
from diagnostics.watchdog import ALARM, stalled_devices

router = APIRouter(tags=["board"])


class StalledDevice(BaseModel):
    device_id: str
    waiting_s: float
    batches: int


class ClockFault(BaseModel):
    device_id: str
    name: str
    since: Any
    offset_s: float | None


class DetectionHealth(BaseModel):
    threshold_s: float
    alarm: dict[str, Any] | None
    stalled: list[StalledDevice]
    clock_faults: list[ClockFault]


@router.get("/api/detection/health", response_model=DetectionHealth)
def detection_health(request: Request, conn: Conn, _: Staff) -> DetectionHealth:
    """Stalled devices (data waiting longer than ``stall_alarm_s`` wall seconds), the open alarm, clock faults."""
    settings = request.app.state.settings.diagnostics
    clock = getattr(request.app.state, "clock", None)
    speed = float(getattr(clock, "speed", 1.0))
    now = now_of(request).timestamp()
    pending = repo.pending_by_device(conn)
    stalls = {d: max(0.0, (now - oldest.timestamp()) / speed) for d, oldest, _ in pending}
    batches = {d: n for d, _, n in pending}
    stalled = [StalledDevice(device_id=d, waiting_s=round(stalls[d], 1), batches=batches[d])
               for d in stalled_devices(stalls, settings.stall_alarm_s)]
    alarm = next((dict(a) for a in repo.open_alarms(conn) if a["kind"] == ALARM), None)
    faults = [ClockFault(**f) for f in repo.clock_faults(conn)]
    return DetectionHealth(threshold_s=settings.stall_alarm_s, alarm=alarm, stalled=stalled, clock_faults=faults)
