"""Storage detection (#17 item 5): TimescaleDB installed but not preloaded answers CREATE EXTENSION with FATAL and
closes the connection, so the probe asks the catalogue first and the extension is created on a connection of its
own. Unit tests drive the decision with a fake connection; integration tests run the plain path for real."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from core.db import drop_database, ensure_database
from core.migrate import StorageError, TimescaleProbe, _detect_storage, choose_storage, migrate
from tests.conftest import CHECKOUT, TEMPLATE_URL


class FakeConn:
    """Answers the three catalogue questions _detect_storage asks and records the storage it writes."""

    def __init__(self, *, available: bool, preloaded: str, installed: bool = False,
                 recorded: str | None = None) -> None:
        self.available, self.preloaded, self.installed, self.recorded = available, preloaded, installed, recorded
        self.inserted: list[str] = []

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> FakeConn:
        if "quietfix_meta WHERE" in sql:
            self._row = (self.recorded,) if self.recorded else None
        elif "pg_available_extensions" in sql:
            self._row = (self.installed,) if self.available else None
        elif "shared_preload_libraries" in sql:
            self._row = (self.preloaded,)
        elif sql.startswith("INSERT INTO quietfix_meta"):
            self.inserted.append(params[0])
            self._row = None
        else:
            raise AssertionError(f"unexpected SQL: {sql}")
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._row


def _fatal() -> None:
    # What psycopg raises when the server answers FATAL and hangs up (the "the connection is closed").
    raise psycopg.OperationalError("FATAL:  extension \"timescaledb\" must be preloaded\n"
                                   "HINT:  Please preload the timescaledb library via shared_preload_libraries.")


def _must_not_run() -> None:
    raise AssertionError("CREATE EXTENSION must not be tried")


def test_installed_but_not_preloaded_falls_back_without_trying_the_extension() -> None:
    conn = FakeConn(available=True, preloaded="pg_stat_statements")
    storage, note = _detect_storage(conn, "auto", _must_not_run)  # type: ignore[arg-type]
    assert storage == "plain" and conn.inserted == ["plain"]
    assert "not preloaded" in note and "shared_preload_libraries" in note


def test_installed_but_not_preloaded_is_a_clear_error_when_timescale_was_asked_for() -> None:
    conn = FakeConn(available=True, preloaded="")
    with pytest.raises(StorageError, match="not preloaded: add timescaledb to shared_preload_libraries"):
        _detect_storage(conn, "timescale", _must_not_run)  # type: ignore[arg-type]
    assert conn.inserted == []  # nothing recorded: the next migrate decides afresh


def test_fatal_create_extension_falls_back_to_plain_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    conn = FakeConn(available=True, preloaded="timescaledb, pg_stat_statements")
    with caplog.at_level(logging.WARNING, logger="core.migrate"):
        storage, note = _detect_storage(conn, "auto", _fatal)  # type: ignore[arg-type]
    assert storage == "plain" and conn.inserted == ["plain"]
    assert note.startswith("TimescaleDB is installed but unusable (FATAL:  extension")
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_fatal_create_extension_is_a_clear_error_when_timescale_was_asked_for() -> None:
    conn = FakeConn(available=True, preloaded='"timescaledb"')
    with pytest.raises(StorageError, match="CREATE EXTENSION timescaledb failed .*QUIETFIX_STORAGE__BACKEND=auto"):
        _detect_storage(conn, "timescale", _fatal)  # type: ignore[arg-type]


def test_usable_timescale_is_chosen() -> None:
    created: list[bool] = []
    conn = FakeConn(available=True, preloaded="timescaledb")
    storage, _ = _detect_storage(conn, "auto", lambda: created.append(True))  # type: ignore[arg-type]
    assert storage == "timescale" and created == [True] and conn.inserted == ["timescale"]


def test_recorded_storage_wins_and_a_conflicting_request_is_refused() -> None:
    assert _detect_storage(FakeConn(available=False, preloaded="", recorded="plain"), "auto",  # type: ignore[arg-type]
                           _must_not_run)[0] == "plain"
    with pytest.raises(StorageError, match="already stores telemetry with plain storage"):
        _detect_storage(FakeConn(available=True, preloaded="timescaledb", recorded="plain"),  # type: ignore[arg-type]
                        "timescale", _must_not_run)


def test_choose_storage_table() -> None:
    absent, unloaded, ready = (TimescaleProbe(False, False, False), TimescaleProbe(True, False, False),
                               TimescaleProbe(True, True, False))
    assert choose_storage(absent, "auto")[0] == "plain"
    assert choose_storage(unloaded, "auto")[0] == "plain"
    assert choose_storage(ready, "auto")[0] == "timescale"
    assert choose_storage(ready, "plain")[0] == "plain"
    with pytest.raises(StorageError, match="not installed on the PostgreSQL server"):
        choose_storage(absent, "timescale")
    with pytest.raises(StorageError, match="must be auto, timescale or plain"):
        choose_storage(ready, "timescal")


@pytest.fixture()
def empty_db_url() -> Iterator[str]:
    """A database no migration has touched yet (the shared template has already chosen its storage)."""
    url = psycopg.conninfo.make_conninfo(TEMPLATE_URL, dbname=f"quietfix_test_storage_{CHECKOUT}_{os.getpid()}")
    drop_database(url)
    ensure_database(url)
    yield url
    drop_database(url)


@pytest.mark.integration
def test_plain_backend_migrates_a_fresh_database_to_plain_partitions(empty_db_url: str) -> None:
    report = migrate(empty_db_url, backend="plain")
    assert report.storage == "plain" and report.note == "storage.backend = plain" and report.applied
    with psycopg.connect(empty_db_url) as conn:
        kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'telemetry_samples'").fetchone()
        recorded = conn.execute("SELECT value FROM quietfix_meta WHERE key = 'storage'").fetchone()
    assert kind == ("p",) and recorded == ("plain",)
    assert migrate(empty_db_url, backend="auto").applied == ()  # the recorded choice stands


@pytest.mark.integration
def test_timescale_backend_on_a_server_without_it_fails_clearly(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url) as conn:
        available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    if available:
        pytest.skip("this PostgreSQL has TimescaleDB installed; the unit tests cover the unusable cases")
    with pytest.raises(StorageError, match="not installed on the PostgreSQL server"):
        migrate(empty_db_url, backend="timescale")
