import psycopg
import pytest

from core.migrate import migrate

pytestmark = pytest.mark.integration

EXPECTED_TABLES = {"customers", "devices", "technicians", "incidents", "work_orders", "notifications",
                   "timeline_events", "users", "telemetry_samples", "ingest_batches", "telemetry_latest", "dead_letters",
                   "schema_migrations", "quietfix_meta",
                   "sites", "assets", "technician_absences", "incident_photos",  # administration (0800)
                   "roster_shifts"}  # approved roster (0810)
# work-order lifecycle (0350): cancel reasons, SLA pause rules, pauses
LIFECYCLE_TABLES = {"work_order_cancel_reasons", "sla_pause_rules", "work_order_pauses"}


def test_migrations_yield_the_expected_schema(conn: psycopg.Connection, migrated_template) -> None:
    tables = {r[0] for r in conn.execute(
        "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND NOT relispartition "
        "AND relnamespace = 'public'::regnamespace")}
    assert EXPECTED_TABLES <= tables
    assert LIFECYCLE_TABLES <= tables
    indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert {"telemetry_samples_device_ts_ix", "incidents_open_uq", "ingest_batches_pk"} <= indexes
    view = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'telemetry'").fetchone()[0]
    assert view == "v"  # readers keep (device_id, signal, ts, value) over the sample rows (migration 0110)
    version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    assert version == migrated_template.version
    storage = conn.execute("SELECT value FROM quietfix_meta WHERE key = 'storage'").fetchone()[0]
    assert storage == migrated_template.storage


def test_plain_path_partitions_telemetry_by_day(conn: psycopg.Connection, migrated_template) -> None:
    if migrated_template.storage != "plain":
        pytest.skip("TimescaleDB path: chunks instead of partitions")
    kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'telemetry_samples'").fetchone()[0]
    assert kind == "p"
    created = conn.execute("SELECT quietfix_ensure_partitions(now(), now() + interval '2 days')").fetchone()[0]
    assert created == 3
    again = conn.execute("SELECT quietfix_ensure_partitions(now(), now() + interval '2 days')").fetchone()[0]
    assert again == 0


def test_migrate_is_idempotent(db_url: str) -> None:
    report = migrate(db_url)
    assert report.applied == ()
