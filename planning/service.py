"""Planning use cases over the database: entitlements of work orders, contracts, escalations, coverage.

Each function takes the caller's connection (the caller owns the transaction) and returns plain data for the
API; the decisions themselves live in the pure modules (entitlements, forecast, capacity, coverage, escalation).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from core.events import record_timeline, summary_text
from dispatch import Location, StraightLineProvider
from i18n import Message
from planning import repository as repo
from planning.capacity import PAIRS, SHIFTS, Cell, RegionProfile, required, shift_hourly, skill_mix
from planning.coverage import Base, Site, coverage_map, summary
from planning.entitlements import coverage_label, covering, entitlement, next_inspection
from planning.forecast import ModelCache
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


def entitled(conn: psycopg.Connection, row: dict[str, Any],
              cache: dict[int, list[Contract]] | None = None) -> tuple[Contract | None, Entitlement]:
    cid = int(row["customer_id"])
    contracts = cache.get(cid) if cache is not None else None
    if contracts is None:
        contracts = repo.contracts_of_customer(conn, cid)
        if cache is not None:
            cache[cid] = contracts
    k = covering(contracts, row["device_id"], cid, row["opened_at"])
    return k, entitlement(k, row["customer_tier"], int(row["severity"]), row["opened_at"], _parts(row["parts"]),
                          tier_defaults=repo.sla_tier_defaults(conn))


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
    k, e = entitled(conn, row)
    return _work_order_view(row, k, e)


def open_work_order_contracts(conn: psycopg.Connection, limit: int = 200) -> list[dict[str, Any]]:
    cache: dict[int, list[Contract]] = {}
    out = []
    for row in repo.open_work_orders(conn, limit):
        k, e = entitled(conn, row, cache)
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
# Fitted models of this process: the forecast (history up to 24 h back), roster and preventive views (history up
# to the current hour) share two or three keys per hour; 16 leaves room for other back_h values and a database
# switch in tests without holding more than a few MB.
FORECAST_MODELS = ModelCache(max_size=16)


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
    model = FORECAST_MODELS.fit(region_of, np.tile(hist_starts, len(regions)), y, np.zeros(len(y)), monday,
                                use_risk=False)
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


# --- capacity and coverage ----------------------------------------------------------------------------------------

# On-site share target for the roster suggestion: the product promise is "on site within 2 h" for 95 % of jobs.
ROSTER_TARGET = 0.95
ONSITE_H = 1.0  # typical time on site (knowledge-base repair minutes cluster around an hour)
KM_PER_DEG = 111.2
MIN_REGION_KM = 5.0  # a region with one site still needs driving to it


def _local_midnight(now: datetime, tz: str) -> datetime:
    local = now.astimezone(ZoneInfo(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _sites(conn: psycopg.Connection) -> list[Site]:
    return [Site(s["device_id"], int(s["customer_id"]), s["customer_name"], s["tier"], s["region"],
                 Location(s["lat"], s["lon"]), frozenset(s["skills"] or ())) for s in repo.sites(conn)]


def _hour(t: Any) -> float:
    return t.hour + t.minute / 60


def _bases(conn: psycopg.Connection) -> list[Base]:
    out = []
    for t in repo.technicians(conn):
        end = _hour(t["shift_end"])
        end = 24.0 if end >= 23.98 else end  # 23:59:59 means "until midnight"
        out.append(Base(t["code"], Location(t["home_lat"], t["home_lon"]), frozenset(t["skills"]),
                        _hour(t["shift_start"]), end))
    return out


def _what_if_bases(add_technicians: list[dict[str, Any]], add_depots: list[dict[str, Any]]) -> list[Base]:
    """What-if technicians as given; a staffed depot is one technician per skill pair based there."""
    out = [Base(f"what-if-{i + 1}", Location(t["lat"], t["lon"]), frozenset(t.get("skills") or ()),
                t.get("shift_start_h", 0), t.get("shift_end_h", 24)) for i, t in enumerate(add_technicians)]
    for i, d in enumerate(add_depots):
        out += [Base(f"depot-{i + 1}-{k}", Location(d["lat"], d["lon"]), pair, d.get("shift_start_h", 0),
                     d.get("shift_end_h", 24)) for k, pair in enumerate(PAIRS)]
    return out


def _site_view(c: Any) -> dict[str, Any]:
    s = c.site
    return {"device_id": s.id, "customer_id": s.customer_id, "customer_name": s.customer_name, "tier": s.tier,
            "region": s.region, "lat": s.location.lat, "lon": s.location.lon, "covered": list(c.covered),
            "technicians": list(c.technicians), "hours_covered": c.hours_covered}


def coverage(conn: psycopg.Connection, now: datetime, tz: str = "UTC",
             add_technicians: list[dict[str, Any]] | None = None,
             add_depots: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Today's coverage map from the technician roster; with what-ifs, the map with the additions and what
    they change (sites and key accounts newly covered)."""
    sites, bases = _sites(conn), _bases(conn)
    travel = StraightLineProvider()
    day0 = _local_midnight(now, tz).timestamp()
    cov = coverage_map(sites, bases, travel, day0)
    out: dict[str, Any] = {"day": _local_midnight(now, tz).date(), "summary": summary(cov),
                           "sites": [_site_view(c) for c in cov]}
    extra = _what_if_bases(add_technicians or [], add_depots or [])
    if extra:
        after = coverage_map(sites, bases + extra, travel, day0)
        s_before, s_after = summary(cov), summary(after)
        before_key = {a["customer_id"] for a in s_before["uncovered_key_accounts"]}  # type: ignore[attr-defined]
        after_key = {a["customer_id"] for a in s_after["uncovered_key_accounts"]}  # type: ignore[attr-defined]
        out["what_if"] = {
            "added": [b.id for b in extra], "summary": s_after,
            "newly_covered_sites": [a.site.id for a, b in zip(after, cov, strict=True)
                                    if all(a.covered) and not all(b.covered)],
            "site_hours_gained": sum(a.hours_covered - b.hours_covered for a, b in zip(after, cov, strict=True)),
            "newly_covered_key_accounts": sorted(before_key - after_key)}
    return out


