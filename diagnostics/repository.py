"""Diagnostics' SQL: new telemetry in; incidents, work orders, remote fix attempts, knowledge and models out.

Every function runs in the caller's transaction; the caller commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import psycopg
from psycopg.rows import class_row, dict_row
from psycopg.types.json import Jsonb

from core.sql import Queries
from diagnostics.incidents import (
    ServiceClocks,
    ServiceTargets,
    SlaDeadlines,
    contract_targets,
    coverage_clock_start,
    service_clocks,
)
from diagnostics.knowledge import _seed

Q = Queries(__file__)
CURSOR_ROW = "*"  # diagnose_progress row that holds the ingest_batches cursor, not a device


@dataclass(frozen=True)
class DeviceContext:
    id: str
    customer_id: int
    equipment_type: str
    name: str
    lat: float
    lon: float
    online: bool
    tier: str
    customer_name: str
    # Coverage hours of the covering contract (device_contracts view); None = no contract: clocks start at once.
    coverage_days: list[int] | None = None
    coverage_start: time | None = None
    coverage_end: time | None = None
    # The covering contract's deadlines (minutes, minutes, hours), else its tier's row in sla_tier_defaults.
    response_min: int = 15
    onsite_min: int = 120
    repair_h: int = 24
    # The contract's overrides of the organisation's service targets (None: the settings' targets apply).
    target_response_min: int | None = None
    target_onsite_min: int | None = None
    target_repair_h: int | None = None

    @property
    def deadlines(self) -> SlaDeadlines:
        return SlaDeadlines(self.response_min, self.onsite_min, self.repair_h * 60)

    def targets(self, org: ServiceTargets) -> ServiceTargets:
        return contract_targets(org, self.target_response_min, self.target_onsite_min, self.target_repair_h)


@dataclass(frozen=True)
class Arrived:
    """One ingest batch, in commit order (``arrival``, migration 0230)."""

    id: int
    device_id: str
    arrival: int
    first_ts: datetime
    last_ts: datetime
    received_at: datetime  # ingest receive time: where detection latency and the watchdog's stall are measured from
    clock_offset_ms: int | None  # set: a clock fault, its readings are stored apart and not evaluated


def new_batches(conn: psycopg.Connection, after: int, limit: int) -> list[Arrived]:
    """The batches committed after arrival number ``after``, oldest arrival first (at most ``limit``)."""
    with conn.cursor(row_factory=class_row(Arrived)) as cur:
        return cur.execute(Q.new_batches, {"after": after, "limit": limit}).fetchall()


def missed_batches(conn: psycopg.Connection, spans: Mapping[str, tuple[int, int]]) -> list[Arrived]:
    """Many devices' batches with arrival in their own (after, upto], oldest arrival first: what restored
    checkpoints have not seen yet. One scan of the arrival range for all of them (a hand-over restores thousands
    of devices; one query per device re-read each device's whole batch history through the primary key)."""
    if not spans:
        return []
    ids = list(spans)
    after = [spans[d][0] for d in ids]
    upto = [spans[d][1] for d in ids]
    with conn.cursor(row_factory=class_row(Arrived)) as cur:
        return cur.execute(Q.missed_batches, {"device_ids": ids, "afters": after, "uptos": upto,
                                              "lo": min(after), "hi": max(upto)}).fetchall()


def batch_samples(conn: psycopg.Connection, batches: Sequence[Arrived]
                  ) -> dict[str, list[tuple[float, dict[str, float]]]]:
    """The samples of exactly these batches (by the batch id ingest stores on each row), per device, oldest first,
    times as epoch seconds; rows with the same timestamp (the ``telemetry`` view's one-signal rows) are merged into
    one sample.

    Why epoch floats fetched in binary: this is the diagnose pass's per-sample path (the largest cost of a pass in
    the session-7 profile, more than the detectors): no datetime per sample to build and convert, no text parsing
    of the arrays. ``date_part('epoch', ts)`` is the microseconds divided by 1e6 in double precision, the same float
    ``datetime.timestamp()`` gives."""
    if not batches:
        return {}
    with conn.cursor(binary=True) as cur:
        rows = cur.execute(Q.batch_samples, {"ids": [b.id for b in batches],
                                             "device_ids": [b.device_id for b in batches],
                                             "firsts": [b.first_ts for b in batches],
                                             "lasts": [b.last_ts for b in batches]}).fetchall()
    out: dict[str, list[tuple[float, dict[str, float]]]] = {}
    current = None
    samples: list[tuple[float, dict[str, float]]] = []
    for device_id, t, signals, readings in rows:  # ordered by device, then time
        if device_id != current:
            current, samples = device_id, out.setdefault(device_id, [])
        if samples and samples[-1][0] == t:
            samples[-1][1].update(zip(signals, readings))
        else:
            samples.append((t, dict(zip(signals, readings))))
    return out


def device_samples(conn: psycopg.Connection, device_id: str, after: datetime,
                   until: datetime) -> Iterator[tuple[datetime, dict[str, float]]]:
    """The device's readings in (after, until] by time, grouped into one sample per timestamp, oldest first."""
    rows = conn.execute(Q.device_readings, {"device_id": device_id, "after": after, "until": until}).fetchall()
    cur_ts: datetime | None = None
    values: dict[str, float] = {}
    for ts, signal, value in rows:
        if ts != cur_ts and cur_ts is not None:
            yield cur_ts, values
            values = {}
        cur_ts = ts
        values[signal] = value
    if cur_ts is not None:
        yield cur_ts, values


def load_progress(conn: psycopg.Connection) -> tuple[int, dict[str, datetime]]:
    """(arrival number evaluated up to, device -> newest reading time evaluated)."""
    cursor, marks = 0, {}
    for device_id, watermark, batch_id in conn.execute(Q.load_progress):
        if device_id == CURSOR_ROW:
            cursor = int(batch_id)
        elif watermark is not None:
            marks[device_id] = watermark
    return cursor, marks


def save_progress(conn: psycopg.Connection, cursor: int | None, marks: Mapping[str, datetime]) -> None:
    """Device watermarks, and the single-cursor row when given (leased workers keep cursors per partition:
    diagnostics/leases.py ``save_cursors``, which also maintains this row as the slowest partition's cursor)."""
    ids = ([CURSOR_ROW] if cursor is not None else []) + list(marks)
    if not ids:
        return
    head: list[Any] = [None] if cursor is not None else []
    conn.execute(Q.save_progress, {"device_ids": ids, "watermarks": [*head, *marks.values()],
                                   "batch_ids": ([cursor] if cursor is not None else []) + [0] * len(marks)})


def devices(conn: psycopg.Connection) -> dict[str, DeviceContext]:
    with conn.cursor(row_factory=class_row(DeviceContext)) as cur:
        return {d.id: d for d in cur.execute(Q.devices)}


def device_context(conn: psycopg.Connection, device_id: str) -> DeviceContext | None:
    with conn.cursor(row_factory=class_row(DeviceContext)) as cur:
        return cur.execute(Q.device_context, {"device_id": device_id}).fetchone()


def clocks_for(conn: psycopg.Connection, device_id: str, at: datetime, severity: int,
               org: ServiceTargets) -> ServiceClocks | None:
    """Service targets and contract deadlines of a corrective job on ``device_id`` opened at ``at`` (the board's
    phone/e-mail intake; the diagnose loop computes the same from its cached contexts). None: unknown device."""
    ctx = device_context(conn, device_id)
    if ctx is None:
        return None
    start = coverage_clock_start(at, ctx.coverage_days, ctx.coverage_start, ctx.coverage_end)
    return service_clocks(at, start, severity, ctx.deadlines, ctx.targets(org))


def live_incidents(conn: psycopg.Connection, since: datetime) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.live_incidents, {"since": since}).fetchall()


