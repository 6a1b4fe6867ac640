"""Storage lifecycle and query plans on the real database (plain PostgreSQL path in CI)."""

import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from core.settings import StorageSettings
from ingest.lifecycle import run_lifecycle
from quietfix.seed import seed

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture()
def plain(conn: psycopg.Connection, migrated_template) -> psycopg.Connection:
    if migrated_template.storage != "plain":
        pytest.skip("plain PostgreSQL path only")
    seed(conn, devices=2, technicians=1, users=False)
    conn.execute("SELECT quietfix_ensure_partitions(%s, %s)", (T0 - timedelta(days=120), T0 + timedelta(days=2)))
    conn.commit()
    return conn


def insert(conn: psycopg.Connection, rows: list[tuple[str, str, datetime, float]]) -> None:
    """Readings grouped into sample rows (device, ts): the layout ingest writes (migration 0110)."""
    samples: dict[tuple[str, datetime], list[tuple[str, float]]] = {}
    for device_id, signal, ts, value in rows:
        samples.setdefault((device_id, ts), []).append((signal, value))
    with conn.cursor() as cur, cur.copy(
            "COPY telemetry_samples (device_id, ts, signals, readings) FROM STDIN") as copy:
        for (device_id, ts), pairs in samples.items():
            copy.write_row((device_id, ts, [p[0] for p in pairs], [p[1] for p in pairs]))
    queue_rollups(conn, rows)


def queue_rollups(conn: psycopg.Connection, rows: list[tuple[str, str, datetime, float]]) -> None:
    """What ingest queues with its rows: per device, the time range written."""
    spans: dict[str, list] = {}
    for device_id, _, ts, _ in rows:
        span = spans.setdefault(device_id, [ts, ts, 0])
        span[0], span[1], span[2] = min(span[0], ts), max(span[1], ts), span[2] + 1
    for device_id, (first, last, n) in spans.items():
        conn.execute("INSERT INTO rollup_dirty VALUES (%s, %s, %s, %s)", (device_id, first, last, n))


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


def test_late_data_is_rolled_up_whatever_its_lateness(plain: psycopg.Connection) -> None:
    insert(plain, [("pump-0001", "flow_lpm", T0 + timedelta(seconds=s), 100.0) for s in range(600)])
    settings = StorageSettings()
    run_lifecycle(plain, T0 + timedelta(minutes=10), settings)
    # A buffered device delivers readings for minute 3 after the refresh ran, and much later a day-old one.
    insert(plain, [("pump-0001", "flow_lpm", T0 + timedelta(minutes=3, seconds=30), 400.0)])
    result = run_lifecycle(plain, T0 + timedelta(minutes=11), settings)
    assert result.rollup_rows == 1  # only the minute that changed was recomputed
    row = plain.execute("SELECT max, n FROM telemetry_1m WHERE bucket = %s AND signal = 'flow_lpm'",
                        (T0 + timedelta(minutes=3),)).fetchone()
    assert row == (400.0, 61)
    insert(plain, [("pump-0001", "flow_lpm", T0 - timedelta(days=1), 7.0)])
    run_lifecycle(plain, T0 + timedelta(days=1), settings)
    assert plain.execute("SELECT n FROM telemetry_1h WHERE bucket = %s", (T0 - timedelta(days=1),)).fetchone() == (1,)
    assert plain.execute("SELECT sum(n) FROM telemetry_1h").fetchone() == (602,)  # 600 + the two stragglers
    plain.commit()


def test_data_after_the_last_complete_minute_waits_for_the_next_refresh(plain: psycopg.Connection) -> None:
    insert(plain, [("pump-0001", "flow_lpm", T0 + timedelta(seconds=s), 1.0) for s in range(90)])
    run_lifecycle(plain, T0 + timedelta(seconds=75), StorageSettings())  # minute 1 is still open
    assert plain.execute("SELECT bucket, n FROM telemetry_1m").fetchall() == [(T0, 60)]
    run_lifecycle(plain, T0 + timedelta(minutes=5), StorageSettings())
    assert plain.execute("SELECT bucket, n FROM telemetry_1m ORDER BY bucket").fetchall() == [
        (T0, 60), (T0 + timedelta(minutes=1), 30)]
    plain.commit()


def test_rows_committed_during_a_refresh_are_rolled_up_by_the_next(plain: psycopg.Connection, db_url: str) -> None:
    keep = StorageSettings(raw_retention_days=365)  # dropping a partition would wait for the open writer
    with psycopg.connect(db_url) as writer:
        insert(writer, [("pump-0002", "flow_lpm", T0 + timedelta(seconds=s), 2.0) for s in range(60)])
        run_lifecycle(plain, T0 + timedelta(minutes=2), keep)  # the writer has not committed
        plain.commit()
        writer.commit()
    assert plain.execute("SELECT count(*) FROM telemetry_1m").fetchone() == (0,)
    run_lifecycle(plain, T0 + timedelta(minutes=3), keep)
    assert plain.execute("SELECT n FROM telemetry_1m").fetchall() == [(60,)]
    plain.commit()