def _region_profiles(sites: list[Site]) -> tuple[dict[str, RegionProfile], dict[str, dict[str, float]]]:
    by_region: dict[str, list[Site]] = {}
    for s in sites:
        by_region.setdefault(s.region, []).append(s)
    profiles, shares = {}, {}
    for region, ss in by_region.items():
        lats = [s.location.lat for s in ss]
        lons = [s.location.lon for s in ss]
        mid = sum(lats) / len(lats)
        km = max((max(lats) - min(lats)) * KM_PER_DEG,
                 (max(lons) - min(lons)) * KM_PER_DEG * float(np.cos(np.radians(mid))), MIN_REGION_KM)
        profiles[region] = RegionProfile(km, ONSITE_H)
        counts: dict[str, float] = {}
        for s in ss:
            for k in s.skills:
                counts[k] = counts.get(k, 0.0) + 1 / len(s.skills)
        total = sum(counts.values()) or 1.0
        shares[region] = {k: v / total for k, v in counts.items()}
    return profiles, shares


def roster_suggestion(conn: psycopg.Connection, now: datetime, tz: str = "UTC",
                      target: float = ROSTER_TARGET) -> dict[str, Any]:
    """Technicians and skill mix per region and shift for the next operational day (06:00 local onwards) to
    keep the on-site promise at ``target`` given the forecast, next to how many are rostered today."""
    midnight = _local_midnight(now, tz)
    day_start = midnight + timedelta(hours=SHIFTS[0].start_h)
    if day_start <= now:
        day_start += timedelta(days=1)
    ahead = int((day_start - now).total_seconds() // 3600) + 26
    fc = forecast_vs_actual(conn, now, back_h=0, ahead_h=ahead)
    if not fc["hours"]:
        return {"day_start": day_start, "rows": [], "reason": fc.get("reason")}
    by_region: dict[str, dict[datetime, float]] = {}
    for h in fc["hours"]:
        by_region.setdefault(h["region"], {})[h["hour"]] = h["mean"]
    sites = _sites(conn)
    profiles, shares = _region_profiles(sites)
    from planning.roster import rostered_on, shift_span

    bases = _bases(conn)
    techs = repo.technicians(conn)
    regions_of = {t["code"]: t["region"] for t in techs}
    shifts = rostered_on(conn, day_start, tz)  # an approved roster's shifts stand in for those technicians' patterns
    approved = {t["code"]: shifts[int(t["id"])] for t in techs if int(t["id"]) in shifts}
    rows = []
    day_hours = [day_start.astimezone(UTC) + timedelta(hours=i) for i in range(24)]
    demand = {}
    for region, series in by_region.items():
        hourly = [series.get(h.replace(minute=0, second=0, microsecond=0), 0.0) for h in day_hours]
        for s in SHIFTS:
            demand[Cell(0, region, s.name)] = shift_hourly(hourly, s)
    need = required(demand, target, {r: profiles.get(r, RegionProfile(MIN_REGION_KM, ONSITE_H)) for r in by_region})
    for c, n in sorted(need.items()):
        s = next(x for x in SHIFTS if x.name == c.shift)
        mid_h = ((s.start_h + s.end_h) / 2) % 24
        a, z = shift_span(day_start, c.shift, ZoneInfo(tz))
        mid = a + (z - a) / 2
        rostered = sum(1 for b in bases if regions_of.get(b.id) == c.region and (
            any(x <= mid < y for x, y in approved[b.id]) if b.id in approved else b.on_shift(mid_h)))
        mix: dict[str, int] = {}
        for pair in skill_mix(n, shares.get(c.region, {})):
            key = "+".join(sorted(pair))
            mix[key] = mix.get(key, 0) + 1
        rows.append({"region": c.region, "shift": c.shift, "hours": f"{s.start_h:02d}-{s.end_h % 24:02d}",
                     "forecast_incidents": round(sum(demand[c]), 2), "technicians_needed": n,
                     "skill_mix": mix, "rostered": rostered, "gap": n - rostered})
    return {"day_start": day_start, "target": target, "rows": rows}


def load_today(conn: psycopg.Connection, now: datetime, tz: str = "UTC") -> dict[str, Any]:
    """The KPI line of the board and planning page: incidents since local midnight against the forecast for the
    same complete hours, the day's expected total, and the roster's coverage of the next operational day
    (region x shift cells short of the technicians the forecast needs). The day's model is fitted on the history
    before midnight, so it is fitted once a day (the model cache) and the morning is a genuine forecast."""
    midnight = _local_midnight(now, tz).astimezone(UTC)
    hour0 = now.replace(minute=0, second=0, microsecond=0)
    back_h = max(0, int((hour0 - midnight).total_seconds() // 3600))
    fc = forecast_vs_actual(conn, now, back_h=back_h, ahead_h=max(1, 24 - back_h))
    past = [h for h in fc["hours"] if h["actual"] is not None]
    out: dict[str, Any] = {"day_start": midnight, "hours_past": back_h, "forecast": bool(fc["hours"]),
                           "reason": fc.get("reason"),
                           "actual_so_far": sum(h["actual"] for h in past),
                           "forecast_so_far": round(sum(h["mean"] for h in past), 1),
                           "forecast_day": round(sum(h["mean"] for h in fc["hours"]), 1),
                           "in_band_hours": sum(1 for h in past if h["lo80"] <= h["actual"] <= h["hi80"])}
    roster = roster_suggestion(conn, now, tz)
    short = [r for r in roster["rows"] if r["gap"] > 0]
    out["roster"] = {"day_start": roster["day_start"], "cells": len(roster["rows"]), "short_cells": len(short),
                     "short_technicians": sum(r["gap"] for r in short),
                     "needed": sum(r["technicians_needed"] for r in roster["rows"]),
                     "rostered": sum(r["rostered"] for r in roster["rows"])}
    return out


# --- preventive visits --------------------------------------------------------------------------------------------

PREVENTIVE_DAYS = 3  # planning horizon of preventive visits: inspections and RUL repairs due within it
INSPECTION_MIN = 60  # a routine contract inspection takes about an hour on site
RUL_REPAIR_DAYS = 2  # a repair suggested by an early degradation warning is planned within two days
BUSY_H_PER_JOB = ONSITE_H + 0.5  # an emergency keeps a technician about 1.5 h (on site plus the drive)


def preventive_plan(conn: psycopg.Connection, now: datetime, tz: str = "UTC",
                    days: int = PREVENTIVE_DAYS) -> dict[str, Any]:
    """Contract inspections due and RUL-suggested repairs within ``days``, each given a service window in the
    hours the workload forecast leaves technicians spare (after the emergency reserve); the rest deferred.
    The windows are for the dispatcher's optimiser (hard windows, low tier)."""
    from planning.preventive import PreventiveTask, slot, spare_technicians

    sites = {s.id: s for s in _sites(conn)}
    horizon = now + timedelta(days=days)
    tasks: list[PreventiveTask] = []
    for due in inspections_due(conn, horizon.date()):
        site = sites.get(due.device_id)
        if site is None:
            continue
        due_by = max(datetime.combine(due.due_on, datetime.min.time(), tzinfo=UTC) + timedelta(days=1), horizon)
        tasks.append(PreventiveTask(f"insp-{due.contract_code}-{due.device_id}", site.location, site.skills,
                                    INSPECTION_MIN * 60, due_by.timestamp(), "inspection"))
    for inc in repo.watching_incidents(conn):
        site = sites.get(inc["device_id"])
        if site is None:
            continue
        due_by = max(inc["opened_at"] + timedelta(days=RUL_REPAIR_DAYS), now + timedelta(hours=4))
        tasks.append(PreventiveTask(f"rul-{inc['id']}", site.location, site.skills, 90 * 60,
                                    due_by.timestamp(), "rul"))
    hour0 = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hours = [hour0 + timedelta(hours=i) for i in range(days * 24)]
    fc = forecast_vs_actual(conn, now, back_h=0, ahead_h=days * 24 + 1)
    load: dict[datetime, float] = {}
    for h in fc["hours"]:
        load[h["hour"]] = load.get(h["hour"], 0.0) + h["mean"]
    bases = _bases(conn)
    local = ZoneInfo(tz)
    on_shift = [sum(1 for b in bases if b.on_shift(h.astimezone(local).hour)) for h in hours]
    spare = spare_technicians([load.get(h, 0.0) for h in hours], on_shift, BUSY_H_PER_JOB)
    jobs, deferred = slot(tasks, [h.timestamp() for h in hours], spare, now.timestamp())
    reason = {t.id: t.reason for t in tasks}
    return {"horizon_days": days, "forecast": bool(fc["hours"]), "visits": [
        {"id": j.id, "reason": reason[j.id.split("-", 1)[1]], "window_start": datetime.fromtimestamp(j.window[0], UTC),
         "window_end": datetime.fromtimestamp(j.window[1], UTC), "skills": sorted(j.required_skills),
         "duration_min": round(j.duration_s / 60)} for j in jobs if j.window is not None],
        "deferred": [{"id": t.id, "reason": t.reason, "due_by": datetime.fromtimestamp(t.due_by, UTC)}
                     for t in deferred]}


# --- preventive work orders ---------------------------------------------------------------------------------------

PREVENTIVE_ORDER_DAYS = 7  # inspections and predicted failures due within a week become work orders
INSPECTION_WINDOW_DAYS = 14  # an inspection may be done a week either side of its due day


def create_preventive_work_orders(conn: psycopg.Connection, now: datetime,
                                  days: int = PREVENTIVE_ORDER_DAYS) -> dict[str, Any]:
    """The planning job: every contract inspection and every RUL-predicted failure (not already an incident) due
    within ``days`` becomes one preventive work order with a window of days, once (keys of live or finished
    orders are skipped). Finished inspection rounds move their contract's schedule on first. Caller commits."""
    from diagnostics import predicted_failures
    from planning.preventive import PreventiveOrder, inspection_key, inspection_window, rul_key, rul_window
    from planning.windows import visit_windows

    if not repo.try_lock_preventive(conn):
        return {"skipped": "another planning run holds the lock", "created": []}
    advanced = repo.inspections_done(conn)
    resolved = resolve_predictions(conn)
    existing = repo.preventive_keys(conn)
    repaired = repo.completed_rul_visits(conn)
    horizon = now + timedelta(days=days)
    t = now.timestamp()
    wanted: list[PreventiveOrder] = []
    sites = repo.sites(conn)
    by_customer: dict[int, list[str]] = {}
    for s in sites:
        by_customer.setdefault(int(s["customer_id"]), []).append(s["device_id"])
    contracts = repo.all_contracts(conn)
    under: dict[str, Contract] = {}  # an inspection's key -> its contract (whose coverage hours it keeps)
    for k in contracts:
        due = next_inspection(k)
        if due is None or due > horizon.date() or k.device_id is not None:
            continue
        due_start = datetime.combine(due, datetime.min.time(), tzinfo=UTC).timestamp()
        lo, hi = inspection_window(due_start, INSPECTION_WINDOW_DAYS, t)
        for device_id in by_customer.get(k.customer_id, []):
            under[inspection_key(k.id, due.isoformat(), device_id)] = k
            wanted.append(PreventiveOrder(inspection_key(k.id, due.isoformat(), device_id), "inspection", device_id,
                                          "inspection", lo, hi, INSPECTION_MIN, (), {},
                                          Message("summary.inspectionDue", {"contract": k.code, "due": due.isoformat()})))
    for f in predicted_failures(conn, before=horizon):
        if f["open_incident_id"] is not None or f["failure_at"] is None:
            continue  # already being handled by the diagnose loop
        mode = f["fault_mode"] or f["signal"]
        lo, hi = rul_window(f["failure_earliest_at"].timestamp() if f["failure_earliest_at"] else None,
                            f["failure_at"].timestamp(), t)
        parts = {str(p["sku"]): int(p.get("qty", 1)) for p in (f["likely_parts"] or []) if p.get("sku")}
        key = rul_key(f["device_id"], mode)
        if repaired.get((f["device_id"], mode)):  # predicted again after a finished repair: a new due item
            key += f":r{repaired[(f['device_id'], mode)]}"
        wanted.append(PreventiveOrder(key, "rul", f["device_id"], f"preventive:{mode}",
                                      lo, hi, int(f["repair_minutes"]), tuple(f["skills"] or ()), parts,
                                      Message("summary.failurePredicted", {
                                          "mode": {"key": f"fault.{mode}", "text": mode.replace("_", " ")},
                                          "at": f["failure_at"]})))
    created: list[dict[str, Any]] = []
    skipped_open = 0
    for o in wanted:
        if o.key in existing:
            continue
        site = repo.device_site(conn, o.device_id)
        if site is None:
            continue
        cover = under.get(o.key) or covering(contracts, o.device_id, int(site["customer_id"]), now)
        windows = visit_windows(site, cover, o.earliest_start, o.latest_start, o.estimated_minutes)
        lo, hi = (windows[0][0], windows[-1][1]) if windows else (o.earliest_start, o.latest_start)
        start_at, end_at = datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(hi, UTC)
        ids = repo.insert_preventive(
            conn, device_id=o.device_id, customer_id=int(site["customer_id"]), lat=site["lat"], lon=site["lon"],
            fault_mode=o.fault_mode, summary=summary_text(o.summary), summary_message=o.summary.to_json(), at=now,
            earliest_start=start_at, latest_start=end_at,
            evidence={"preventive": o.reason, "key": o.key}, skills=list(o.skills), minutes=o.estimated_minutes,
            parts=o.parts, key=o.key, windows=windows)
        if ids is None:
            skipped_open += 1
            continue
        existing.add(o.key)
        record_timeline(conn, customer_id=int(site["customer_id"]), device_id=o.device_id, at=now,
                        kind="preventive_planned", message=Message("summary.preventivePlanned", {
                            "what": o.summary.to_json(), "from": start_at, "to": end_at}),
                        incident_id=ids[0], work_order_id=ids[1],
                        data={"reason": o.reason, "earliest_start": start_at.isoformat(), "latest_start": end_at.isoformat()})
        created.append({"work_order_id": ids[1], "incident_id": ids[0], "key": o.key, "reason": o.reason,
                        "device_id": o.device_id, "earliest_start": start_at, "latest_start": end_at})
    log.info("preventive work orders planned", extra={"orders_created": len(created), "due": len(wanted),
                                                      "already_open": skipped_open, "schedules_advanced": advanced,
                                                      "predictions_resolved": len(resolved)})
    return {"created": created, "due": len(wanted), "already_open": skipped_open, "schedules_advanced": advanced,
            "predictions_resolved": resolved}


def resolve_predictions(conn: psycopg.Connection, work_order_id: int | None = None) -> list[str]:
    """Predicted failures repaired by a completed preventive visit stop being predictions (the assets whose
    prediction was resolved). Run by the planning job before it reads predicted_failures, and by the
    technician's completion path for that one work order, so spares see it at once. Caller commits."""
    done = repo.resolve_predictions(conn, work_order_id)
    for device_id, at in done:
        log.info("prediction resolved by a preventive repair", extra={"device_id": device_id,
                                                                     "completed_at": at.isoformat()})
    return [d for d, _ in done]


# --- the asset's covering contract (asset page, portal) ------------------------------------------------------------

def asset_contracts(conn: psycopg.Connection, customer_id: int, device_ids: list[str],
                    at: datetime) -> dict[str, dict[str, Any] | None]:
    """The contract covering each of a customer's assets at ``at`` (asset-level before customer-wide), with its
    tier, coverage hours, warranty and whether the warranty still runs; None = no contract (time and materials)."""
    contracts = repo.contracts_of_customer(conn, customer_id)
    out: dict[str, dict[str, Any] | None] = {}
    for device_id in device_ids:
        k = covering(contracts, device_id, customer_id, at)
        out[device_id] = None if k is None else {
            **contract_view(k), "under_warranty": k.warranty_until is not None and at.date() <= k.warranty_until}
    return out
