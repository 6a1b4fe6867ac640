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


def _detect_storage(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT value FROM quietfix_meta WHERE key = 'storage'").fetchone()
    if row:
        return str(row[0])
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    storage = "plain"
    if available:
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            storage = "timescale"
        except psycopg.Error as exc:  # e.g. not in shared_preload_libraries
            log.warning("timescaledb present but unusable; using plain partitioning",
                        extra={"error": str(exc).strip()})
    conn.execute("INSERT INTO quietfix_meta (key, value) VALUES ('storage', %s)", (storage,))
    return storage


def migrate(url: str, directory: Path = MIGRATIONS_DIR) -> MigrationReport:
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK_KEY,))
        try:
            conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer CONSTRAINT schema_migrations_pk PRIMARY KEY, name text NOT NULL,
                checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())""")
            conn.execute("""CREATE TABLE IF NOT EXISTS quietfix_meta (
                key text CONSTRAINT quietfix_meta_pk PRIMARY KEY, value text NOT NULL)""")
            storage = _detect_storage(conn)
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
    return MigrationReport(storage=storage, applied=tuple(applied), version=int(version[0]) if version else 0)


def storage_mode(conn: psycopg.Connection) -> str | None:
    row = conn.execute("SELECT value FROM quietfix_meta WHERE key = 'storage'").fetchone()
    return str(row[0]) if row else None
