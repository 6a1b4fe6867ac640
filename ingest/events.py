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
from core.events import record_timeline
from core.sql import Queries

Q = Queries(__file__, "events.sql")
TIMELINE_KIND = "device_event"
MAX_SUMMARY_CHARS = 200  # the summary quotes device-supplied names: keep one timeline line one line long


def summarize(device_id: str, kind: str, data: dict[str, Any]) -> str:
    """One human line for the timeline; the full event stays in ``data``."""
    return _summary(device_id, kind, data)[:MAX_SUMMARY_CHARS]


def _summary(device_id: str, kind: str, data: dict[str, Any]) -> str:
    if kind in ("alarm_raised", "alarm_cleared") and "signal" in data:
        verb = "alarm on" if kind == "alarm_raised" else "alarm cleared on"
        value = data.get("value")
        shown = f" ({value})" if isinstance(value, (int, float)) else ""
        return f"{device_id}: {verb} {data['signal']}{shown}"
    if kind == "state_changed" and "state" in data:
        return f"{device_id}: equipment {data['state']}"
    return f"{device_id}: {kind.replace('_', ' ')}"


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
                        summary=summarize(device_id, kind, data), data={**data, "event": kind, "seq": seq})
    return len(rows)
