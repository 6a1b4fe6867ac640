"""The array literals ingest sends instead of list parameters read back exactly as the values they encode."""

from __future__ import annotations

import math
import random

import psycopg
import pytest

from ingest.repository import floats_array, ints_array, names_array

pytestmark = pytest.mark.integration


def test_names_ints_and_floats_read_back_exactly(conn: psycopg.Connection) -> None:
    rng = random.Random(7)
    floats = [rng.uniform(-1e6, 1e6) for _ in range(500)] + [0.1, -0.0, 1e-300, 1.7976931348623157e308, 5e-324, 1e16]
    ints = [0, -1, 2**62, 1_733_480_000_123, None]
    names = ["NULL", "null", "dev-1.a_b", "flow_lpm", "x" * 64]
    got_f, got_i, got_n = conn.execute("SELECT %s::float8[], %s::bigint[], %s::text[]",
                                       (floats_array(floats), ints_array(ints), names_array(names))).fetchone()
    assert got_f == floats and all(math.copysign(1, a) == math.copysign(1, b) for a, b in zip(got_f, floats))
    assert got_i == ints
    assert got_n == names  # a device called NULL stays a string, not a NULL element


def test_empty_arrays_and_refused_names(conn: psycopg.Connection) -> None:
    assert conn.execute("SELECT %s::text[], %s::bigint[]", (names_array([]), ints_array([]))).fetchone() == ([], [])
    for bad in ['a"b', "a\\b"]:
        with pytest.raises(ValueError):
            names_array(["ok", bad])
