"""The demo starts each run from an empty region (`quietfix demo` calls seed.reset on the migrated database)."""

from __future__ import annotations

import psycopg
import pytest

from quietfix import seed as seeding

pytestmark = pytest.mark.integration


def test_reset_empties_a_seeded_region_with_telemetry_and_it_can_be_seeded_again(conn: psycopg.Connection) -> None:
    devices = seeding.seed(conn, devices=3, technicians=2, users=True)
    conn.execute("INSERT INTO telemetry_samples (device_id, ts, signals, readings) VALUES (%s, now(), %s, %s)",
                 (devices[0].device_id, ["temp_c"], [21.5]))
    assert conn.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 1  # the view over the samples
    seeding.reset(conn)
    for table in ("devices", "customers", "technicians", "users", "telemetry_samples"):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    again = seeding.seed(conn, devices=3, technicians=2, users=True)
    assert [d.device_id for d in again] == [d.device_id for d in devices]
