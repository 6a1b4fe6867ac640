"""Planning use cases over the database: entitlements of work orders, contracts, escalations, coverage.

Each function takes the caller's connection (the caller owns the transaction) and returns plain data for the
API; the decisions themselves live in the pure modules (entitlements, forecast, capacity, coverage, escalation).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

import psycopg

from planning import repository as repo
from planning.entitlements import covering, coverage_label, entitlement, next_inspection
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


