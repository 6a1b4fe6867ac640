"""Master-data use cases: upsert on natural keys, audited inside the write's own transaction.

Each upsert reads the stored row (locked), writes only if something differs, and records one audit row with
the changed fields' before and after values, so a re-import of the same data writes nothing and audits
nothing. Planning-relevant tables (technicians, absences, sites, contracts) bump the dispatch change counter by
trigger (migration 0800) in the same transaction: the optimiser re-plans on its next tick.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from administration import repository as repo
from administration.errors import NotFound, Rejected
from administration.models import (
    Actor,
    Asset,
    Contract,
    Customer,
    Hours,
    Outcome,
    Site,
    Technician,
    WorkingDay,
)
from administration.reasons import field_error

# Audit details are read by people; a row cannot grow without bound (api/audit.py uses the same limit).
MAX_AUDIT_CHARS = 4000
ALWAYS_ON_END = time(23, 59, 59)  # the foundation's "always on duty" shift end (dispatch reads it as 24 h)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """The audit payload: only the fields that changed, each before and after."""
    if before is None:
        return {"before": None, "after": _plain(after)}
    keys = sorted(k for k in after if before.get(k) != after.get(k))
    return {"before": _plain({k: before.get(k) for k in keys}), "after": _plain({k: after.get(k) for k in keys})}


def audit(conn: psycopg.Connection, actor: Actor, at: datetime, action: str, target_type: str, target_id: str,
          details: dict[str, Any]) -> None:
    payload = details if len(json.dumps(details, default=str)) <= MAX_AUDIT_CHARS else {
        "truncated": json.dumps(details, default=str)[:MAX_AUDIT_CHARS]}
    conn.execute(repo.Q.insert_audit, {
        "at": at, "actor": actor.name, "user_id": actor.user_id, "role": actor.role, "action": action,
        "target_type": target_type, "target_id": target_id, "details": Jsonb(_plain(payload)),
        "client_ip": actor.client_ip})


def _upsert(conn: psycopg.Connection, actor: Actor, at: datetime, entity: str, key: str, lookup: str,
            lookup_params: dict[str, Any], upsert: str, params: dict[str, Any]) -> Outcome:
    before = repo.one(conn, lookup, lookup_params)
    after = repo.one(conn, upsert, params)
    if after is None:
        return Outcome("unchanged", before["row"] if before else {})
    result = "created" if after["inserted"] else "updated"
    audit(conn, actor, at, f"admin.{entity}.{result}", entity, key,
          changes(before["row"] if before else None, after["row"]))
    return Outcome(result, after["row"])


def _hours_params(h: Hours) -> tuple[list[int], time, str]:
    return list(h.days), h.start, h.end_text


def _require(conn: psycopg.Connection, query: str, code: str, field: str, what: str) -> int:
    found = repo.ids_by_code(conn, query, [code])
    if code not in found:
        raise Rejected([field_error(field, "unknown", what=what, code=code)])
    return found[code]


def upsert_customer(conn: psycopg.Connection, c: Customer, actor: Actor, at: datetime) -> Outcome:
    contacts = None if c.contacts is None else Jsonb([dict(x) for x in c.contacts])
    return _upsert(conn, actor, at, "customer", c.code, "customer_by_code", {"code": c.code}, "upsert_customer",
                   {"code": c.code, "name": c.name, "tier": c.tier, "email": c.email, "phone": c.phone,
                    "language": c.language, "timezone": c.timezone, "contacts": contacts})


def upsert_site(conn: psycopg.Connection, s: Site, actor: Actor, at: datetime) -> Outcome:
    customer_id = _require(conn, "customer_ids", s.customer_code, "customer_code", "customer")
    days, start, end = _hours_params(s.access)
    out = _upsert(conn, actor, at, "site", s.code, "site_by_code", {"code": s.code}, "upsert_site",
                  {"code": s.code, "customer_id": customer_id, "name": s.name, "address": s.address, "lat": s.lat,
                   "lon": s.lon, "access_days": days, "access_start": start, "access_end": end})
    if out.result == "updated":
        conn.execute(repo.Q.follow_site, {"site_id": out.row["id"]})
    return out


def upsert_asset(conn: psycopg.Connection, a: Asset, actor: Actor, at: datetime) -> Outcome:
    sites = repo.rows(conn, "site_ids", {"codes": [a.site_code]})
    if not sites:
        raise Rejected([field_error("site_code", "unknown", what="site", code=a.site_code)])
    site_id = int(sites[0]["id"])
    if a.device_id is not None:
        linked = repo.one(conn, "asset_of_device", {"device_id": a.device_id})
        if linked is not None and linked["serial"] != a.serial:
            raise Rejected([field_error("device_id", "deviceTaken", device=a.device_id, serial=linked["serial"])])
        _upsert(conn, actor, at, "device", a.device_id, "device_by_id", {"device_id": a.device_id},
                "upsert_device", {"device_id": a.device_id, "equipment_type": a.equipment_type,
                                  "name": a.model or a.serial, "site_id": site_id})
    return _upsert(conn, actor, at, "asset", a.serial, "asset_by_serial", {"serial": a.serial}, "upsert_asset",
                   {"serial": a.serial, "site_id": site_id, "equipment_type": a.equipment_type, "model": a.model,
                    "installed_on": a.installed_on, "device_id": a.device_id})


def pattern_of(shift: Hours) -> dict[str, list[dict[str, Any]]]:
    return {str(d): [{"start": shift.start.strftime("%H:%M"), "end": shift.end_text, "breaks": []}]
            for d in shift.days}


def upsert_technician(conn: psycopg.Connection, t: Technician, actor: Actor, at: datetime) -> Outcome:
    return _upsert(conn, actor, at, "technician", t.code, "technician_by_code", {"code": t.code},
                   "upsert_technician",
                   {"code": t.code, "name": t.name, "email": t.email, "skills": list(t.skills),
                    "home_lat": t.home_lat, "home_lon": t.home_lon, "shift_start": t.shift.start,
                    "shift_end": t.shift.end or ALWAYS_ON_END, "working_pattern": Jsonb(pattern_of(t.shift)),
                    "timezone": t.timezone, "language": t.language, "van": t.van, "home_base": t.home_base})


def upsert_contract(conn: psycopg.Connection, k: Contract, actor: Actor, at: datetime) -> Outcome:
    """The contract, then the pause rules it names (Contract.pauses); a change to the rules alone makes the
    contract "updated" (an import counts it, the audit log has the rules' before and after)."""
    customer_id = _require(conn, "customer_ids", k.customer_code, "customer_code", "customer")
    days, start, end = _hours_params(k.coverage)
    out = _upsert(conn, actor, at, "contract", k.code, "contract_by_code", {"code": k.code}, "upsert_contract",
                  {"code": k.code, "customer_id": customer_id, "name": f"{k.tier.title()} service", "tier": k.tier,
                   "coverage_days": days, "coverage_start": start, "coverage_end": end,
                   "response_min": k.response_min, "onsite_min": k.onsite_min, "repair_h": k.repair_h,
                   "starts_on": k.starts_on, "ends_on": k.ends_on})
    rules, changed = set_contract_pauses(conn, k.code, k.pauses, actor, at)
    result = "updated" if changed and out.result == "unchanged" else out.result
    return Outcome(result, {**out.row, "pause_rules": rules})


# --- SLA pause rules (sla_pause_rules): whether a hold, a wait for parts or the customer's window stops the clock --

def set_contract_pauses(conn: psycopg.Connection, code: str, pauses: tuple[tuple[str, bool | None], ...],
                        actor: Actor, at: datetime) -> tuple[dict[str, bool], bool]:
    """Apply a contract's own rules for the kinds named (None: drop the contract's rule, the tier's applies).
    Returns the contract's rules after the change and whether anything changed (audited once, before/after).
    Pauses already running keep the decision taken when they started (docs/kpis.md "Paused clocks")."""
    before = {r["kind"]: r["pauses_sla"] for r in repo.rows(conn, "contract_pause_rules", {"code": code})}
    after = dict(before)
    for kind, rule in pauses:
        if rule is None:
            after.pop(kind, None)
        else:
            after[kind] = rule
    if after == before:
        return before, False
    for kind in sorted(set(before) | set(after)):
        if kind not in after:
            conn.execute(repo.Q.delete_contract_pause_rule, {"code": code, "kind": kind})
        elif before.get(kind) != after[kind]:
            conn.execute(repo.Q.set_contract_pause_rule, {"code": code, "kind": kind, "pauses": after[kind]})
    audit(conn, actor, at, "admin.sla_pause_rules.updated", "contract", code, _rule_changes(before, after))
    return after, True


def set_tier_pauses(conn: psycopg.Connection, tier: str, rules: dict[str, bool], actor: Actor,
                    at: datetime) -> tuple[dict[str, bool], bool]:
    """A tier's default rules (what every contract of the tier without its own rule follows), audited."""
    stored = repo.rows(conn, "tier_pause_rules", {})
    before = {r["kind"]: r["pauses_sla"] for r in stored if r["tier"] == tier}
    after = {**before, **rules}
    if after == before:
        return before, False
    for kind, rule in sorted(rules.items()):
        if before.get(kind) != rule:
            conn.execute(repo.Q.set_tier_pause_rule, {"tier": tier, "kind": kind, "pauses": rule})
    audit(conn, actor, at, "admin.sla_pause_rules.updated", "tier", tier, _rule_changes(before, after))
    return after, True


def pause_rules(conn: psycopg.Connection) -> dict[str, dict[str, bool]]:
    """Every tier's default rules: {tier: {kind: pauses}} (the contracts' own rules are in their list)."""
    out: dict[str, dict[str, bool]] = {}
    for r in repo.rows(conn, "tier_pause_rules", {}):
        out.setdefault(r["tier"], {})[r["kind"]] = r["pauses_sla"]
    return out


def _rule_changes(before: dict[str, bool], after: dict[str, bool]) -> dict[str, Any]:
    """Before/after of the kinds that changed; a kind absent on one side is null there (the tier's rule)."""
    kinds = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return {"before": {k: before.get(k) for k in kinds}, "after": {k: after.get(k) for k in kinds}}


# --- technicians' calendars (admins and dispatchers) -----------------------------------------------------------

def _technician_id(conn: psycopg.Connection, code: str) -> tuple[int, dict[str, Any]]:
    row = repo.one(conn, "technician_by_code", {"code": code})
    if row is None:
        raise NotFound(f"technician {code!r} not found")
    return int(row["id"]), row["row"]


def set_working_pattern(conn: psycopg.Connection, code: str, days: tuple[WorkingDay, ...], actor: Actor,
                        at: datetime) -> dict[str, Any]:
    """The weekly pattern; the first working day is the typical day dispatch plans with (shift and breaks)."""
    tid, before = _technician_id(conn, code)
    pattern: dict[str, list[dict[str, Any]]] = {}
    for d in days:
        pattern.setdefault(str(d.weekday), []).append({
            "start": d.start.strftime("%H:%M"), "end": "24:00" if d.end is None else d.end.strftime("%H:%M"),
            "breaks": [{"start": b.start.strftime("%H:%M"), "minutes": b.minutes} for b in d.breaks]})
    typical = days[0] if days else None
    after = repo.one(conn, "set_pattern", {
        "id": tid, "pattern": Jsonb(pattern),
        "shift_start": typical.start if typical else time(0),
        "shift_end": (typical.end or ALWAYS_ON_END) if typical else time(0, 0, 1),
        "breaks": Jsonb([{"start": b.start.strftime("%H:%M"), "minutes": b.minutes}
                         for b in (typical.breaks if typical else ())])})
    assert after is not None
    audit(conn, actor, at, "admin.technician.pattern", "technician", code, changes(before, after["row"]))
    return after["row"]


def add_absence(conn: psycopg.Connection, code: str, kind: str, starts_at: datetime, ends_at: datetime, note: str,
                actor: Actor, at: datetime) -> dict[str, Any]:
    tid, _ = _technician_id(conn, code)
    row = repo.one(conn, "insert_absence", {"technician_id": tid, "kind": kind, "starts_at": starts_at,
                                            "ends_at": ends_at, "note": note})
    assert row is not None
    audit(conn, actor, at, "admin.absence.created", "technician", code, {"before": None, "after": _plain(row["row"])})
    return _plain(row["row"])


def remove_absence(conn: psycopg.Connection, code: str, absence_id: int, actor: Actor, at: datetime) -> None:
    tid, _ = _technician_id(conn, code)
    row = repo.one(conn, "delete_absence", {"id": absence_id, "technician_id": tid})
    if row is None:
        raise NotFound("absence not found")
    audit(conn, actor, at, "admin.absence.deleted", "technician", code, {"before": _plain(row["row"]), "after": None})


def listing(conn: psycopg.Connection, entity: str, now: datetime, customer_id: int | None = None,
            limit: int = 1000) -> list[dict[str, Any]]:
    """Rows for the admin pages (JSON-ready)."""
    params: dict[str, Any] = {"limit": limit, "customer_id": customer_id, "now": now}
    return _plain(repo.rows(conn, f"list_{entity}", params))


def today(at: datetime) -> date:
    return at.date()
