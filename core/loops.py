"""The shape every polling process shares: a connection kept across passes, a pass per interval, and recovery.

A database error ends only the current pass (its transaction rolled back); the connection is rebuilt and the
next pass retries. Any other exception is logged with its traceback and the process keeps serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)


def run_polling(name: str, connect: Callable[[], psycopg.Connection], tick: Callable[[psycopg.Connection], object],
                stop: threading.Event, interval_s: float, *,
                on_db_error: Callable[[], None] | None = None) -> None:
    conn: psycopg.Connection | None = None
    while not stop.is_set():
        try:
            if conn is None or conn.closed:
                conn = connect()
            tick(conn)
        except psycopg.Error as exc:
            log.warning("%s pass failed; retrying", name, extra={"error": str(exc).strip()[:200]})
            if conn is not None:
                conn.close()
            conn = None
            if on_db_error is not None:
                on_db_error()
        except Exception:
            log.exception("%s pass failed unexpectedly; retrying", name)
        stop.wait(interval_s)
    if conn is not None:
        conn.close()
