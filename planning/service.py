"""Planning use cases over the database: entitlements of work orders, contracts, escalations, coverage.

Each function takes the caller's connection (the caller owns the transaction) and returns plain data for the
API; the decisions themselves live in the pure modules (entitlements, forecast, capacity, coverage, escalation).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from planning import repository as repo
from planning.entitlements import coverage_label, covering, entitlement, next_inspection
from planning.forecast import fit
from planning.models import Contract, Entitlement, InspectionDue

log = logging.getLogger(__name__)


def contract_view(k: Contract) -> dict[str, Any]:
    return {"code": k.code, "name": k.name, "customer_id": k.customer_id, "device_id": k.device_id,
            "sla_tier": k.sla_tier, "coverage": coverage_label(k), "starts_on": k.starts_on, "ends_on": k.ends_on,
            "warranty_until": k.warranty_until, "labour_included": k.labour_included,
            "parts_included": k.parts_included, "included_parts": list(k.included_parts),
            "inspection_interval_days": k.inspection_interval_days, "next_inspection": next_inspection(k)}


def _parts(raw: Any) -> list[str]:
    return [p["sku"] if isinstance(p, dict) else str(p) for p in (raw or [])]


def _entitled(conn: psycopg.Connection, row: dict[str, Any],
              cache: dict[int, list[Contract]] | None = None) -> tuple[Contract | None, Entitlement]:
    cid = int(row["customer_id"])
    contracts = cache.get(cid) if cache is not None else None
    if contracts is None:
        contracts = repo.contracts_of_customer(conn, cid)
        if cache is not None:
            cache[cid] = contracts
    k = covering(contracts, row["device_id"], cid, row["opened_at"])
    return k, entitlement(k, row["customer_tier"], int(row["severity"]), row["opened_at"], _parts(row["parts"]))


def _work_order_view(row: dict[str, Any], k: Contract | None, e: Entitlement) -> dict[str, Any]:
    return {"work_order_id": row["id"], "incident_id": row["incident_id"], "device_id": row["device_id"],
            "customer_id": row["customer_id"], "customer_name": row["customer_name"], "status": row["status"],
            "contract": contract_view(k) if k is not None else None, "entitlement": asdict(e),
            "incident_clocks": {"response_due": row["response_due"], "onsite_due": row["onsite_due"],
                                "repair_due": row["repair_due"]}}


def work_order_contract(conn: psycopg.Connection, work_order_id: int) -> dict[str, Any] | None:
    """The contract covering a work order and what it entitles: SLA clocks (coverage hours applied), billing."""
    row = repo.work_order_subject(conn, work_order_id)
    if row is None:
        return None
    k, e = _entitled(conn, row)
    return _work_order_view(row, k, e)


def open_work_order_contracts(conn: psycopg.Connection, limit: int = 200) -> list[dict[str, Any]]:
    cache: dict[int, list[Contract]] = {}
    out = []
    for row in repo.open_work_orders(conn, limit):
        k, e = _entitled(conn, row, cache)
        out.append(_work_order_view(row, k, e))
    return out


def customer_contracts(conn: psycopg.Connection, customer_id: int) -> list[dict[str, Any]]:
    return [contract_view(k) for k in repo.contracts_of_customer(conn, customer_id)]


def inspections_due(conn: psycopg.Connection, until: date, window_days: int = 14) -> list[InspectionDue]:
    """Preventive inspections due by ``until`` under the contracts' schedules, one per covered asset; the
    window (days) is how much freedom the optimiser gets to slot each into a quiet period."""
    sites = repo.sites(conn)
    by_customer: dict[int, list[str]] = {}
    for s in sites:
        by_customer.setdefault(int(s["customer_id"]), []).append(s["device_id"])
    out = []
    for k in repo.all_contracts(conn):
        due = next_inspection(k)
        if due is None or due > until or k.device_id is not None:
            continue
        for device_id in by_customer.get(k.customer_id, []):
            out.append(InspectionDue(k.code, k.customer_id, device_id, due, window_days))
    return out




# --- workload forecast ------------------------------------------------------------------------------------------

# Weeks of incident history the production forecast learns from: four weeks see every weekday four times and
# still follow seasonal drift.
FORECAST_HISTORY_WEEKS = 4
# An open "watching" incident (detected, not yet a work order) is this fleet's failure prediction: it is counted
# as one expected incident spread evenly over this many hours (the typical lead time of the degradation detectors).
PREDICTION_HORIZON_H = 48
# Fewer incidents than this in the history: not enough to fit seasonality, the forecast says so instead.
MIN_HISTORY_INCIDENTS = 20


def forecast_vs_actual(conn: psycopg.Connection, now: datetime, back_h: int = 24,
                       ahead_h: int = 24) -> dict[str, Any]:
    """Forecast per region and hour for [now - back_h, now + ahead_h), fitted on the history before the window
    start (so the past part is a genuine forecast), with the actual counts for the hours already past."""
    hour0 = now.replace(minute=0, second=0, microsecond=0)
    start = hour0 - timedelta(hours=back_h)
    since = start - timedelta(weeks=FORECAST_HISTORY_WEEKS)
    rows = repo.incident_counts(conn, since, hour0 + timedelta(hours=1))
    regions = sorted({r for r, _, _ in rows} | {s["region"] for s in repo.sites(conn)})
    hist_hours = int((start - since).total_seconds() // 3600)
    counts = {r: np.zeros(hist_hours + back_h + 1, dtype=int) for r in regions}
    for region, hour, n in rows:
        counts[region][int((hour - since).total_seconds() // 3600)] += n
    total = sum(int(c[:hist_hours].sum()) for c in counts.values())
    window = [start + timedelta(hours=i) for i in range(back_h + ahead_h)]
    if total < MIN_HISTORY_INCIDENTS or not regions:
        return {"regions": regions, "hours": [], "reason": f"{total} incidents in the history window: too few"}
    monday = (since - timedelta(days=since.weekday())).replace(hour=0).timestamp()
    hist_starts = np.array([since.timestamp() + 3600 * i for i in range(hist_hours)])
    region_of = [r for r in regions for _ in range(hist_hours)]
    y = np.concatenate([counts[r][:hist_hours] for r in regions])
    model = fit(region_of, np.tile(hist_starts, len(regions)), y, np.zeros(len(y)), monday, use_risk=False)
    watching = repo.watching_by_region(conn)
    out = []
    starts = np.array([w.timestamp() for w in window])
    for r in regions:
        risk = np.where(starts >= hour0.timestamp(), watching.get(r, 0) / PREDICTION_HORIZON_H, 0.0)
        risk[starts >= hour0.timestamp() + PREDICTION_HORIZON_H * 3600] = 0.0
        for f, w in zip(model.predict([r] * len(window), starts, risk), window, strict=True):
            past = w < hour0
            offset = hist_hours + int((w - start).total_seconds() // 3600)
            out.append({"region": r, "hour": w, "mean": round(f.mean, 3), "lo80": f.lo80, "hi80": f.hi80,
                        "lo95": f.lo95, "hi95": f.hi95, "actual": int(counts[r][offset]) if past else None})
    return {"regions": regions, "hours": out, "history_incidents": total, "watching": watching,
            "dispersion": model.dispersion}