def open_incident(conn: psycopg.Connection, **fields: object) -> int | None:
    """Insert the incident unless one is already open for this asset and fault; None when deduplicated.

    Also used by the board's phone/e-mail intake, which passes ``status='work_order'`` and no confidence.
    """
    params = {"status": "detected", "confidence": 1.0, "response_target": None, "onsite_target": None,
              "repair_target": None, "summary_message": None, **fields}
    params["evidence"] = Jsonb(params.get("evidence") or {})
    if params["summary_message"] is not None:  # the summary as a catalogue message (migration 0821)
        params["summary_message"] = Jsonb(params["summary_message"])
    row = conn.execute(Q.open_incident, params).fetchone()
    return int(row[0]) if row else None


def update_incident(conn: psycopg.Connection, *, id: int, status: str, severity: int, confidence: float,
                    last_abnormal_at: datetime, reopen_count: int, at: datetime,
                    evidence: Mapping[str, Any] | None = None) -> None:
    conn.execute(Q.update_incident, {"id": id, "status": status, "severity": severity, "confidence": confidence,
                                     "last_abnormal_at": last_abnormal_at, "reopen_count": reopen_count,
                                     "at": at, "evidence": Jsonb(dict(evidence or {}))})


def touch_incident(conn: psycopg.Connection, incident_id: int, last_abnormal_at: datetime) -> None:
    conn.execute(Q.touch_incident, {"id": incident_id, "last_abnormal_at": last_abnormal_at})


