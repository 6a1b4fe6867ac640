"""Why a `quietfix` command cannot start, in one line with what to do (issue #21 item 1).

A newcomer whose PostgreSQL is down should read "cannot reach the database … start PostgreSQL (make setup) or set
QUIETFIX_DATABASE_URL", not a Python traceback. Two halves: :func:`preflight` checks what a command needs before
it starts (so a long-running loop does not retry forever against a database that does not exist), and
:func:`explain` turns the errors that mean "cannot start" into that one line. Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import errno
import socket

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core.migrate import StorageError
from core.mqtt import BrokerAddress
from core.settings import Settings


class CannotStart(RuntimeError):
    """A precondition of the command is missing; the message says which and what to do."""


# What each command needs before it can do anything useful.
NEEDS_SCHEMA = {"demo", "ingest", "diagnose", "dispatch", "plan", "notify", "api", "simulate"}
NEEDS_BROKER = {"demo", "ingest", "diagnose", "simulate"}
NEEDS_API_PORT = {"demo", "api"}


def where(url: str) -> str:
    """host:port/dbname of a database URL, without the password."""
    p = conninfo_to_dict(url)
    return f"{p.get('host', 'localhost')}:{p.get('port', 5432)}/{p.get('dbname', '?')}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0].removeprefix("connection failed: ")


def explain(exc: BaseException, settings: Settings | None = None) -> str | None:
    """The one line for an error that means "cannot start", or None for anything else (a bug: keep the trace)."""
    if isinstance(exc, CannotStart | StorageError):
        return str(exc)
    if isinstance(exc, psycopg.OperationalError):
        at = f" at {where(settings.database_url)}" if settings else ""
        reason = _first_line(exc)
        if "does not exist" in reason:
            return f"the database{at} does not exist ({reason}): run `quietfix migrate` (or `make setup`) first"
        return (f"cannot reach the database{at} ({reason}): start PostgreSQL (`make setup` does) or point "
                f"QUIETFIX_DATABASE_URL at a running server")
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return f"the database has no quietfix schema ({_first_line(exc)}): run `quietfix migrate` first"
    if type(exc).__name__ == "ValidationError" and hasattr(exc, "errors"):  # pydantic: a QUIETFIX_* value
        first = exc.errors()[0]
        name = "QUIETFIX_" + "__".join(str(part) for part in first.get("loc", ())).upper()
        return f"invalid setting {name}: {first.get('msg')} (got {first.get('input')!r})"
    return None


def _tcp_open(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def preflight(command: str, settings: Settings, *, api_port: int | None = None, serves_api: bool = True) -> None:
    """Raise CannotStart when something ``command`` needs is missing; quick (one query, two sockets)."""
    if command in NEEDS_SCHEMA and command != "demo":  # the demo creates and migrates its database itself
        with psycopg.connect(settings.database_url, connect_timeout=5) as conn:
            if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
                raise CannotStart(f"the database at {where(settings.database_url)} has no quietfix schema: "
                                  f"run `quietfix migrate` first")
    elif command in ("demo", "migrate"):  # these create their database: the server is enough
        with psycopg.connect(make_conninfo(settings.database_url, dbname="postgres"), connect_timeout=5):
            pass
    if command in NEEDS_BROKER:
        broker = BrokerAddress.from_url(settings.mqtt_url)
        if not _tcp_open(broker.host, broker.port):
            raise CannotStart(f"cannot reach the MQTT broker at {broker.host}:{broker.port}: start quietfix's "
                              f"Mosquitto (`make setup` does) or set QUIETFIX_MQTT_URL")
    if command in NEEDS_API_PORT and serves_api:
        port = api_port or settings.api.port
        if not _port_free(settings.api.host, port):
            raise CannotStart(f"port {port} on {settings.api.host} is already in use (another quietfix?): stop "
                              f"that process or choose another port with QUIETFIX_API__PORT"
                              + (" (or --no-api)" if command == "demo" else " (or --port)"))
