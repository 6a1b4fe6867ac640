"""On-site repairs as the diagnose loop sees them, in the loop's transaction: a completed visit resets the
device's detectors and starts a verification; the repair is verified from telemetry (clear for the policy's
``repair_verify_s``) before the incident closes, or marked recurred when the fault came back first.

Why apart from ``actions.py``: these steps read completed visits and the loop's telemetry watermarks, and never
create visits or commands, so they need none of the response machinery (see ``loop_view.LoopView``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import psycopg

from core.events import record_timeline
from diagnostics import repository as repo
from diagnostics.incidents import IncidentState
from diagnostics.loop_view import LoopView, fault_name
from i18n import Message

log = logging.getLogger(__name__)


def record_repairs(conn: psycopg.Connection, loop: LoopView, now: float, at: datetime,
                   completed: Sequence[Mapping[str, Any]]) -> None:
    """Completed visits: reset the device's detectors, then verify the repair from telemetry."""
    for r in completed:
        ctx = loop.device(r["device_id"])
        repo.insert_repair(conn, work_order_id=r["work_order_id"], incident_id=r["incident_id"],
                           device_id=r["device_id"], completed_at=r["completed_at"], at=at)
        loop.reset_device(conn, r["device_id"], since=r["completed_at"])
        try:
            inc = loop.state.get(str(r["incident_id"]))
            if inc.state in ("work_order", "detected", "remote_fix_attempted"):
                loop.state = loop.state.with_incident(
                    replace(inc, state="resolved_onsite", resolved_at=r["completed_at"].timestamp(), updated_at=now))
        except KeyError:
            pass
        if ctx is not None:
            record_timeline(conn, customer_id=ctx.customer_id, device_id=ctx.id, at=at,
                            kind="detectors_reset", incident_id=int(r["incident_id"]),
                            work_order_id=int(r["work_order_id"]),
                            message=Message("summary.repairReported", {"device": ctx.name}),
                            data={"verify_s": loop.policy.repair_verify_s})
        log.info("detectors reset after repair", extra={"device_id": r["device_id"],
                                                        "work_order_id": r["work_order_id"]})


def check_repairs(conn: psycopg.Connection, loop: LoopView, at: datetime) -> None:
    """Decide the repairs under verification on this worker's devices: recurred (a new incident opened on the
    same fault after the visit), verified (enough clear telemetry since the visit) or not yet."""
    for r in repo.verifying_repairs(conn):
        ctx = loop.device(r["device_id"])
        if ctx is None or not loop.owns(ctx.id):
            continue
        incident_id, wo = int(r["incident_id"]), int(r["work_order_id"])
        again = loop.state.open_for(ctx.id, r["fault_mode"])
        if again is not None and again.opened_at >= r["completed_at"].timestamp():
            repo.decide_repair(conn, wo, "recurred", at)
            record_timeline(conn, customer_id=ctx.customer_id, device_id=ctx.id, at=at,
                            kind="repair_not_verified", incident_id=incident_id, work_order_id=wo,
                            message=Message("summary.repairRecurred", {"mode": fault_name(r["fault_mode"]),
                                                                       "device": ctx.name}),
                            data={"new_incident_id": again.id})
            continue
        mark = loop.watermark(ctx.id)
        verified_at = r["completed_at"].timestamp() + loop.policy.repair_verify_s
        if mark is None or mark.timestamp() < verified_at:
            continue  # not enough telemetry since the visit yet
        if any(h.mode == r["fault_mode"] for h in loop.hypotheses(ctx.id)):
            continue  # still looks faulty: the state machine will open (and this will see) a new incident
        repo.decide_repair(conn, wo, "verified", at)
        record_timeline(conn, customer_id=ctx.customer_id, device_id=ctx.id, at=at,
                        kind="repair_verified", incident_id=incident_id, work_order_id=wo,
                        message=Message("summary.repairVerified", {"device": ctx.name}),
                        data={"normal_for_s": mark.timestamp() - r["completed_at"].timestamp()})
        if repo.close_incident(conn, incident_id, at):
            # out of the state machine: a recurrence is a new incident with its own visit, not a reopening
            loop.state = IncidentState(tuple(i for i in loop.state.incidents if i.id != str(incident_id)))
            record_timeline(conn, customer_id=ctx.customer_id, device_id=ctx.id, at=at,
                            kind="incident_closed", incident_id=incident_id, work_order_id=wo,
                            message=Message("summary.incidentClosedFault", {"mode": fault_name(r["fault_mode"]),
                                                                            "device": ctx.name}))
