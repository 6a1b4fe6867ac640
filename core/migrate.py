"""Numbered plain-SQL migrations with a recorded schema version, and the TimescaleDB / plain PostgreSQL switch.

Files in ``core/migrations`` named ``NNNN_name.sql`` run in numeric order, each in its own transaction, once.
Blocks fenced by ``-- @timescale`` … ``-- @end`` run only when the TimescaleDB extension could be created, and
``-- @plain`` … ``-- @end`` only when it could not, so both storage paths live side by side in the same file.
Number blocks are reserved per domain (0001–0099 core, 0100 ingest, 0200 diagnostics, 0300 dispatch,
0400 spares, 0500 api/security, 0600 planning, 0640 service targets, 0700 kpis,
0800 administration) so parallel work never collides.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any fixed 64-bit number works; it only has to be the same for every migrator so two never run at once.
_ADVISORY_LOCK_KEY = 7_305_119_001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationReport:
    storage: str  # "timescale" or "plain"
    applied: tuple[str, ...]
    version: int
    note: str = ""  # why this storage (e.g. "TimescaleDB is installed but not preloaded …")


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise ValueError(f"migration file name not NNNN_name.sql: {path.name}")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError("two migrations share a version number")
    return found


def select_sections(text: str, storage: str) -> str:
    """Keep the common SQL and the blocks for ``storage``; drop the other path's blocks."""
    out: list[str] = []
    current: str | None = None
    for line in text.splitlines():
        marker = line.strip()
        if marker in ("-- @timescale", "-- @plain"):
            if current is not None:
                raise ValueError("nested storage block")
            current = marker[4:]
            continue
        if marker == "-- @end":
            if current is None:
                raise ValueError("'-- @end' without an opening block")
            current = None
            continue
        if current is None or current == storage:
            out.append(line)
    if current is not None:
        raise ValueError("storage block not closed with '-- @end'")
    return "\n".join(out)


class StorageError(RuntimeError):
    """The storage the operator asked for cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class TimescaleProbe:
    """What the server says about TimescaleDB *before* anything is created: ``CREATE EXTENSION`` on a server where
    the library is installed but not preloaded answers FATAL and closes the connection, so it cannot be the probe."""

    available: bool  # the extension's files are installed on the server (pg_available_extensions)
    preloaded: bool  # 'timescaledb' is in shared_preload_libraries
    installed: bool  # already created in this database


def probe_timescale(conn: psycopg.Connection) -> TimescaleProbe:
    row = conn.execute("SELECT installed_version IS NOT NULL FROM pg_available_extensions "
                       "WHERE name = 'timescaledb'").fetchone()
    libraries = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    preloaded = "timescaledb" in [part.strip().strip('"') for part in str(libraries[0] if libraries else "").split(",")]
    return TimescaleProbe(available=row is not None, preloaded=preloaded, installed=bool(row and row[0]))


_HOW_TO_ENABLE = ("add timescaledb to shared_preload_libraries in postgresql.conf and restart PostgreSQL, "
                  "or set QUIETFIX_STORAGE__BACKEND=plain")


def choose_storage(probe: TimescaleProbe, backend: str) -> tuple[str, str]:
    """(storage to try, why) for ``backend`` auto|timescale|plain; raises StorageError when timescale was asked
    for explicitly and the server cannot give it. "timescale" still has to survive ``CREATE EXTENSION``."""
    if backend not in ("auto", "timescale", "plain"):
        raise StorageError(f"storage.backend must be auto, timescale or plain, not {backend!r}")
    if backend == "plain":
        return "plain", "storage.backend = plain"
    if not probe.available:
        if backend == "timescale":
            raise StorageError("storage.backend = timescale, but the TimescaleDB extension is not installed on the "
                               "PostgreSQL server: install it, or set QUIETFIX_STORAGE__BACKEND=auto")
        return "plain", "TimescaleDB is not installed on the server: plain PostgreSQL partitioning"
    if not probe.preloaded:
        if backend == "timescale":
            raise StorageError("storage.backend = timescale, but TimescaleDB is installed and not preloaded: "
                               + _HOW_TO_ENABLE)
        return "plain", ("TimescaleDB is installed but not preloaded, so it cannot be used: plain PostgreSQL "
                         "partitioning (to use it, " + _HOW_TO_ENABLE.split(", or")[0] + ")")
    return "timescale", "TimescaleDB is installed and preloaded"


def create_timescale_extension(url: str) -> None:
    """On a connection of its own: a FATAL answer (wrong library version, say) closes only this one."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as probe:
        probe.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")


def _detect_storage(conn: psycopg.Connection, backend: str = "auto",
                    create_extension: Callable[[], None] | None = None) -> tuple[str, str]:
    """The database's storage path (recorded on first migrate, never changed after) and a one-line reason."""
    row = conn.execute("SELECT value FROM quietfix_meta WHERE key = 'storage'").fetchone()
    if row:
        recorded = str(row[0])
        if backend != "auto" and backend != recorded:
            raise StorageError(f"this database already stores telemetry with {recorded} storage; "
                               f"storage.backend = {backend} cannot convert it: use a new database, or set "
                               f"QUIETFIX_STORAGE__BACKEND=auto")
        return recorded, f"{recorded} storage (recorded when this database was first migrated)"
    storage, reason = choose_storage(probe_timescale(conn), backend)
    if storage == "timescale" and create_extension is not None:
        try:
            create_extension()
        except psycopg.Error as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if backend == "timescale":
                raise StorageError(f"storage.backend = timescale, but CREATE EXTENSION timescaledb failed "
                                   f"({first_line}): fix the server's TimescaleDB, or set "
                                   f"QUIETFIX_STORAGE__BACKEND=auto") from exc
            storage, reason = "plain", (f"TimescaleDB is installed but unusable ({first_line}): "
                                        f"plain PostgreSQL partitioning")
            log.warning("timescaledb present but unusable; using plain partitioning", extra={"error": first_line})
    conn.execute("INSERT INTO quietfix_meta (key, value) VALUES ('storage', %s)", (storage,))
    return storage, reason


def migrate(url: str, directory: Path = MIGRATIONS_DIR, backend: str = "auto") -> MigrationReport:
    """Apply what is new; ``backend`` (settings.storage.backend) is auto, timescale or plain."""
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK_KEY,))
        try:
            conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer CONSTRAINT schema_migrations_pk PRIMARY KEY, name text NOT NULL,
                checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())""")
            conn.execute("""CREATE TABLE IF NOT EXISTS quietfix_meta (
                key text CONSTRAINT quietfix_meta_pk PRIMARY KEY, value text NOT NULL)""")
            storage, note = _detect_storage(conn, backend, lambda: create_timescale_extension(url))
            done = {v: c for v, c in conn.execute("SELECT version, checksum FROM schema_migrations")}
            for migration in discover(directory):
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        log.warning("applied migration changed on disk",
                                    extra={"migration": migration.path.name})
                    continue
                with conn.transaction():
                    conn.execute(select_sections(migration.text, storage).encode())
                    conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                                 (migration.version, migration.name, migration.checksum))
                applied.append(migration.path.name)
                log.info("migration applied", extra={"migration": migration.path.name, "storage": storage})
            version = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK_KEY,))
    return MigrationReport(storage=storage, applied=tuple(applied), version=int(version[0]) if version else 0,
                           note=note)


def storage_mode(conn: psycopg.Connection) -> str | None:
    row = conn.execute("SELECT value FROM quietfix_meta WHERE key = 'storage'").fetchone()
    return str(row[0]) if row else None
