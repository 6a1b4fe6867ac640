"""The work-order lifecycle beyond the happy path, dispatcher's side: cancel, reschedule, hold and resume.

Why a module of its own: these are decisions people make about a job (a dispatcher on the board, a technician
who finds the part missing), not the optimiser's; each one changes the job, the incident's fate and the SLA
clocks together, so each is one function that writes all of it in the caller's transaction: the guarded status
change (dispatch/lifecycle.sql), the pause that stops or does not stop the clock (as the contract says:
``sla_pause_rules``, the contract's own rule, else its tier's default), the timeline entry and the audit row.

Idempotent: every transition is an UPDATE guarded by the statuses it may leave. A repeated request (double click,
a phone replaying its queue) finds the job already there and returns ``changed=False``; a request the job's
status does not allow raises :class:`LifecycleConflict` (HTTP 409) with the reason, bad input
:class:`LifecycleInvalid` (422, with the field). The dispatch loop sees every change through its change cursor.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from core import audit
from core.events import queue_notification, record_timeline
from core.sql import Queries
from dispatch.models import LifecycleOutcome
from i18n import Message
from spares import service as spares_flow

Q = Queries(__file__, "lifecycle.sql")

HOLD_KINDS = ("on_hold", "awaiting_parts")
# A window further ahead than this is a new appointment, not a reschedule of today's job.
MAX_WINDOW_AHEAD = timedelta(days=60)
MIN_WINDOW = timedelta(minutes=15)
MAX_NOTE = 500


class LifecycleNotFound(LookupError):
    """No such work order (or, for a technician, not theirs: indistinguishable on purpose)."""


class LifecycleConflict(Exception):
    """The job's status does not allow this step (HTTP 409); ``reason`` says why and what to do instead."""

    def __init__(self, reason: str, status: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class LifecycleInvalid(ValueError):
    """Bad input (HTTP 422): ``field`` and ``reason``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _row(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchone()


def _rows(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def _state(conn: psycopg.Connection, work_order_id: int, technician_id: int | None = None,
           actor: audit.Actor | None = None) -> dict[str, Any]:
    """The job, locked. For a technician: only their own (assigned to them, or the hold they started)."""
    state = _row(conn, Q.order_state, {"work_order_id": work_order_id})
    own = state is not None and (technician_id is None or state["technician_id"] == technician_id or (
        actor is not None and state["status"] == "on_hold" and state["hold_by"] == actor.name))
    if state is None or not own:
        raise LifecycleNotFound(f"work order {work_order_id} not found")
    return state


def _note(note: str | None) -> str | None:
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise LifecycleInvalid("note", f"at most {MAX_NOTE} characters")
    return note


def _pauses_sla(conn: psycopg.Connection, work_order_id: int, kind: str) -> tuple[bool, str | None]:
    row = _row(conn, Q.pause_applies, {"work_order_id": work_order_id, "kind": kind})
    assert row is not None
    return bool(row["pauses_sla"]), row["contract_code"]


def _timeline(conn: psycopg.Connection, state: dict[str, Any], at: datetime, kind: str, message: Message,
              data: dict[str, Any], work_order_id: int | None = None) -> None:
    """A transition on the record, as a catalogue message (shown in the reader's language; English in summary)."""
    record_timeline(conn, customer_id=state["customer_id"], device_id=state["device_id"], at=at, kind=kind,
                    message=message, incident_id=state["incident_id"],
                    work_order_id=work_order_id or state["id"], data=data)


def _reason(code: str, label: str) -> dict[str, str]:
    """A cancel reason as a nested message: the board's catalogue name for it (board.lifecycle.reason<Code>),
    else the label stored with it (a reason added later, without a catalogue entry)."""
    return {"key": "board.lifecycle.reason" + "".join(w.title() for w in code.split("_")), "text": label}


def _release(conn: psycopg.Connection, state: dict[str, Any], at: datetime) -> None:
    """The job no longer holds a technician or parts: the parts held for it go back, the technician is free."""
    spares_flow.release_work_order(conn, int(state["id"]), at.timestamp())
    if state["technician_id"] is not None:
        conn.execute(Q.free_idle_technician, {"technician_id": state["technician_id"]})


def _end_pauses(conn: psycopg.Connection, work_order_id: int, at: datetime, actor: audit.Actor,
                windows: bool) -> timedelta:
    """End the running hold (and, with ``windows``, an unopened customer window); the clock time to give back."""
    shift = timedelta(0)
    for p in _rows(conn, Q.end_pauses, {"work_order_id": work_order_id, "at": at, "actor": actor.name,
                                        "windows": windows}):
        if p["pauses_sla"] and p["kind"] in HOLD_KINDS:
            shift += p["ended_at"] - p["started_at"]
    return shift


def cancel_reasons(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return _rows(conn, Q.cancel_reasons, {})


def cancel(conn: psycopg.Connection, work_order_id: int, *, reason: str, note: str | None, actor: audit.Actor,
           at: datetime) -> LifecycleOutcome:
    """Cancel the visit. The reason decides the incident's fate: closed with it (customer withdrew, duplicate,
    fixed without a visit), or left open with a fresh work order back in the queue (same visit number and
    clocks: a cancelled visit was no visit)."""
    reasons = {r["code"]: r for r in cancel_reasons(conn)}
    if reason not in reasons:
        raise LifecycleInvalid("reason", f"one of {sorted(reasons)}")
    note = _note(note)
    if reason == "other" and note is None:
        raise LifecycleInvalid("note", "say why when the reason is 'other'")
    state = _state(conn, work_order_id)
    row = _row(conn, Q.cancel, {"work_order_id": work_order_id, "reason": reason, "note": note, "at": at})
    if row is None:
        if state["status"] == "cancelled" and state["cancel_reason"] == reason:
            return LifecycleOutcome(work_order_id, "cancel", False, "cancelled")
        raise LifecycleConflict(_cannot("cancel", state), state["status"])
    _end_pauses(conn, work_order_id, at, actor, windows=True)
    _release(conn, state, at)
    closes = bool(reasons[reason]["closes_incident"])
    requeued: int | None = None
    if closes:
        closed = _row(conn, Q.close_incident, {"incident_id": state["incident_id"], "at": at}) is not None
    else:
        closed = False
        new = _row(conn, Q.requeue, {"work_order_id": work_order_id, "at": at})
        requeued = int(new["id"]) if new else None
    label = reasons[reason]["label"]
    data = {"reason": reason, "note": note, "by": actor.name, "incident_closed": closed,
            "requeued_work_order_id": requeued, "technician_id": state["technician_id"]}
    why = _reason(reason, label)
    _timeline(conn, state, at, "work_order_cancelled", Message("summary.cancelled", {"reason": why}), data)
    if closed:
        _timeline(conn, state, at, "incident_closed", Message("summary.incidentClosed", {"reason": why}),
                  {"reason": reason})
    elif requeued is not None:
        _timeline(conn, state, at, "work_order_requeued", Message("summary.requeued"),
                  {"previous_work_order_id": work_order_id}, work_order_id=requeued)
    audit.record(conn, actor, "work_order.cancel", "work_order", str(work_order_id),
                 {**data, "before": state["status"]}, at=at)
    queue_notification(conn, customer_id=state["customer_id"], device_id=state["device_id"],
                       incident_id=state["incident_id"], at=at, kind="visit_cancelled",
                       message=Message("notify.visitCancelled" if closed else "notify.visitCancelledRequeued",
                                       {"device": state["device_name"]}))
    return LifecycleOutcome(work_order_id, "cancel", True, "cancelled", incident_closed=closed,
                            requeued_work_order_id=requeued)


def validate_window(earliest: datetime, latest: datetime, now: datetime) -> None:
    """A window the customer chose must be one a technician can still keep."""
    if earliest.tzinfo is None or latest.tzinfo is None:
        raise LifecycleInvalid("earliest_start", "give times with their zone (e.g. 2026-12-07T09:00+08:00)")
    if latest < earliest + MIN_WINDOW:
        raise LifecycleInvalid("latest_start", f"must be at least {int(MIN_WINDOW.total_seconds() // 60)} min "
                                               "after earliest_start")
    if latest <= now:
        raise LifecycleInvalid("latest_start", "the window has already passed")
    if earliest > now + MAX_WINDOW_AHEAD:
        raise LifecycleInvalid("earliest_start", f"at most {MAX_WINDOW_AHEAD.days} days ahead")


def reschedule(conn: psycopg.Connection, work_order_id: int, *, earliest: datetime, latest: datetime,
               note: str | None, actor: audit.Actor, at: datetime) -> LifecycleOutcome:
    """Move the visit to the window the customer chose: the technician (if any) is released and the optimiser
    starts the service inside [earliest, latest] (a hard window). SLA: when the contract pauses for customer
    windows, the time from now to the window's opening is paused and arriving inside the window is on time
    (docs/kpis.md); otherwise the clocks run on and the job may be late by the contract's count."""
    validate_window(earliest, latest, at)
    note = _note(note)
    state = _state(conn, work_order_id)
    if state["kind"] != "corrective":
        raise LifecycleConflict("a preventive visit is planned inside its own window; change the plan instead",
                                state["status"])
    resumed = False
    if state["status"] == "on_hold":  # "the part comes Thursday, come Thursday 9-12": resume into the window
        resume(conn, work_order_id, actor=actor, at=at)
        resumed = True
    pauses, contract = _pauses_sla(conn, work_order_id, "customer_window")
    row = _row(conn, Q.reschedule, {"work_order_id": work_order_id, "earliest": earliest, "latest": latest,
                                    "pauses_sla": pauses})
    if row is None:
        if state["status"] == "open" and state["appointment_start"] == earliest and state["appointment_end"] == latest:
            return LifecycleOutcome(work_order_id, "reschedule", False, "open")
        raise LifecycleConflict(_cannot("reschedule", state), state["status"])
    _end_pauses(conn, work_order_id, at, actor, windows=True)
    if earliest > at:
        conn.execute(Q.insert_pause, {"work_order_id": work_order_id, "incident_id": state["incident_id"],
                                      "kind": "customer_window", "note": note, "pauses_sla": pauses,
                                      "started_at": at, "ended_at": earliest, "window_end": latest,
                                      "actor": actor.name, "request_id": None})
    if not resumed:
        _release(conn, state, at)
    data = {"earliest_start": earliest.isoformat(), "latest_start": latest.isoformat(), "note": note,
            "by": actor.name, "sla_paused": pauses, "contract": contract, "technician_id": state["technician_id"],
            "previous_window": [state["appointment_start"].isoformat(), state["appointment_end"].isoformat()]
            if state["appointment_start"] else None}
    _timeline(conn, state, at, "work_order_rescheduled",
              Message("summary.rescheduled", {"earliest": earliest, "latest": latest,
                                              "paused": "yes" if pauses and earliest > at else "no"}), data)
    audit.record(conn, actor, "work_order.reschedule", "work_order", str(work_order_id),
                 {**data, "before": state["status"]}, at=at)
    queue_notification(conn, customer_id=state["customer_id"], device_id=state["device_id"],
                       incident_id=state["incident_id"], at=at, kind="visit_rescheduled",
                       message=Message("notify.visitRescheduled", {"device": state["device_name"],
                                                                   "earliest": earliest, "latest": latest}))
    return LifecycleOutcome(work_order_id, "reschedule", True, "open", sla_paused=pauses,
                            onsite_due=row["onsite_due"])


def hold(conn: psycopg.Connection, work_order_id: int, *, kind: str, note: str | None, actor: audit.Actor,
         at: datetime, technician_id: int | None = None, request_id: UUID | None = None) -> LifecycleOutcome:
    """Put the job on hold (the customer asked to wait, no access) or awaiting parts. The optimiser leaves it out
    until it is resumed; the SLA clocks stop if the contract says so for this kind of pause. ``technician_id``:
    a technician acting on their own job (only theirs; the caller allows them 'awaiting_parts' only).
    ``request_id``: the phone's id for the tap; a replay of it changes nothing whatever happened since."""
    if kind not in HOLD_KINDS:
        raise LifecycleInvalid("kind", f"one of {list(HOLD_KINDS)}")
    note = _note(note)
    if request_id is not None:
        seen = _row(conn, Q.pause_by_request, {"request_id": request_id})
        if seen is not None:
            if seen["work_order_id"] != work_order_id or seen["started_by"] != actor.name or seen["kind"] != kind:
                raise LifecycleConflict("request_id already used for another request", "")
            state = _state(conn, work_order_id)
            return LifecycleOutcome(work_order_id, "hold", False, state["status"], hold_kind=state["hold_kind"])
    state = _state(conn, work_order_id, technician_id, actor)
    row = _row(conn, Q.hold, {"work_order_id": work_order_id, "tid": technician_id})
    if row is None:
        if state["status"] == "on_hold" and state["hold_kind"] == kind:
            return LifecycleOutcome(work_order_id, "hold", False, "on_hold", hold_kind=kind)
        raise LifecycleConflict(_cannot("hold", state, kind), state["status"])
    pauses, contract = _pauses_sla(conn, work_order_id, kind)
    conn.execute(Q.insert_pause, {"work_order_id": work_order_id, "incident_id": state["incident_id"], "kind": kind,
                                  "note": note, "pauses_sla": pauses, "started_at": at, "ended_at": None,
                                  "window_end": None, "actor": actor.name, "request_id": request_id})
    _release(conn, state, at)
    data = {"kind": kind, "note": note, "by": actor.name, "sla_paused": pauses, "contract": contract,
            "technician_id": state["technician_id"]}
    _timeline(conn, state, at, f"work_order_{kind}",
              Message("summary.hold", {"kind": kind, "hasNote": "yes" if note else "no", "note": note or "",
                                       "paused": "yes" if pauses else "no"}), data)
    audit.record(conn, actor, f"work_order.{kind}", "work_order", str(work_order_id),
                 {**data, "before": state["status"]}, at=at)
    return LifecycleOutcome(work_order_id, "hold", True, "on_hold", hold_kind=kind, sla_paused=pauses)


def resume(conn: psycopg.Connection, work_order_id: int, *, actor: audit.Actor, at: datetime) -> LifecycleOutcome:
    """Back in the queue ('open'): the optimiser plans it again at the next pass. If the hold paused the SLA
    clock, the job's on-site deadline and target move by the paused time."""
    state = _state(conn, work_order_id)
    if state["status"] != "on_hold":
        if state["status"] in ("open", "assigned", "en_route", "on_site"):
            return LifecycleOutcome(work_order_id, "resume", False, state["status"])
        raise LifecycleConflict(_cannot("resume", state), state["status"])
    shift = _end_pauses(conn, work_order_id, at, actor, windows=False)
    row = _row(conn, Q.resume, {"work_order_id": work_order_id, "shift": shift})
    assert row is not None  # locked FOR UPDATE above and on hold
    data = {"by": actor.name, "hold_kind": state["hold_kind"], "paused_s": round(shift.total_seconds()),
            "onsite_due": row["onsite_due"].isoformat()}
    _timeline(conn, state, at, "work_order_resumed",
              Message("summary.resumed", {"paused": "yes" if shift else "no",
                                          "minutes": round(shift.total_seconds() / 60)}), data)
    audit.record(conn, actor, "work_order.resume", "work_order", str(work_order_id), data, at=at)
    return LifecycleOutcome(work_order_id, "resume", True, "open", sla_paused=bool(shift),
                            paused_s=shift.total_seconds(), onsite_due=row["onsite_due"])


def _cannot(step: str, state: dict[str, Any], kind: str | None = None) -> str:
    """Why ``step`` is not possible from the job's status, and what to do instead."""
    status = state["status"]
    if status == "on_site":
        return (f"cannot {step}: the technician is on site; the visit ends on the phone (not fixed / wrong part "
                "opens a return visit, which can then wait for the part)")
    if status == "completed":
        return f"cannot {step}: the visit is completed"
    if status == "cancelled":
        return f"cannot {step}: the visit was cancelled ({state['cancel_reason']}); its incident has a new work order " \
               "if it stayed open"
    if status == "on_hold" and kind is not None:
        return f"cannot put on {kind}: already {state['hold_kind']}; resume it first"
    if step == "reschedule" and status == "open":
        return "cannot reschedule: nothing changed"
    return f"cannot {step} a work order in status {status}"
