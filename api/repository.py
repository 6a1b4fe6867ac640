"""The API's read models: scoped queries that return plain dicts for the response schemas."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from api.auth import Principal
from core.sql import Queries

Q = Queries(__file__)


def _scope(p: Principal) -> dict[str, Any]:
    return {"all": p.sees_everything, "cid": p.customer_id if p.role == "customer" else None,
            "tid": p.technician_id if p.role == "technician" else None}


def _all(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def _one(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchone()


def user_by_name(conn: psycopg.Connection, username: str) -> dict[str, Any] | None:
    return _one(conn, Q.user_by_name, {"username": username})


def list_devices(conn: psycopg.Connection, p: Principal, limit: int, offset: int) -> list[dict[str, Any]]:
    return _all(conn, Q.list_devices, {**_scope(p), "limit": limit, "offset": offset})


def get_device(conn: psycopg.Connection, p: Principal, device_id: str) -> dict[str, Any] | None:
    return _one(conn, Q.get_device, {**_scope(p), "device_id": device_id})


def asset_open_incidents(conn: psycopg.Connection, device_id: str) -> list[dict[str, Any]]:
    return _all(conn, Q.asset_open_incidents, {"device_id": device_id})


def latest_telemetry(conn: psycopg.Connection, device_id: str) -> list[dict[str, Any]]:
    return _all(conn, Q.latest_telemetry, {"device_id": device_id})


def telemetry_window(conn: psycopg.Connection, device_id: str, start: datetime, end: datetime,
                     bucket: timedelta) -> list[dict[str, Any]]:
    return _all(conn, Q.telemetry_window, {"device_id": device_id, "start": start, "end": end, "bucket": bucket})


def list_incidents(conn: psycopg.Connection, p: Principal, open_only: bool, limit: int,
                   offset: int) -> list[dict[str, Any]]:
    return _all(conn, Q.list_incidents, {**_scope(p), "open_only": open_only, "limit": limit, "offset": offset})


def list_work_orders(conn: psycopg.Connection, p: Principal, limit: int, offset: int) -> list[dict[str, Any]]:
    return _all(conn, Q.list_work_orders, {**_scope(p), "limit": limit, "offset": offset})


def list_technicians(conn: psycopg.Connection, p: Principal) -> list[dict[str, Any]]:
    return _all(conn, Q.list_technicians, _scope(p))


def device_timeline(conn: psycopg.Connection, device_id: str, limit: int) -> list[dict[str, Any]]:
    return _all(conn, Q.device_timeline, {"device_id": device_id, "limit": limit})


def counts(conn: psycopg.Connection) -> dict[str, Any]:
    return _one(conn, Q.counts, {}) or {}


def storage_mode(conn: psycopg.Connection) -> str | None:
    row = _one(conn, Q.storage_mode, {})
    return row["value"] if row else None


# --- The three faces (board, technician, portal) and live updates. Appended by feat/ui. -----------------------

def board_technicians(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return _all(conn, Q.board_technicians, {})


def board_queue(conn: psycopg.Connection, limit: int = 500) -> list[dict[str, Any]]:
    return _all(conn, Q.board_queue, {"limit": limit})


def board_version(conn: psycopg.Connection) -> tuple[Any, ...]:
    row = _one(conn, Q.board_version, {}) or {}
    return tuple(row.values())


def kpi_strip(conn: psycopg.Connection, start: datetime, end: datetime, now: datetime) -> list[dict[str, Any]]:
    return _all(conn, Q.kpi_strip, {"start": start, "end": end, "now": now})


def intake_device(conn: psycopg.Connection, device_id: str) -> dict[str, Any] | None:
    return _one(conn, Q.intake_device, {"device_id": device_id})


def assignable_work_order(conn: psycopg.Connection, work_order_id: int) -> dict[str, Any] | None:
    return _one(conn, Q.assignable_work_order, {"work_order_id": work_order_id})


def technician_for_assignment(conn: psycopg.Connection, technician_id: int) -> dict[str, Any] | None:
    return _one(conn, Q.technician_for_assignment, {"technician_id": technician_id})


def technician_last_stop(conn: psycopg.Connection, technician_id: int, work_order_id: int) -> dict[str, Any] | None:
    return _one(conn, Q.technician_last_stop, {"technician_id": technician_id, "work_order_id": work_order_id})


def manual_assign(conn: psycopg.Connection, work_order_id: int, technician_id: int, at: datetime,
                  eta: datetime) -> bool:
    return _one(conn, Q.manual_assign, {"work_order_id": work_order_id, "technician_id": technician_id, "at": at,
                                        "eta": eta}) is not None


def release_technician_if_idle(conn: psycopg.Connection, technician_id: int) -> None:
    conn.execute(Q.release_technician_if_idle, {"technician_id": technician_id})


def set_travelling(conn: psycopg.Connection, technician_id: int) -> None:
    conn.execute(Q.set_travelling, {"technician_id": technician_id})


def tech_jobs(conn: psycopg.Connection, technician_id: int, since: datetime) -> list[dict[str, Any]]:
    return _all(conn, Q.tech_jobs, {"tid": technician_id, "since": since})


def tech_job_owner(conn: psycopg.Connection, technician_id: int, work_order_id: int) -> dict[str, Any] | None:
    return _one(conn, Q.tech_job_owner, {"tid": technician_id, "work_order_id": work_order_id})


def record_action(conn: psycopg.Connection, *, action_id: str, technician_id: int, work_order_id: int,
                  action: str, at: datetime, parts: Any) -> bool:
    """True when this action id is new; False when it was already received (a replay). Every kind of phone
    step shares one table (technician_actions, migration 0820), so an id is used once whatever the step."""
    return _one(conn, Q.record_action, {"action_id": action_id, "tid": technician_id,
                                        "work_order_id": work_order_id, "action": action, "at": at,
                                        "parts": parts}) is not None


def action_result(conn: psycopg.Connection, action_id: str) -> dict[str, Any] | None:
    return _one(conn, Q.action_result, {"action_id": action_id})


def mark_action_applied(conn: psycopg.Connection, action_id: str, applied: bool) -> None:
    conn.execute(Q.mark_action_applied, {"action_id": action_id, "applied": applied})


def mark_en_route(conn: psycopg.Connection, technician_id: int, work_order_id: int, at: datetime | None = None
                  ) -> dict[str, Any] | None:
    """``at`` (when the technician set off) ends the job's wait for the KPIs (idle-while-waiting, docs/kpis.md)."""
    return _one(conn, Q.mark_en_route, {"tid": technician_id, "work_order_id": work_order_id, "at": at})


