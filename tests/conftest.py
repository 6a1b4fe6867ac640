"""Session-wide real services: the database is built once from the migrations and cloned per test.

The README's test command runs scripts/setup.sh first, so PostgreSQL and the project's broker are up; these
fixtures fail loudly (never skip) when they are not, because integration tests are the point.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from core.db import clone_database, drop_database, ensure_database
from core.migrate import MigrationReport, migrate
from core.mqtt import BrokerAddress
from core.settings import Settings, load_settings

BASE = load_settings()
# Several checkouts may share one PostgreSQL: each gets its own template and test databases.
CHECKOUT = hashlib.sha1(str(Path(__file__).resolve().parents[1]).encode()).hexdigest()[:8]
TEMPLATE_URL = os.environ.get("QUIETFIX_TEST_TEMPLATE_URL", psycopg.conninfo.make_conninfo(
    BASE.database_url, dbname=f"quietfix_test_template_{CHECKOUT}"))
_counter = itertools.count()


@pytest.fixture(scope="session")
def migrated_template() -> Iterator[MigrationReport]:
    drop_database(TEMPLATE_URL)
    ensure_database(TEMPLATE_URL)
    report = migrate(TEMPLATE_URL)
    yield report
    drop_database(TEMPLATE_URL)


@pytest.fixture()
def db_url(migrated_template: MigrationReport) -> Iterator[str]:
    name = f"quietfix_test_{CHECKOUT}_{os.getpid()}_{next(_counter)}"
    url = clone_database(TEMPLATE_URL, name)
    yield url
    drop_database(url)


@pytest.fixture()
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url) as connection:
        yield connection


@pytest.fixture(scope="session")
def broker_up() -> BrokerAddress:
    address = BrokerAddress.from_url(BASE.mqtt_url)
    try:
        socket.create_connection((address.host, address.port), timeout=2).close()
    except OSError as exc:
        pytest.fail(f"broker not reachable at {BASE.mqtt_url} (run scripts/setup.sh): {exc}")
    return address


@pytest.fixture()
def settings(db_url: str, broker_up: BrokerAddress) -> Settings:
    """Settings for one test: its own database, its own ingest group and session (no cross-test traffic)."""
    s = load_settings(database_url=db_url)
    tag = uuid.uuid4().hex[:8]
    s.ingest.shared_group = f"ingest-{tag}"
    s.ingest.worker_id = f"ingest-test-{tag}"
    s.ingest.session_expiry_s = 120  # test sessions must not pile up in the broker across runs
    s.ingest.batch_max_wait_s = 0.02
    return s


class _FailOnErrorLogs(logging.Handler):
    """A handler exception is logged, never raised (CONVENTIONS 8); tests turn such logs into failures."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def fail_on_error_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    handler = _FailOnErrorLogs()
    logging.getLogger().addHandler(handler)
    yield
    logging.getLogger().removeHandler(handler)
    if handler.records and not request.node.get_closest_marker("allow_error_logs"):
        messages = "; ".join(f"{r.name}: {r.getMessage()}" for r in handler.records)
        pytest.fail(f"error logged during test: {messages}")