def touch_incidents(conn: psycopg.Connection, last_abnormal: Mapping[int, datetime]) -> None:
    with conn.cursor() as cur:
        cur.executemany(Q.touch_incident, [{"id": i, "last_abnormal_at": t} for i, t in last_abnormal.items()])


def create_work_order(conn: psycopg.Connection, *, parts: Sequence[Mapping[str, Any]] = (), **fields: object) -> int | None:
    """Create the visit; the parts go to ``required_parts`` when the dispatch schema has that column."""
    row = conn.execute(Q.create_work_order, {"onsite_target": None, **fields}).fetchone()
    if row is None:
        return None
    wo = int(row[0])
    if parts and conn.execute(Q.has_required_parts).fetchone()[0]:  # type: ignore[index]
        # Dispatch's contract for the column: SKU -> quantity (one entry per SKU, quantities summed).
        wanted: dict[str, int] = {}
        for part in parts:
            wanted[str(part["sku"])] = wanted.get(str(part["sku"]), 0) + int(part["qty"])
        conn.execute(Q.set_required_parts, {"parts": Jsonb(wanted), "id": wo})
    return wo


def insert_attempt(conn: psycopg.Connection, **fields: object) -> int:
    row = conn.execute(Q.insert_attempt, fields).fetchone()
    assert row is not None
    return int(row[0])


def pending_attempts(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.pending_attempts).fetchall()


def attempt_result(conn: psycopg.Connection, command_id: str, status: str, at: datetime,
                   result: Mapping[str, Any]) -> tuple[int, int, str] | None:
    row = conn.execute(Q.attempt_result, {"command_id": command_id, "status": status, "at": at,
                                          "result": Jsonb(dict(result))}).fetchone()
    return (int(row[0]), int(row[1]), str(row[2])) if row else None


def close_attempt(conn: psycopg.Connection, attempt_id: int, status: str) -> None:
    conn.execute(Q.close_attempt, {"id": attempt_id, "status": status})


def cancel_unstarted_visit(conn: psycopg.Connection, incident_id: int) -> dict[str, Any] | None:
    """Cancel the incident's live visit if nobody has set off yet; returns the cancelled order (None: none was
    waiting, or the technician is already on the way)."""
    row = conn.execute(Q.cancel_unstarted_visit, {"incident_id": incident_id}).fetchone()
    return None if row is None else {"id": int(row[0]), "technician_id": row[1], "visit_no": int(row[2])}


def audit(conn: psycopg.Connection, at: datetime, action: str, target_type: str, target_id: str,
          details: Mapping[str, Any]) -> None:
    """An audit_log row for a write the diagnose loop decided on its own (no person behind it)."""
    conn.execute(Q.audit_diagnose, {"at": at, "action": action, "target_type": target_type,
                                    "target_id": target_id, "details": Jsonb(dict(details))})


# --- knowledge base -----------------------------------------------------------------------------------------

def seed_knowledge(conn: psycopg.Connection, doc: Mapping[str, Any] | None = None) -> int:
    """Insert the shipped seed entries that are missing (edited rows are never overwritten); returns inserted."""
    doc = doc if doc is not None else _seed()
    n = 0
    for eq, modes in doc["equipment"].items():
        for mode, entry in modes.items():
            cur = conn.execute(Q.knowledge_seed, {"equipment_type": eq, "fault_mode": mode, "entry": Jsonb(entry)})
            n += cur.rowcount
    return n


