"""SQL access for master data. Repositories never commit: the import, the API request or the test does."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from core.sql import Queries

Q = Queries(__file__)


def one(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(getattr(Q, query), params).fetchone()


def rows(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(getattr(Q, query), params).fetchall()


def ids_by_code(conn: psycopg.Connection, query: str, codes: list[str]) -> dict[str, int]:
    """Natural key -> id for the codes that exist (customer_ids, site_ids, technician_ids)."""
    return {r["code"]: int(r["id"]) for r in rows(conn, query, {"codes": codes})}
