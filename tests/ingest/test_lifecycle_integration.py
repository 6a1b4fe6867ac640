"""Storage lifecycle and query plans on the real database (plain PostgreSQL path in CI)."""

import re
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from core.settings import StorageSettings
from ingest.lifecycle import run_lifecycle
from quietfix.seed import seed

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)


@pytest.fixture()
def plain(conn: psycopg.Connection, migrated_template) -> psycopg.Connection:
    if migrated_template.storage != "plain":
        pytest.skip("plain PostgreSQL path only")
    seed(conn, devices=2, technicians=1, users=False)
    conn.execute("SELECT quietfix_ensure_partitions(%s, %s)", (T0 - timedelta(days=120), T0 + timedelta(days=2)))
    conn.commit()
    return conn


def insert(conn: psycopg.Connection, rows: list[tuple[str, str, datetime, float]]) -> None:
    with conn.cursor() as cur, cur.copy("COPY telemetry (device_id, signal, ts, value) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def test_rollups_match_raw_data_and_refresh_is_idempotent(plain: psycopg.Connection) -> None:
    # 2 hours of 1 Hz readings: value = seconds since T0, so every aggregate is known in closed form.
    rows = [("pump-0001", "pressure_bar", T0 + timedelta(seconds=s), float(s)) for s in range(7200)]
    insert(plain, rows)
    settings = StorageSettings()
    result = run_lifecycle(plain, T0 + timedelta(hours=2, seconds=30), settings)
    assert result.ran and result.rollup_rows == 120
    first = plain.execute("SELECT avg, min, max, n FROM telemetry_1m WHERE bucket = %s",
                          (T0 + timedelta(minutes=1),)).fetchone()
    assert first == (89.5, 60.0, 119.0, 60)
    hours = plain.execute("SELECT bucket, avg, min, max, n FROM telemetry_1h ORDER BY bucket").fetchall()
    assert hours == [(T0, 1799.5, 0.0, 3599.0, 3600), (T0 + timedelta(hours=1), 5399.5, 3600.0, 7199.0, 3600)]
    run_lifecycle(plain, T0 + timedelta(hours=2, seconds=30), settings)
    again = plain.execute("SELECT count(*), sum(n) FROM telemetry_1m").fetchone()
    assert again == (120, 7200)
    plain.commit()


def test_late_data_within_the_lateness_window_is_rolled_up(plain: psycopg.Connection) -> None:
    insert(plain, [("pump-0001", "flow_lpm", T0 + timedelta(seconds=s), 100.0) for s in range(600)])
    settings = StorageSettings(rollup_lateness_s=3600)
    run_lifecycle(plain, T0 + timedelta(minutes=10), settings)
    # A buffered device delivers readings for minute 3 after the refresh ran.
    insert(plain, [("pump-0001", "flow_lpm", T0 + timedelta(minutes=3, seconds=30), 400.0)])
    run_lifecycle(plain, T0 + timedelta(minutes=11), settings)
    row = plain.execute("SELECT max, n FROM telemetry_1m WHERE bucket = %s AND signal = 'flow_lpm'",
                        (T0 + timedelta(minutes=3),)).fetchone()
    assert row == (400.0, 61)
    plain.commit()


def test_retention_drops_only_whole_partitions_past_the_cutoff(plain: psycopg.Connection) -> None:
    insert(plain, [("pump-0001", "pressure_bar", T0 - timedelta(days=100), 1.0),
                   ("pump-0001", "pressure_bar", T0 - timedelta(days=10), 2.0)])
    result = run_lifecycle(plain, T0, StorageSettings(raw_retention_days=90))
    assert result.partitions_dropped == 120 - 90  # the days -120 .. -91
    assert [r[0] for r in plain.execute("SELECT value FROM telemetry")] == [2.0]
    plain.commit()


def test_latest_and_window_queries_use_the_device_signal_index(plain: psycopg.Connection) -> None:
    rows = [(f"pump-000{d}", sig, T0 + timedelta(seconds=s), 1.0) for d in (1, 2)
            for sig in ("pressure_bar", "flow_lpm", "motor_temp_c") for s in range(0, 20000, 2)]
    insert(plain, rows)
    plain.execute("ANALYZE telemetry")
    plain.execute("SET enable_seqscan = off")  # plans must be index-capable; tiny tables would otherwise seq-scan
    window = "\n".join(r[0] for r in plain.execute(
        "EXPLAIN SELECT ts, value FROM telemetry WHERE device_id = 'pump-0001' AND signal = 'pressure_bar' "
        "AND ts >= %s AND ts < %s", (T0, T0 + timedelta(minutes=10))))
    assert "telemetry_device_signal_ts_ix" in window or "_device_id_signal_ts_idx" in window
    latest = "\n".join(r[0] for r in plain.execute(
        "EXPLAIN SELECT ts, value FROM telemetry WHERE device_id = 'pump-0001' AND signal = 'flow_lpm' "
        "ORDER BY ts DESC LIMIT 1"))
    assert "Index Scan" in latest
    assert not re.search(r"^\s*(->\s+)?Sort\s+\(", latest, re.MULTILINE)  # ordered by the index, never sorted
    plain.rollback()
