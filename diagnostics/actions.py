"""What the diagnose loop does about incident events, in the loop's transaction.

Opening: write the incident with its explanation (hypothesis evidence and knowledge-base cause/steps) and SLA,
then respond: a remote command when the knowledge base names one and the device is online, else a work order
(skills, parts, estimated minutes from the knowledge base) and the customer notification. Remote attempts are
verified from telemetry: the incident state machine resolves them after the condition stayed clear; a failed,
unanswered or unverified attempt becomes a work order. Remote commands are recorded through
``core.commands.issue`` (as the API does) and published by the loop only after this transaction commits, so
ingest always finds the command a device answers.

Escalation (severity rose): deadlines tightened to the new severity's SLA (incident and live work order; the
dispatch loop re-plans on the work-order change), the customer is told, and the timeline says so. A completed
visit resets the device's detectors; the repair is then verified from telemetry before the incident closes
(``repairs.py``). What this needs of the loop is the ``LoopView`` protocol (``loop_view.py``), so nothing here
imports ``service.py``, which imports this module.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import psycopg

from core import commands as core_commands
from core.clock import to_datetime
from core.contracts import CommandResult
from core.events import queue_notification, record_timeline, summary_text
from diagnostics import repairs
from diagnostics import repository as repo
from diagnostics.incidents import (
    OPEN_STATES,
    Incident,
    IncidentEvent,
    IncidentState,
    InvalidTransition,
    sla_class,
    transition,
)
from diagnostics.knowledge import KnowledgeEntry
from diagnostics.loop_view import LoopView, clock_start, corrective_clocks, fault_name
from diagnostics.remote import COMMANDS, ISSUER
from i18n import Message, phrase

log = logging.getLogger(__name__)
DEFAULT_SKILLS = ("mechanical",)  # a fault mode missing from the knowledge base: a generalist looks first
DEFAULT_REPAIR_MIN = 120  # and gets a typical two-hour slot

__all__ = ["DEFAULT_REPAIR_MIN", "DEFAULT_SKILLS", "Actions", "LoopView", "Outgoing"]


@dataclass(frozen=True)
class Outgoing:
    """A remote command recorded in this pass, to publish once the pass has committed."""

    command: core_commands.IssuedCommand
    incident_id: int


class Actions:
    def __init__(self, conn: psycopg.Connection, loop: LoopView, now: float) -> None:
        self.conn, self.loop, self.now, self.at = conn, loop, now, to_datetime(now)
        self.opened = 0
        self.outgoing: list[Outgoing] = []
        # (incident id, deciding reading's receive time, onset of the first finding or None)
        self.detections: list[tuple[int, float, float | None]] = []
        self._touched: dict[int, datetime] = {}

    # --- incident events ------------------------------------------------------------------------------------

    def incident_event(self, ctx: repo.DeviceContext, ev: IncidentEvent, received_at: float | None = None) -> None:
        inc = ev.incident
        if ev.kind == "opened":
            self._opened(ctx, inc, received_at)
            return
        if not inc.id.isdigit():
            return  # never persisted (deduplicated against a row another writer holds)
        self._save(inc)
        if ev.kind == "reopened":
            self._timeline(ctx, inc, "incident_reopened",
                           Message("summary.incidentReopened", {"mode": fault_name(inc.mode), "device": ctx.name}),
                           {"reopen_count": inc.reopen_count})
            # It came back after a remote fix or an auto-resolution: a reset does not hold, send a person.
            self._visit(ctx, inc, "recurred after it had cleared", Message("notify.remoteFix.recurred"))
        elif ev.kind == "escalated":
            self._escalated(ctx, inc, ev.detail)
        elif ev.kind == "auto_resolved":
            kind = "remote_fix_verified" if inc.state == "resolved_remote" else "incident_auto_resolved"
            self._timeline(ctx, inc, kind,
                           Message("summary.incidentNormal", {"mode": fault_name(inc.mode), "device": ctx.name}),
                           {"normal_for_s": ev.detail.get("normal_for_s")})

    def touch(self, inc: Incident) -> None:
        self._touched[int(inc.id)] = to_datetime(inc.last_abnormal_at)  # written once per pass: flush_touches

    def flush_touches(self) -> None:
        if self._touched:
            repo.touch_incidents(self.conn, self._touched)
            self._touched = {}

    def _save(self, inc: Incident, evidence: dict[str, Any] | None = None) -> None:
        repo.update_incident(self.conn, id=int(inc.id), status=inc.state, severity=inc.severity,
                             confidence=inc.confidence, last_abnormal_at=to_datetime(inc.last_abnormal_at),
                             reopen_count=inc.reopen_count, at=self.at, evidence=evidence)

    def _timeline(self, ctx: repo.DeviceContext, inc: Incident, kind: str, summary: str | Message,
                  data: dict[str, Any] | None = None, work_order_id: int | None = None) -> None:
        """``summary`` as a catalogue message where converted (shown in the reader's language, migration 0821)."""
        message, text = (summary, None) if isinstance(summary, Message) else (None, summary)
        record_timeline(self.conn, customer_id=ctx.customer_id, device_id=ctx.id, at=self.at, kind=kind,
                        summary=text, message=message, incident_id=int(inc.id), work_order_id=work_order_id,
                        data=data)

    def _opened(self, ctx: repo.DeviceContext, inc: Incident, received_at: float | None = None) -> None:
        entry = self.loop.knowledge(ctx.equipment_type, inc.mode)
        severity = max(inc.severity, entry.severity if entry else 1)
        sla = corrective_clocks(ctx, self.at, severity, self.loop)
        why: dict[str, Any] = {"hypothesis": inc.evidence, "confidence": inc.confidence}
        if received_at is not None:  # where detection latency is measured from (bench.detect_latency, metrics)
            why["detection"] = {"deciding_reading_at": to_datetime(inc.last_abnormal_at).isoformat(),
                                "received_at": to_datetime(received_at).isoformat()}
        if entry is not None:
            why |= {"probable_cause": entry.probable_cause, "diagnostic_steps": list(entry.diagnostic_steps),
                    "skills": list(entry.skills), "parts": [{"sku": p.sku, "qty": p.qty} for p in entry.parts],
                    "repair_minutes": entry.repair_minutes, "remote_fix": entry.remote_fix}
        said = Message("summary.incidentSuspected", {
            "mode": fault_name(inc.mode), "device": ctx.name, "pct": round(inc.confidence * 100),
            "hasCause": "yes" if entry is not None else "no",
            "cause": phrase("knowledgeCause", entry.probable_cause) if entry else ""})
        summary = summary_text(said)  # English beside the message, for readers that do not translate
        db_id = repo.open_incident(
            self.conn, device_id=ctx.id, customer_id=ctx.customer_id, fault_mode=inc.mode, detector="monitor",
            severity=severity, summary=summary, summary_message=said.to_json(), evidence=why, opened_at=self.at,
            confidence=inc.confidence,
            response_due=sla.response_due, onsite_due=sla.onsite_due, repair_due=sla.repair_due,
            response_target=sla.response_target, onsite_target=sla.onsite_target, repair_target=sla.repair_target)
        if db_id is None:  # another writer (or a previous life of this loop) holds the open incident: adopt it
            existing = repo.find_open(self.conn, ctx.id, inc.mode)
            self._rename(inc.id, str(existing) if existing is not None else inc.id)
            return
        inc = replace(inc, severity=severity)
        self._rename(inc.id, str(db_id), severity)
        inc = replace(inc, id=str(db_id))
        self.opened += 1
        if received_at is not None:
            self.detections.append((db_id, received_at, inc.onset_at))
        self._timeline(ctx, inc, "incident_opened", said, {"confidence": inc.confidence, "severity": severity})
        log.info("incident opened", extra={"incident_id": db_id, "device_id": ctx.id, "fault_mode": inc.mode})
        command = COMMANDS.get(entry.remote_fix or "") if entry is not None else None
        if command is not None and self.loop.policy.remote_fix and self.loop.commands is not None and ctx.online:
            self._remote(ctx, inc, entry.remote_fix or "", command)  # type: ignore[union-attr]
        elif entry is not None and entry.severity <= 1:
            self._timeline(ctx, inc, "incident_watching",
                           Message("summary.watching", {"mode": fault_name(inc.mode), "device": ctx.name}),
                           {"watch_s": self.loop.policy.watch_s})
        else:
            self._visit(ctx, inc, None)

    def check_watch(self) -> None:
        """Minor incidents get their visit once the watch period is over and the fault is still there (or at once
        when it grew severe). One that has cleared by then stays watched: the state machine closes it after its
        quiet period, or it comes back and gets its visit then."""
        for inc in self.loop.state.incidents:
            if inc.state != "detected" or not inc.id.isdigit():
                continue
            ctx = self.loop.device(inc.asset_id)
            if ctx is None:
                continue
            if inc.severity >= 3 or (self.now - inc.opened_at >= self.watch_window(ctx) and not self._clear(inc)):
                self._visit(ctx, inc, None)

    def watch_window(self, ctx: repo.DeviceContext) -> float:
        """How long a minor fault is watched: the policy's watch, but never more than leaves the travel reserve
        of the on-site target (the contract's own target when it has one)."""
        pol = self.loop.policy
        target_s = ctx.targets(self.loop.targets).on_site_min * 60.0
        return max(0.0, min(pol.watch_s, target_s - pol.travel_reserve_s))

    def _clear(self, inc: Incident) -> bool:
        """The condition is not present in the newest telemetry evaluated for the device."""
        mark = self.loop.watermark(inc.asset_id)
        return mark is not None and mark.timestamp() > inc.last_abnormal_at

    def _stayed_clear(self, inc: Incident) -> bool:
        """Clear for the state machine's quiet period, in telemetry time (a silent device verifies nothing)."""
        mark = self.loop.watermark(inc.asset_id)
        return mark is not None and mark.timestamp() - inc.last_abnormal_at >= self.loop.policy.incident.resolve_after_s

    def _rename(self, old: str, new: str, severity: int | None = None) -> None:
        st = self.loop.state
        self.loop.state = IncidentState(tuple(
            replace(i, id=new, severity=severity or i.severity) if i.id == old else i for i in st.incidents))

    def _step(self, incident_id: str, to: str, detail: dict[str, Any] | None = None) -> Incident | None:
        try:
            self.loop.state, ev = transition(self.loop.state, incident_id, to, self.now, detail)
        except (InvalidTransition, KeyError) as exc:
            log.warning("incident transition skipped", extra={"incident_id": incident_id, "error": str(exc)})
            return None
        return ev.incident

    # --- responses ------------------------------------------------------------------------------------------

    def _remote(self, ctx: repo.DeviceContext, inc: Incident, fix: str, command: tuple[str, dict]) -> None:
        upd = self._step(inc.id, "remote_fix_attempted", {"command": fix})
        if upd is None:
            return
        pol = self.loop.policy
        expires = self.now + self.loop.command_ttl_s
        name, args = command
        # Recorded like an operator's command (commands row + timeline), published after this pass commits.
        issued = core_commands.issue(self.conn, device_id=ctx.id, cmd=name, args=dict(args), issued_by=ISSUER,
                                     user_id=None, issued_at=self.at, expires_at=to_datetime(expires))
        cid = issued.id
        repo.insert_attempt(self.conn, incident_id=int(inc.id), device_id=ctx.id, command_id=cid, command=fix,
                            sent_at=self.at, expires_at=to_datetime(expires),
                            verify_until=to_datetime(self.now + pol.verify_s))
        self._save(upd, {"remote_fix": {"command": fix, "command_id": cid}})
        self._timeline(ctx, upd, "remote_fix_sent",
                       Message("summary.remoteFixSent", {"mode": fault_name(inc.mode), "device": ctx.name, "fix": fix}),
                       {"command_id": cid, "command": fix})
        self.outgoing.append(Outgoing(issued, int(inc.id)))

    def _visit(self, ctx: repo.DeviceContext, inc: Incident, reason: str | None,
               why: Message | None = None) -> None:
        """``why``: ``reason`` as a catalogue message, for the customer's e-mail in their language."""
        upd = self._step(inc.id, "work_order", {"reason": reason} if reason else None)
        if upd is None:
            return
        entry: KnowledgeEntry | None = self.loop.knowledge(ctx.equipment_type, inc.mode)
        skills = list(entry.skills) if entry else list(DEFAULT_SKILLS)
        minutes = entry.repair_minutes if entry else DEFAULT_REPAIR_MIN
        parts = [{"sku": p.sku, "qty": p.qty} for p in entry.parts] if entry else []
        # The contract deadline runs from the visit's decision (as before); the target stays the incident's own,
        # from its opening (create_work_order reads it): a remote attempt first does not restart the promise.
        sla = sla_class(upd.severity, ctx.deadlines)
        wo = repo.create_work_order(self.conn, parts=parts, incident_id=int(inc.id), device_id=ctx.id,
                                    customer_id=ctx.customer_id, required_skills=skills, estimated_minutes=minutes,
                                    lat=ctx.lat, lon=ctx.lon, created_at=self.at,
                                    onsite_due=clock_start(ctx, self.at) + timedelta(minutes=sla.on_site_min))
        self._save(upd, {"work_order": {"skills": skills, "parts": parts, "estimated_minutes": minutes,
                                        **({"reason": reason} if reason else {})}})
        if wo is None:
            return  # a live work order exists for this incident already
        why_text = why.to_json() | {"text": reason} if why else {"key": "", "text": reason or ""}
        self._timeline(ctx, upd, "work_order_created",
                       Message("summary.visitNeeded", {"mode": fault_name(inc.mode), "device": ctx.name,
                                                       "hasReason": "yes" if reason else "no", "reason": why_text}),
                       {"skills": skills, "parts": parts}, wo)
        queue_notification(self.conn, customer_id=ctx.customer_id, device_id=ctx.id, incident_id=int(inc.id),
                           at=self.at, kind="incident_detected", message=Message("notify.detected", {
                               "device": ctx.name, "fault": fault_name(inc.mode), "attempted": "yes" if reason else "no",
                               "reason": why_text}))
        log.info("work order created", extra={"incident_id": inc.id, "work_order_id": wo, "device_id": ctx.id})

    # --- remote fix outcomes --------------------------------------------------------------------------------

    def command_results(self, results: Sequence[CommandResult]) -> None:
        for r in results:
            status = "acked" if r.ok else "failed"
            row = repo.attempt_result(self.conn, r.command_id, status, self.at, {"ok": r.ok, **r.result})
            if row is None:
                continue  # not ours, or already decided (timed out)
            _, incident_id, device_id = row
            ctx = self.loop.device(device_id)
            inc = self._incident(str(incident_id))
            if ctx is None or inc is None:
                continue
            self._timeline(ctx, inc, "remote_fix_result",
                           Message("summary.remoteFixResult", {"device": ctx.name, "ok": "yes" if r.ok else "no"}),
                           {"ok": r.ok, **r.result})
            if not r.ok and inc.state == "remote_fix_attempted":
                detail = str(r.result.get("reason", "no reason given"))
                self._visit(ctx, inc, f"failed on the device ({detail})",
                            Message("notify.remoteFix.failed", {"detail": detail}))
            elif r.ok and inc.state == "remote_fix_attempted":
                self._cleared_by_device(ctx, inc, r.result)

    def _cleared_by_device(self, ctx: repo.DeviceContext, inc: Incident, result: Mapping[str, Any]) -> None:
        """The device says the command cleared this fault: start its detectors afresh, as after a repair. Why: a
        step detector latches a fall for up to an hour after the recovery, so a motor restarted in seconds still
        "looked" tripped for ~50 min and the decision window would send a technician to a running machine. The
        device's word is not taken as the fix: a fault still there re-fires within its confirmation time (well
        inside the window) and gets its visit; verification needs the quiet period in telemetry as before. Not
        done while another incident is open on the device: a fresh monitor would hide that one's evidence."""
        cleared = result.get("cleared")
        if not isinstance(cleared, list) or inc.mode not in cleared:
            return
        if any(i.asset_id == ctx.id and i.id != inc.id and i.state in OPEN_STATES for i in self.loop.state.incidents):
            return
        self.loop.reset_device(self.conn, ctx.id, wear=False)
        self._timeline(ctx, inc, "detectors_reset",
                       Message("summary.remoteCleared", {"mode": fault_name(inc.mode), "device": ctx.name}),
                       {"cleared": cleared})

    def check_attempts(self) -> None:
        """Decide remote attempts within the decision window, and keep verifying them beside the visit.

        While the incident waits on the attempt (remote_fix_attempted): no answer within the command's TTL, or
        the condition still present once ``decide_s`` has passed since the command (it never cleared, or cleared
        and came back) -> the visit is created now. A fix that cleared is left to the state machine, which
        resolves it remotely after its quiet period. Once the visit exists (work_order), the attempt is still
        verified: clear for the quiet period -> resolved remotely and the visit cancelled if nobody has set off.
        """
        pol = self.loop.policy
        for a in repo.pending_attempts(self.conn):
            if not self.loop.owns(a["device_id"]):
                continue  # another diagnose worker's device (diagnostics/leases.py)
            status = a["incident_status"]
            inc = self._incident(str(a["incident_id"]))
            ctx = self.loop.device(a["device_id"])
            if status == "resolved_remote":
                repo.close_attempt(self.conn, a["id"], "verified")
                continue
            if status not in ("remote_fix_attempted", "work_order") or inc is None or ctx is None:
                repo.close_attempt(self.conn, a["id"], "not_verified")
                continue
            timeout = a["status"] == "sent" and self.at > a["expires_at"]
            if status == "work_order":
                if a["status"] == "acked" and self._stayed_clear(inc):
                    repo.close_attempt(self.conn, a["id"], "verified")
                    self._verified_beside_visit(ctx, inc)
                elif timeout or self.at > a["verify_until"]:
                    repo.close_attempt(self.conn, a["id"], "timeout" if timeout else "not_verified")
                continue
            if timeout:
                repo.close_attempt(self.conn, a["id"], "timeout")
                self._visit(ctx, inc, "got no answer from the device", Message("notify.remoteFix.noAnswer"))
            elif self.at > a["verify_until"]:
                repo.close_attempt(self.conn, a["id"], "not_verified")
                self._visit(ctx, inc, "did not clear the condition", Message("notify.remoteFix.notCleared"))
            elif (self.at - a["sent_at"]).total_seconds() >= pol.decide_s and not self._clear(inc):
                # Not closed: verification goes on beside the visit (a late clearing may still cancel it).
                minutes = round(pol.decide_s / 60)
                self._visit(ctx, inc, f"had not cleared the condition within {minutes} minutes",
                            Message("notify.remoteFix.notClearedWithin", {"minutes": minutes}))

    def _verified_beside_visit(self, ctx: repo.DeviceContext, inc: Incident) -> None:
        """A remote fix verified after its visit was created: cancel the visit if nobody has set off (timeline,
        audit, customer told), else let the technician go on (the visit confirms the fix on site)."""
        cancelled = repo.cancel_unstarted_visit(self.conn, int(inc.id))
        if cancelled is None:
            self._timeline(ctx, inc, "remote_fix_verified",
                           Message("summary.remoteVerifiedOnTheWay", {"mode": fault_name(inc.mode), "device": ctx.name}),
                           {"visit_cancelled": False})
            return
        upd = self._step(inc.id, "resolved_remote", {"visit_cancelled": cancelled["id"]})
        if upd is None:
            return
        self._save(upd)
        wo = cancelled["id"]
        self._timeline(ctx, upd, "remote_fix_verified",
                       Message("summary.remoteVerified", {"mode": fault_name(inc.mode), "device": ctx.name}),
                       {"visit_cancelled": True}, wo)
        self._timeline(ctx, upd, "visit_cancelled",
                       Message("summary.visitCancelledRemote", {"mode": fault_name(inc.mode), "device": ctx.name}),
                       {"technician_id": cancelled["technician_id"], "visit_no": cancelled["visit_no"]}, wo)
        repo.audit(self.conn, self.at, "work_order.cancelled", "work_order", str(wo),
                   {"incident_id": int(inc.id), "reason": "remote fix verified before departure",
                    "technician_id": cancelled["technician_id"]})
        queue_notification(self.conn, customer_id=ctx.customer_id, device_id=ctx.id, incident_id=int(inc.id),
                           at=self.at, kind="visit_cancelled",
                           message=Message("notify.cancelled", {"device": ctx.name, "fault": fault_name(inc.mode)}))
        log.info("visit cancelled: remote fix verified", extra={"incident_id": inc.id, "work_order_id": wo,
                                                                "device_id": ctx.id})

    def _incident(self, incident_id: str) -> Incident | None:
        try:
            return self.loop.state.get(incident_id)
        except KeyError:
            return None

    # --- escalation -----------------------------------------------------------------------------------------

    def _escalated(self, ctx: repo.DeviceContext, inc: Incident, detail: Mapping[str, Any]) -> None:
        """Severity rose: tighter deadlines (incident and live work order), the customer told, the timeline."""
        sla = sla_class(inc.severity, ctx.deadlines)
        opened = clock_start(ctx, repo.incident_opened_at(self.conn, int(inc.id)) or to_datetime(inc.opened_at))
        due = repo.tighten_sla(self.conn, int(inc.id), response_due=opened + timedelta(minutes=sla.response_min),
                               onsite_due=opened + timedelta(minutes=sla.on_site_min),
                               repair_due=opened + timedelta(minutes=sla.repair_min))
        work_orders = repo.tighten_work_order(self.conn, int(inc.id), due["onsite_due"]) if due else []
        data = {**detail, "work_orders_retimed": work_orders}
        if due:
            data |= {k: due[k].isoformat() for k in ("response_due", "onsite_due", "repair_due")}
        self._timeline(ctx, inc, "incident_escalated",
                       Message("summary.escalated", {"mode": fault_name(inc.mode), "device": ctx.name,
                                                     "to": detail.get("to")}), data)
        queue_notification(self.conn, customer_id=ctx.customer_id, device_id=ctx.id, incident_id=int(inc.id),
                           at=self.at, kind="incident_escalated", message=Message("notify.escalated", {
                               "device": ctx.name, "fault": fault_name(inc.mode), "from": detail.get("from"),
                               "to": detail.get("to"), "hasDue": "yes" if due else "no",
                               "due": due["onsite_due"].isoformat() if due else None}))
        log.info("incident escalated", extra={"incident_id": inc.id, "device_id": ctx.id,
                                              "severity": inc.severity, "work_orders": work_orders})

    # --- on-site repairs (repairs.py) -----------------------------------------------------------------------

    def repairs(self, completed: Sequence[Mapping[str, Any]]) -> None:
        """Completed visits: reset the device's detectors, then verify the repair from telemetry."""
        repairs.record_repairs(self.conn, self.loop, self.now, self.at, completed)

    def check_repairs(self) -> None:
        """Repairs under verification: verified from telemetry, or recurred."""
        repairs.check_repairs(self.conn, self.loop, self.at)