def test_rollups_outlive_the_raw_partitions_retention_drops(plain: psycopg.Connection) -> None:
    insert(plain, [("pump-0001", "pressure_bar", T0 - timedelta(days=100) + timedelta(seconds=s), 3.0)
                   for s in range(60)])
    run_lifecycle(plain, T0, StorageSettings(raw_retention_days=90))
    # A straggler for the same (long dropped) minute must not erase what was rolled up from the dropped rows.
    insert(plain, [("pump-0001", "pressure_bar", T0 - timedelta(days=100) + timedelta(seconds=61), 5.0)])
    run_lifecycle(plain, T0, StorageSettings(raw_retention_days=90))
    assert plain.execute("SELECT n FROM telemetry_1m ORDER BY bucket").fetchall() == [(60,), (1,)]
    plain.commit()


def test_retention_drops_only_whole_partitions_past_the_cutoff(plain: psycopg.Connection) -> None:
    insert(plain, [("pump-0001", "pressure_bar", T0 - timedelta(days=100), 1.0),
                   ("pump-0001", "pressure_bar", T0 - timedelta(days=10), 2.0)])
    result = run_lifecycle(plain, T0, StorageSettings(raw_retention_days=90))
    assert result.partitions_dropped == 120 - 90  # the days -120 .. -91
    assert [r[0] for r in plain.execute("SELECT value FROM telemetry")] == [2.0]
    plain.commit()


def test_reader_queries_use_the_sample_indexes(plain: psycopg.Connection) -> None:
    """The reading-level view keeps its readers on telemetry_samples' indexes: the planner flattens the LATERAL
    unnest, so device_id / ts predicates reach the base scan and the signal filter applies to unnested readings."""
    rows = [(f"pump-000{d}", sig, T0 + timedelta(seconds=s), 1.0) for d in (1, 2)
            for sig in ("pressure_bar", "flow_lpm", "motor_temp_c") for s in range(0, 20000, 2)]
    insert(plain, rows)
    plain.execute("ANALYZE telemetry_samples")
    plain.execute("SET enable_seqscan = off")  # plans must be index-capable; tiny tables would otherwise seq-scan

    def plan(sql: str, *params: object) -> str:
        return "\n".join(r[0] for r in plain.execute("EXPLAIN " + sql, params))

    window = plan("SELECT ts, value FROM telemetry WHERE device_id = 'pump-0001' AND signal = 'pressure_bar' "
                  "AND ts >= %s AND ts < %s", T0, T0 + timedelta(minutes=10))
    assert "telemetry_samples_device_ts_ix" in window or "device_id_ts_idx" in window
    assert "Seq Scan" not in window
    latest = plan("SELECT ts, value FROM telemetry WHERE device_id = 'pump-0001' AND signal = 'flow_lpm' "
                  "ORDER BY ts DESC LIMIT 1")
    assert "Index Scan" in latest and "Seq Scan" not in latest
    assert not re.search(r"^\s*(->\s+)?Sort\s+\(", latest, re.MULTILINE)  # ordered by the index, never sorted
    fleet = plan("SELECT device_id, signal, ts, value FROM telemetry WHERE ts >= %s", T0 + timedelta(hours=5))
    assert "telemetry_samples_ts_brin" in fleet or "ts_idx" in fleet  # BRIN bitmap scan, not a full scan
    assert "Seq Scan" not in fleet
    # The same answers as the narrow layout gave: filter on a signal, newest first.
    assert plain.execute("SELECT ts FROM telemetry WHERE device_id = 'pump-0002' AND signal = 'flow_lpm' "
                         "ORDER BY ts DESC LIMIT 1").fetchone() == (T0 + timedelta(seconds=19998),)
    plain.rollback()


def test_view_accepts_reading_inserts_as_one_signal_samples(plain: psycopg.Connection) -> None:
    plain.execute("INSERT INTO telemetry (device_id, signal, ts, value) VALUES ('pump-0001', 'flow_lpm', %s, 3.5)",
                  (T0,))
    assert plain.execute("SELECT signals, readings FROM telemetry_samples").fetchall() == [(["flow_lpm"], [3.5])]
    assert plain.execute("SELECT signal, value FROM telemetry").fetchall() == [("flow_lpm", 3.5)]
    plain.rollback()


def test_a_pass_takes_devices_up_to_its_readings_budget_oldest_first(plain: psycopg.Connection) -> None:
    insert(plain, [("pump-0002", "flow_lpm", T0 + timedelta(seconds=s), 1.0) for s in range(60)])
    insert(plain, [("pump-0001", "flow_lpm", T0 + timedelta(minutes=1, seconds=s), 1.0) for s in range(60)])
    small = StorageSettings(rollup_max_readings=10)  # less than one device: still one device per pass
    run_lifecycle(plain, T0 + timedelta(minutes=5), small)
    assert plain.execute("SELECT device_id, n FROM telemetry_1m").fetchall() == [("pump-0002", 60)]  # oldest
    assert plain.execute("SELECT DISTINCT device_id FROM rollup_dirty").fetchall() == [("pump-0001",)]
    run_lifecycle(plain, T0 + timedelta(minutes=5), small)
    assert plain.execute("SELECT count(*) FROM rollup_dirty").fetchone() == (0,)
    assert plain.execute("SELECT sum(n) FROM telemetry_1h").fetchone() == (120,)
    plain.commit()
