"""How ingest consumes command results: recorded once, redelivery harmless, strays and garbage dead-lettered."""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg
import pytest

from core import commands
from core.clock import ManualClock, to_datetime
from quietfix.seed import seed

pytestmark = pytest.mark.integration


def test_result_messages_are_recorded_once_and_strays_get_a_reason(conn: psycopg.Connection) -> None:
    devices = [d.device_id for d in seed(conn, devices=2, technicians=1, users=False)]
    at = to_datetime(ManualClock().now())
    cmd = commands.issue(conn, device_id=devices[0], cmd="ping", args={}, issued_by="dispatcher", user_id=None,
                         issued_at=at, expires_at=at + timedelta(minutes=5))
    commands.mark_sent(conn, cmd.id, True)
    answer = json.dumps({"v": 1, "id": cmd.id, "ok": False, "result": {"error": "busy"}, "t": 1}).encode()
    later = at + timedelta(minutes=10)
    assert commands.consume_result_message(conn, devices[0], answer, later) is None
    assert commands.consume_result_message(conn, devices[0], answer, later) is None  # redelivery: harmless
    assert commands.consume_result_message(conn, devices[1], answer, later) == "unknown command"  # not its own
    assert commands.consume_result_message(conn, devices[0], b"{nope", later).startswith("not JSON")
    assert commands.consume_result_message(conn, devices[0], b'{"v": 1}', later) == "command result without id"
    rows = commands.list_for_device(conn, devices[0], later)
    assert [(r["status"], r["result"]) for r in rows] == [("failed", {"error": "busy"})]
    summaries = [s for (s,) in conn.execute("SELECT summary FROM timeline_events WHERE device_id = %s ORDER BY id",
                                            (devices[0],))]
    assert summaries == ["command 'ping' sent by dispatcher", "command 'ping' failed (late)"]