def knowledge_doc(conn: psycopg.Connection) -> dict[str, Any]:
    """The knowledge base as the seed file's shape, for :func:`diagnostics.knowledge.load_knowledge`."""
    doc: dict[str, Any] = {"equipment": {}}
    for eq, mode, entry, *_ in conn.execute(Q.knowledge_all):
        doc["equipment"].setdefault(eq, {})[mode] = entry
    return doc


def knowledge_rows(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.knowledge_all).fetchall()


def knowledge_get(conn: psycopg.Connection, equipment_type: str, fault_mode: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.knowledge_get, {"equipment_type": equipment_type, "fault_mode": fault_mode}).fetchone()


def knowledge_put(conn: psycopg.Connection, equipment_type: str, fault_mode: str, entry: Mapping[str, Any],
                  at: datetime, by: str) -> int:
    row = conn.execute(Q.knowledge_put, {"equipment_type": equipment_type, "fault_mode": fault_mode,
                                         "entry": Jsonb(json.loads(json.dumps(entry))), "at": at, "by": by}).fetchone()
    assert row is not None
    return int(row[0])


def unapplied_feedback(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.unapplied_feedback).fetchall()


def mark_feedback(conn: psycopg.Connection, work_order_id: int, at: datetime) -> None:
    conn.execute(Q.mark_feedback, {"id": work_order_id, "at": at})


# --- normal models ------------------------------------------------------------------------------------------

def latest_models(conn: psycopg.Connection) -> dict[str, tuple[int, bytes]]:
    return {eq: (int(v), bytes(m)) for eq, v, m in conn.execute(Q.latest_models)}


def next_model_version(conn: psycopg.Connection, equipment_type: str) -> int:
    row = conn.execute(Q.next_model_version, {"equipment_type": equipment_type}).fetchone()
    assert row is not None
    return int(row[0])


def insert_model(conn: psycopg.Connection, equipment_type: str, version: int, model: bytes, at: datetime,
                 rows: int, devices: int) -> None:
    conn.execute(Q.insert_model, {"equipment_type": equipment_type, "version": version, "model": model, "at": at,
                                  "rows": rows, "devices": devices})


def healthy_history(conn: psycopg.Connection, equipment_type: str, start: datetime, end: datetime,
                    max_rows: int) -> list[tuple[str, datetime, str, float]]:
    return conn.execute(Q.healthy_history, {"equipment_type": equipment_type, "start": start, "end": end,
                                            "max_rows": max_rows}).fetchall()


def find_open(conn: psycopg.Connection, device_id: str, fault_mode: str) -> int | None:
    row = conn.execute(Q.find_open, {"device_id": device_id, "fault_mode": fault_mode}).fetchone()
    return int(row[0]) if row else None


# --- detector checkpoints -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    device_id: str
    fingerprint: str
    watermark: datetime
    state: dict[str, Any]
    arrival: int | None = None  # the arrival cursor the state includes (None: saved before migration 0230)
    blob: bytes | None = None  # packed block row (diagnostics/block_checkpoint.py); None: scalar JSON in ``state``


def load_checkpoints(conn: psycopg.Connection, device_ids: Sequence[str]) -> dict[str, Checkpoint]:
    # binary: a hand-over loads ~10 kB of blob per device for thousands of devices (text would be hex, twice that)
    with conn.cursor(row_factory=class_row(Checkpoint), binary=True) as cur:
        return {c.device_id: c for c in cur.execute(Q.load_checkpoints, {"ids": list(device_ids)})}


def save_checkpoints(conn: psycopg.Connection, rows: Sequence[Checkpoint], at: datetime) -> None:
    """Upsert the checkpoints in one statement (a pass writes a few hundred at fleet scale)."""
    if not rows:
        return
    conn.execute(Q.save_checkpoints, {"ids": [c.device_id for c in rows], "fps": [c.fingerprint for c in rows],
                                      "marks": [c.watermark for c in rows], "states": [Jsonb(c.state) for c in rows],
                                      "arrivals": [c.arrival for c in rows], "blobs": [c.blob for c in rows],
                                      "at": at})


