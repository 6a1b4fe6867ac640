"""Device events (``qf/v1/{id}/event``): stored once per (device, seq) and put on the device's timeline.

Kept apart from repository.py (telemetry storage) because events are few, carry free-form data and belong on
the customer-facing timeline, while telemetry is bulk COPY.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from core.contracts import EventMessage
from core.events import record_timeline, summary_text
from core.sql import Queries
from i18n import Message, term

Q = Queries(__file__, "events.sql")
TIMELINE_KIND = "device_event"
MAX_SUMMARY_CHARS = 200  # the summary quotes device-supplied names: keep one timeline line one line long
MAX_PARAM_CHARS = MAX_SUMMARY_CHARS  # one device-supplied name inside the message: no longer than a whole line


def summarize(device_id: str, kind: str, data: dict[str, Any]) -> str:
    """One human line for the timeline (English, the ``summary`` column); the full event stays in ``data``."""
    return summary_text(event_message(device_id, kind, data))[:MAX_SUMMARY_CHARS]


def event_message(device_id: str, kind: str, data: dict[str, Any]) -> Message:
    """The timeline line as a catalogue message (migration 0821), so each reader sees it in their language.
    Device-supplied strings are cut to ``MAX_PARAM_CHARS``: the device, not us, chooses their length."""
    if kind in ("alarm_raised", "alarm_cleared") and "signal" in data:
        value = data.get("value")
        shown = isinstance(value, (int, float)) and not isinstance(value, bool)
        return Message("summary.deviceAlarm", {
            "device": device_id, "raised": "yes" if kind == "alarm_raised" else "no",
            "signal": _cut(data["signal"]), "hasValue": "yes" if shown else "no", "value": value if shown else ""})
    if kind == "state_changed" and "state" in data:
        return Message("summary.deviceState", {"device": device_id, "state": _cut(data["state"])})
    return Message("summary.deviceEvent", {"device": device_id, "event": term("deviceEvent", _cut(kind))})


def _cut(v: Any) -> str:
    return str(v)[:MAX_PARAM_CHARS]


def store_events(conn: psycopg.Connection, events: Sequence[EventMessage], received_at: datetime) -> int:
    """Insert the events not stored before and record each new one on the timeline; returns how many were new.

    The caller owns the transaction (the same one as the batch's telemetry).
    """
    unique: dict[tuple[str, int], EventMessage] = {}
    for e in events:
        unique.setdefault((e.device_id, e.seq), e)
    if not unique:
        return 0
    items = list(unique.values())
    rows = conn.execute(Q.claim_events, (
        [e.device_id for e in items], [e.seq for e in items],
        [datetime.fromtimestamp(e.t_ms / 1000, tz=UTC) for e in items], [e.kind for e in items],
        [Jsonb(e.data) for e in items], [received_at] * len(items))).fetchall()
    for device_id, seq, at, kind, data, customer_id in rows:
        record_timeline(conn, device_id=device_id, customer_id=customer_id, at=at, kind=TIMELINE_KIND,
                        summary=summarize(device_id, kind, data), message=event_message(device_id, kind, data),
                        data={**data, "event": kind, "seq": seq})
    return len(rows)
