"""Structured visit outcomes: the fault mode found and a fix code chosen from a list (issue #16 item 6).

Why structured: the knowledge base learns from closed visits. Free text ("as diagnosed", "fixed it") cannot be
counted; a fault mode and a fix code can. Free text stays, as notes. The fix codes are a table (fix_codes,
migration 0360) so an organisation can add its own; each names the fault modes it applies to, which the phone
lists first.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import psycopg
from psycopg.rows import dict_row

from core.sql import Queries

Q = Queries(__file__, "outcomes.sql")


class OutcomeError(ValueError):
    """A structured field the list does not hold; the API answers 422 with ``field``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def fix_codes(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Active fix codes in display order: [{code, label, fault_modes}]."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.fix_codes).fetchall()


def check_outcome(conn: psycopg.Connection, *, fix_code: str | None, fault_mode: str | None,
                  known_modes: Collection[str]) -> None:
    """Raise OutcomeError unless the fix code is an active one and the fault mode is one of ``known_modes`` (the
    knowledge base's modes for the asset's equipment type). Both may be absent (an older phone)."""
    if fix_code is not None and conn.execute(Q.fix_code_active, {"code": fix_code}).fetchone() is None:
        raise OutcomeError("fix_code", f"unknown fix code {fix_code!r}: choose one from the list")
    if fault_mode is not None and fault_mode not in known_modes:
        raise OutcomeError("fault_mode", f"unknown fault mode {fault_mode!r} for this equipment type")


def record_outcome(conn: psycopg.Connection, work_order_id: int, *, fix_code: str | None,
                   fault_mode: str | None) -> None:
    """Store the structured fields on the visit (same transaction as its completion)."""
    conn.execute(Q.set_outcome, {"id": work_order_id, "fix_code": fix_code, "fault_mode": fault_mode})