def portal_assets(conn: psycopg.Connection, customer_id: int) -> list[dict[str, Any]]:
    return _all(conn, Q.portal_assets, {"cid": customer_id})


def portal_pending_surveys(conn: psycopg.Connection, customer_id: int) -> list[dict[str, Any]]:
    return _all(conn, Q.portal_pending_surveys, {"cid": customer_id})


def survey_work_order(conn: psycopg.Connection, customer_id: int, work_order_id: int) -> dict[str, Any] | None:
    return _one(conn, Q.survey_work_order, {"cid": customer_id, "work_order_id": work_order_id})


def insert_survey(conn: psycopg.Connection, *, customer_id: int, work_order_id: int, score: int,
                  comment: str | None, at: datetime) -> int | None:
    row = _one(conn, Q.insert_survey, {"cid": customer_id, "work_order_id": work_order_id, "score": score,
                                       "comment": comment, "at": at})
    return int(row["id"]) if row else None


def change_cursor(conn: psycopg.Connection, p: Principal) -> dict[str, Any]:
    return _one(conn, Q.change_cursor, _scope(p)) or {}


def set_incident_source(conn: psycopg.Connection, incident_id: int, source: str) -> None:
    conn.execute(Q.set_incident_source, {"incident_id": incident_id, "source": source})


def portal_preferences(conn: psycopg.Connection, customer_id: int) -> list[dict[str, Any]]:
    return _all(conn, Q.portal_preferences, {"cid": customer_id})


def upsert_preference(conn: psycopg.Connection, customer_id: int, kind: str, channel: str, enabled: bool) -> None:
    conn.execute(Q.upsert_preference, {"cid": customer_id, "kind": kind, "channel": channel, "enabled": enabled})


def portal_webhooks(conn: psycopg.Connection, customer_id: int) -> list[dict[str, Any]]:
    return _all(conn, Q.portal_webhooks, {"cid": customer_id})


def insert_webhook(conn: psycopg.Connection, customer_id: int, url: str, secret: str) -> int:
    row = _one(conn, Q.insert_webhook, {"cid": customer_id, "url": url, "secret": secret})
    assert row is not None
    return int(row["id"])


def deactivate_webhook(conn: psycopg.Connection, customer_id: int, webhook_id: int) -> bool:
    return _one(conn, Q.deactivate_webhook, {"cid": customer_id, "id": webhook_id}) is not None


def asset_people(conn: psycopg.Connection, device_id: str) -> dict[str, Any] | None:
    return _one(conn, Q.asset_people, {"device_id": device_id})


def user_locale(conn: psycopg.Connection, user_id: int) -> dict[str, Any] | None:
    return _one(conn, Q.user_locale, {"user_id": user_id})


def set_user_locale(conn: psycopg.Connection, user_id: int, language: str | None, timezone: str | None,
                    at: datetime) -> None:
    conn.execute(Q.set_user_locale, {"user_id": user_id, "language": language, "timezone": timezone, "at": at})
