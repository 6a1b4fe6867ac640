"""Learning from the database: normal models from healthy history, knowledge from closed work orders.

Both write versioned/counted rows the diagnose loop reads on its next refresh; neither runs inside a detection
pass except the cheap feedback step (a handful of completed work orders at a time).
"""

from __future__ import annotations

import logging
from datetime import datetime

import psycopg

from core.clock import to_datetime
from diagnostics import repository as repo
from diagnostics.knowledge import (
    Part,
    WorkOrderFeedback,
    apply_feedback,
    count_found,
    entry_to_doc,
    load_knowledge,
)
from diagnostics.normal_model import train_normal_model

log = logging.getLogger(__name__)
MAX_TRAINING_ROWS = 2_000_000  # readings (rows of the long table): ~400k samples, seconds to fit, bounded memory
MIN_SAMPLES = 200  # fewer healthy samples than this cannot cover a daily load cycle: refuse to train


def train(conn: psycopg.Connection, equipment_type: str, start: datetime, end: datetime, *,
          now: datetime | None = None, max_rows: int = MAX_TRAINING_ROWS) -> int:
    """Train one equipment type's normal model on [start, end) healthy history; returns the stored version.

    Healthy = the device had no telemetry incident overlapping the window. Samples are pivoted per
    (device, timestamp); incomplete ones are dropped by the trainer. Raises ValueError without enough data.
    """
    rows: list[dict[str, float]] = []
    current: tuple[str, datetime] | None = None
    sample: dict[str, float] = {}
    devices: set[str] = set()
    for device_id, ts, signal, value in repo.healthy_history(conn, equipment_type, start, end, max_rows):
        if (device_id, ts) != current:
            if sample:
                rows.append(sample)
            current, sample = (device_id, ts), {}
            devices.add(device_id)
        sample[signal] = float(value)
    if sample:
        rows.append(sample)
    if len(rows) < MIN_SAMPLES:
        raise ValueError(f"only {len(rows)} healthy samples for {equipment_type}; need {MIN_SAMPLES}")
    version = repo.next_model_version(conn, equipment_type)
    model = train_normal_model(equipment_type, rows, version=f"{equipment_type}-v{version}")
    repo.insert_model(conn, equipment_type, version, model.to_bytes(), now or end, len(rows), len(devices))
    log.info("normal model trained", extra={"equipment_type": equipment_type, "version": version,
                                            "samples": len(rows), "devices": len(devices)})
    return version


def apply_work_order_feedback(conn: psycopg.Connection, now: float) -> int:
    """Count technicians' structured reports of completed visits into the knowledge base.

    A report is the fault mode found and the fix code (dispatch.outcomes), the parts the ledger booked as fitted
    and the time on site. The diagnosed mode's entry learns what was found (``found_counts``); the found mode's
    entry learns the fix, the parts and the minutes. Visits closed without a structured outcome (free text only)
    are marked seen and teach nothing."""
    pending = repo.unapplied_feedback(conn)
    if not pending:
        return 0
    kb = load_knowledge(repo.knowledge_doc(conn))
    at = to_datetime(now)
    for wo in pending:
        if wo["found_fault_mode"] and wo["fix_code"]:
            changed: set[tuple[str, str]] = set()
            diagnosed = (wo["equipment_type"], wo["fault_mode"])
            found = (wo["equipment_type"], wo["found_fault_mode"])
            if diagnosed in kb:
                kb[diagnosed] = count_found(kb[diagnosed], wo["found_fault_mode"])
                changed.add(diagnosed)
            if found in kb and wo["outcome"] == "fixed":
                parts = tuple(Part(sku, int(q)) for sku, q in sorted((wo["parts_fitted"] or {}).items()) if int(q) > 0)
                fb = WorkOrderFeedback(actual_cause=None, fix=wo["fix_code"], parts_used=parts,
                                       repair_minutes=wo["repair_minutes"] if wo["repair_minutes"] else None)
                kb[found] = apply_feedback(kb[found], fb)
                changed.add(found)
            for key in sorted(changed):
                repo.knowledge_put(conn, key[0], key[1], entry_to_doc(kb[key]), at, f"work_order:{wo['id']}")
        repo.mark_feedback(conn, wo["id"], at)
    return len(pending)


def main() -> None:
    """``python -m diagnostics.training --hours 48``: train every equipment type on the last hours of history."""
    import argparse
    import json
    import time

    from core.db import connect
    from core.settings import load_settings

    ap = argparse.ArgumentParser(description="Train normal models from healthy stored telemetry.")
    ap.add_argument("--hours", type=float, default=48.0, help="history window ending now (clock time)")
    ap.add_argument("--types", nargs="*", default=["pump", "chiller", "compressor"])
    args = ap.parse_args()
    end = time.time()
    out: dict[str, object] = {}
    with connect(load_settings().database_url, autocommit=False) as conn:
        for eq in args.types:
            try:
                out[eq] = train(conn, eq, to_datetime(end - args.hours * 3600), to_datetime(end))
                conn.commit()
            except ValueError as exc:
                conn.rollback()
                out[eq] = f"not trained: {exc}"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
