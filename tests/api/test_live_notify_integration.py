"""Live streams wake on PostgreSQL NOTIFY (api/live_listen.py, migration 0540), not on their poll.

Each stream is opened with a safety poll longer than the stream itself, so the only way a second ``change`` event
can arrive before ``bye`` is a notification (or the full read after the LISTEN connection reconnects).
"""

import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.api.test_views_integration import world  # noqa: F401 (the fixture)
from tests.helpers import login

pytestmark = pytest.mark.integration
STREAM = "/api/live?max_s=20&poll_s=60"  # safety poll (60 s) beyond the stream's end (20 s)


def next_event(lines: Iterator[str]) -> str:
    """The name of the stream's next event (skipping data, comments and the retry hint)."""
    for line in lines:
        if line.startswith("event: "):
            return line.removeprefix("event: ")
    return "closed"


def move_technician(conn: psycopg.Connection, tech: int) -> None:
    conn.execute("UPDATE technicians SET lat = coalesce(lat, 0) + 0.01 WHERE id = %s", (tech,))
    conn.commit()


def listener_pids(conn: psycopg.Connection) -> list[int]:
    conn.commit()
    return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND application_name = 'quietfix-live-listen'")]


def test_a_write_in_another_connection_reaches_an_open_stream_by_notification(world) -> None:  # noqa: F811
    client, w = world
    with client.stream("GET", STREAM, headers=login(client, "dispatcher")) as r:
        lines = r.iter_lines()
        assert next_event(lines) == "change"  # the first event: the state when the stream opened
        move_technician(w["conn"], w["tech2"])
        assert next_event(lines) == "change"
        w["conn"].execute("INSERT INTO timeline_events (work_order_id, customer_id, at, kind, summary) "
                          "SELECT id, customer_id, now(), 'note', 'test note' FROM work_orders WHERE id = %s", (w["wo"],))
        w["conn"].commit()
        assert next_event(lines) == "change"


def test_the_listener_reconnects_and_streams_keep_hearing_changes(world) -> None:  # noqa: F811
    client, w = world
    with client.stream("GET", STREAM, headers=login(client, "dispatcher")) as r:
        lines = r.iter_lines()
        assert next_event(lines) == "change"
        deadline = time.monotonic() + 10
        while not (pids := listener_pids(w["conn"])) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(pids) == 1  # one LISTEN connection for this API process
        w["conn"].execute("SELECT pg_terminate_backend(%s)", (pids[0],))
        w["conn"].commit()
        while (again := listener_pids(w["conn"])) in ([], pids) and time.monotonic() < deadline + 5:
            time.sleep(0.05)
        assert len(again) == 1 and again != pids  # back, on a new connection
        move_technician(w["conn"], w["tech1"])  # heard through the new LISTEN or its reconnect read, not a poll
        assert next_event(lines) == "change"
