import base64
import hashlib

import pytest

from core import broker
from core.clock import ManualClock, ScaledClock
from core.migrate import discover, select_sections
from core.settings import load_settings
from core.sql import load_queries

SQL = """CREATE TABLE a ();
-- @timescale
SELECT create_hypertable('a');
-- @end
-- @plain
CREATE TABLE a_default PARTITION OF a DEFAULT;
-- @end
CREATE INDEX a_ix ON a ();"""


def test_storage_sections_keep_only_their_path() -> None:
    plain = select_sections(SQL, "plain")
    ts = select_sections(SQL, "timescale")
    assert "PARTITION OF" in plain and "create_hypertable" not in plain
    assert "create_hypertable" in ts and "PARTITION OF" not in ts
    assert "a_ix" in plain and "a_ix" in ts


@pytest.mark.parametrize("bad", ["-- @plain\nx", "-- @end\n", "-- @plain\n-- @timescale\n-- @end"])
def test_malformed_sections_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        select_sections(bad, "plain")


def test_shipped_migrations_are_numbered_uniquely() -> None:
    found = discover()
    assert [m.version for m in found] == sorted({m.version for m in found})
    assert found[0].version == 1


def test_named_queries(tmp_path) -> None:
    f = tmp_path / "queries.sql"
    f.write_text("-- name: one\nSELECT 1;\n\n-- name: two\nSELECT 2;\n")
    assert load_queries(str(f)) == {"one": "SELECT 1;", "two": "SELECT 2;"}
    f2 = tmp_path / "dup.sql"
    f2.write_text("-- name: one\nSELECT 1;\n-- name: one\nSELECT 2;\n")
    with pytest.raises(ValueError, match="duplicate"):
        load_queries(str(f2))


def test_mosquitto_hash_is_pbkdf2_sha512_in_mosquitto_format() -> None:
    salt = b"0123456789ab"
    line = broker.hash_password("secret", salt)
    _, kind, iterations, salt_b64, digest_b64 = line.split("$")
    assert kind == "7" and int(iterations) == broker.PBKDF2_ITERATIONS
    assert base64.b64decode(salt_b64) == salt
    assert base64.b64decode(digest_b64) == hashlib.pbkdf2_hmac("sha512", b"secret", salt, broker.PBKDF2_ITERATIONS)


def test_credentials_upsert_and_revoke(tmp_path) -> None:
    path = tmp_path / "passwd"
    broker.upsert_credentials(path, [("pump-0001", "a"), ("pump-0002", "b")])
    assert set(broker.read_passwd(path)) == {"pump-0001", "pump-0002"}
    assert broker.revoke(path, ["pump-0001", "ghost"]) == 1
    assert set(broker.read_passwd(path)) == {"pump-0002"}


def test_acl_confines_devices_to_their_own_tree(tmp_path) -> None:
    broker.write_acl(tmp_path / "acl", "svc")
    text = (tmp_path / "acl").read_text()
    assert "pattern write qf/v1/%u/telemetry" in text and "pattern read qf/v1/%u/cmd" in text
    assert "pattern write qf/v1/#" not in text


def test_clocks() -> None:
    manual = ManualClock(100.0)
    manual.sleep(5)
    assert manual.now() == 105.0
    scaled = ScaledClock(speed=1000.0, start=0.0)
    assert scaled.now() >= 0.0
    with pytest.raises(ValueError):
        ScaledClock(speed=0)


def test_settings_come_from_prefixed_environment(monkeypatch) -> None:
    monkeypatch.setenv("QUIETFIX_DATABASE_URL", "postgresql://elsewhere/db")
    monkeypatch.setenv("QUIETFIX_MQTT_URL", "mqtt://broker:1999")
    monkeypatch.setenv("QUIETFIX_INGEST__BATCH_MAX_MESSAGES", "17")
    s = load_settings()
    assert s.database_url == "postgresql://elsewhere/db"
    assert s.mqtt_url == "mqtt://broker:1999"
    assert s.ingest.batch_max_messages == 17
