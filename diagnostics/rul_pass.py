"""The diagnose loop's periodic remaining-useful-life pass: each watched device's wear trend -> one rul_estimates row.

Why apart from the loop: it reads only the wear history the detectors keep (diagnostics/rul.py ``WearTracker``) and
the fleet's learned RUL model (rul_live.py), writes its own table and runs every ``rul_every_s``, so it has no
part in the per-pass detection and incident logic of service.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import psycopg

from core.clock import to_datetime
from diagnostics import repository as repo
from diagnostics.rul import LIKELY_MODE, WearTracker, asset_rul
from diagnostics.rul_live import LearnedRul, equipment_lookup


def estimate_rul(conn: psycopg.Connection, wear: Iterable[tuple[str, WearTracker]], learned: LearnedRul,
                 devices: Mapping[str, repo.DeviceContext], now: float, retention_s: float) -> None:
    """Write the current estimate of every device with wear history; prune estimates older than ``retention_s``."""
    rows = []
    at = to_datetime(now)
    for device_id, tracker in wear:
        if tracker.first_t is None:
            continue
        per_signal = tracker.estimate(now)
        best = asset_rul(per_signal)
        status = best.status if best is not None else "learning"
        rul = best.rul_s if best is not None else None
        lo = best.rul_low_s if best is not None else None
        hi = best.rul_high_s if best is not None else None
        mode = LIKELY_MODE.get((best.signal, best.direction or "")) if best is not None else None
        rows.append({
            "device_id": device_id, "estimated_at": at, "status": status,
            "signal": best.signal if best is not None and status in ("degrading", "at_limit") else None,
            "direction": best.direction if best is not None else None,
            "level": best.level if best is not None and status != "healthy" else None,
            "threshold": best.limit if best is not None else None,
            "slope_per_h": best.slope_per_h if best is not None and status != "healthy" else None,
            "rul_s": rul, "rul_low_s": lo, "rul_high_s": hi,
            "failure_at": to_datetime(now + rul) if rul is not None else None,
            "failure_earliest_at": to_datetime(now + lo) if lo is not None else None,
            "failure_latest_at": to_datetime(now + hi) if hi is not None else None,
            "fault_mode": mode if status in ("degrading", "at_limit") else None,
            "signals": [{k: v for k, v in vars(e).items() if v is not None} for e in per_signal]})
    if rows:
        repo.insert_rul(conn, learned.apply(conn, rows, now, equipment_lookup(devices)))
    repo.prune_rul(conn, to_datetime(now - retention_s))