def delete_checkpoint(conn: psycopg.Connection, device_id: str) -> None:
    conn.execute(Q.delete_checkpoint, {"device_id": device_id})


# --- remaining useful life ----------------------------------------------------------------------------------

def insert_rul(conn: psycopg.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(Q.insert_rul, [{**r, "signals": Jsonb(r.get("signals") or []),
                                        "method": r.get("method", "trend")} for r in rows])


def prune_rul(conn: psycopg.Connection, before: datetime) -> None:
    conn.execute(Q.prune_rul, {"before": before})


def latest_rul(conn: psycopg.Connection, device_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.latest_rul, {"device_id": device_id}).fetchone()


def rul_history(conn: psycopg.Connection, device_id: str, since: datetime) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.rul_history, {"device_id": device_id, "since": since}).fetchall()


def predicted_failures(conn: psycopg.Connection, *, before: datetime | None = None,
                       customer_id: int | None = None) -> list[dict[str, Any]]:
    """Assets whose latest RUL estimate predicts a failure (view ``predicted_failures``), soonest first.

    For spares (parts demand: ``likely_parts`` by ``failure_at``) and planning (preventive visits:
    ``skills``, ``repair_minutes``, ``failure_earliest_at``; ``open_incident_id`` set = already being handled).
    """
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.predicted_failures, {"before": before, "customer_id": customer_id}).fetchall()


# --- on-site repairs and escalation -------------------------------------------------------------------------

def new_repairs(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.new_repairs).fetchall()


def insert_repair(conn: psycopg.Connection, **fields: object) -> None:
    conn.execute(Q.insert_repair, fields)


def verifying_repairs(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.verifying_repairs).fetchall()


def decide_repair(conn: psycopg.Connection, work_order_id: int, status: str, at: datetime) -> None:
    conn.execute(Q.decide_repair, {"work_order_id": work_order_id, "status": status, "at": at})


def close_incident(conn: psycopg.Connection, incident_id: int, at: datetime) -> bool:
    return conn.execute(Q.close_incident, {"id": incident_id, "at": at}).rowcount > 0


def tighten_sla(conn: psycopg.Connection, incident_id: int, *, response_due: datetime, onsite_due: datetime,
                repair_due: datetime) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.tighten_sla, {"id": incident_id, "response_due": response_due,
                                           "onsite_due": onsite_due, "repair_due": repair_due}).fetchone()


def tighten_work_order(conn: psycopg.Connection, incident_id: int, onsite_due: datetime) -> list[int]:
    return [int(r[0]) for r in conn.execute(Q.tighten_work_order, {"incident_id": incident_id,
                                                                    "onsite_due": onsite_due})]


def incident_opened_at(conn: psycopg.Connection, incident_id: int) -> datetime | None:
    row = conn.execute(Q.incident_opened_at, {"id": incident_id}).fetchone()
    return row[0] if row else None


# --- detection watchdog and board (migration 0230) ----------------------------------------------------------

def pending_by_device(conn: psycopg.Connection) -> list[tuple[str, datetime, int]]:
    """(device, oldest receive time, batches) of committed batches diagnose has not evaluated yet."""
    return [(d, oldest, int(n)) for d, oldest, n in conn.execute(Q.pending_by_device)]


def raise_alarm(conn: psycopg.Connection, kind: str, at: datetime, detail: Mapping[str, Any]) -> bool:
    """Open the alarm (True) or refresh the open one's detail (False)."""
    row = conn.execute(Q.raise_alarm, {"kind": kind, "at": at, "detail": Jsonb(dict(detail))}).fetchone()
    if row is not None:
        return True
    conn.execute(Q.refresh_alarm, {"kind": kind, "detail": Jsonb(dict(detail))})
    return False


def clear_alarm(conn: psycopg.Connection, kind: str, at: datetime) -> bool:
    return conn.execute(Q.clear_alarm, {"kind": kind, "at": at}).rowcount > 0


def open_alarms(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.open_alarms).fetchall()


def clock_faults(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.clock_faults).fetchall()
