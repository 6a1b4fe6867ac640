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


def test_reset_clears_every_piece_of_state_a_previous_run_leaves_behind(conn: psycopg.Connection) -> None:
    """Issue #19: a second demo found diagnose's progress from the first (whose clock ended hours ahead) and
    evaluated nothing. Diagnose, dispatch and spares state all go; arrival numbers start again at 1."""
    from core.clock import to_datetime
    from core.contracts import Sample, TelemetryBatch
    from diagnostics import repository as diag
    from ingest.repository import write_batches

    devices = seeding.seed(conn, devices=3, technicians=2, users=False, spares=True)
    d = devices[0].device_id
    now = to_datetime(1_767_225_600)
    conn.execute("SELECT quietfix_ensure_partitions(%s, %s)", (now, now))
    write_batches(conn, [TelemetryBatch(d, 1, (Sample(1_767_225_600_000, (("flow_lpm", 1.0),)),))], now)
    diag.save_progress(conn, 1, {d: now})
    diag.save_checkpoints(conn, [diag.Checkpoint(d, "fp", now, {}, 1)], now)
    diag.insert_model(conn, "pump", 1, b"model", now, 10, 1)
    diag.raise_alarm(conn, "detection_stalled", now, {})
    conn.execute("INSERT INTO plans (created_at, trigger, planner, is_current) VALUES (%s, 'test', 'nearest', true)",
                 (now,))
    seeding.reset(conn)
    for table in ("diagnose_progress", "detector_state", "normal_models", "ops_alarms", "ingest_batches",
                  "plans", "reservations", "shipments", "telemetry_clock_faults"):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    again = seeding.seed(conn, devices=3, technicians=2, users=False)
    write_batches(conn, [TelemetryBatch(again[0].device_id, 1, (Sample(1_767_225_600_000, (("flow_lpm", 1.0),)),))],
                  now)
    assert conn.execute("SELECT arrival FROM ingest_batches").fetchall() == [(1,)]
