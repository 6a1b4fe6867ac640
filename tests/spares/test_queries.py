from __future__ import annotations

import pytest

from spares.repository import parse_queries, queries


def test_parse_queries_blocks() -> None:
    text = "-- header\n-- name: a\nSELECT 1;\n-- name: b\n-- a comment\nSELECT 2\n"
    assert parse_queries(text) == {"a": "SELECT 1", "b": "SELECT 2"}
    with pytest.raises(ValueError):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;")


def test_shipped_queries_load_and_are_not_empty() -> None:
    loaded = queries()
    assert {"apply_deltas", "insert_ledger", "insert_reservation", "close_reservation"} <= set(loaded)
    assert all(body and not body.endswith(";") for body in loaded.values())
