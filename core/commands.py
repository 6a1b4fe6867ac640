"""Remote commands: the record of what was sent to a device, by whom, until when, and what it answered.

Shared by the API (which issues commands) and ingest (which receives ``cmd/result``), so it lives in core, the
layer both may import. Each command is a row in ``commands`` and an entry on the device's timeline; the MQTT
payload itself is :func:`core.contracts.encode_command`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from core.contracts import CommandResult, PayloadError, decode_command_result, encode_command
from core.events import record_timeline
from core.sql import Queries
from i18n import Message

log = logging.getLogger(__name__)
Q = Queries(__file__, "commands.sql")


@dataclass(frozen=True)
class IssuedCommand:
    id: str
    device_id: str
    cmd: str
    args: dict[str, Any]
    issued_by: str
    issued_at: datetime
    expires_at: datetime

    def payload(self) -> bytes:
        return encode_command(self.id, self.cmd, self.args, int(self.issued_at.timestamp() * 1000),
                              int(self.expires_at.timestamp() * 1000), self.issued_by)


def issue(conn: psycopg.Connection, *, device_id: str, cmd: str, args: dict[str, Any], issued_by: str,
          user_id: int | None, issued_at: datetime, expires_at: datetime) -> IssuedCommand:
    """Record a new command as pending (caller commits before publishing) with its timeline entry."""
    command = IssuedCommand(str(uuid.uuid4()), device_id, cmd, args, issued_by, issued_at, expires_at)
    row = conn.execute(Q.insert_command, {
        "id": command.id, "device_id": device_id, "cmd": cmd, "args": Jsonb(args), "issued_by": issued_by,
        "user_id": user_id, "issued_at": issued_at, "expires_at": expires_at}).fetchone()
    assert row is not None
    record_timeline(conn, customer_id=int(row[0]), device_id=device_id, at=issued_at, kind="command",
                    message=Message("summary.commandSent", {"cmd": cmd, "by": issued_by}),
                    data={"command_id": command.id, "cmd": cmd, "args": args,
                          "expires_at": expires_at.isoformat()})
    return command


def mark_sent(conn: psycopg.Connection, command_id: str, sent: bool) -> None:
    conn.execute(Q.set_sent, {"id": command_id, "status": "sent" if sent else "send_failed"})


def record_command_result(conn: psycopg.Connection, result: CommandResult, received_at: datetime | None = None) -> bool:
    """Store a device's answer; False when there is no such command for that device or it was answered already.

    Ingest calls this for ``qf/v1/{id}/cmd/result`` inside its batch transaction (the caller commits). A False
    on a first delivery means a forged or stray id: ingest should dead-letter it ("unknown command").
    """
    at = received_at or datetime.now(UTC)  # the server's clock: a device's may be wrong
    row = conn.execute(Q.record_result, {"id": _as_uuid(result.command_id), "device_id": result.device_id,
                                         "ok": result.ok, "result": Jsonb(result.result), "at": at}).fetchone()
    if row is None:
        log.info("command result ignored (unknown, foreign or repeated)",
                 extra={"device_id": result.device_id, "command_id": result.command_id})
        return False
    cmd, expires_at, customer_id = row
    late = at > expires_at
    record_timeline(conn, customer_id=int(customer_id), device_id=result.device_id, at=at, kind="command_result",
                    message=Message("summary.commandResult", {"cmd": cmd, "ok": "yes" if result.ok else "no",
                                                              "late": "yes" if late else "no"}),
                    data={"command_id": result.command_id, "ok": result.ok, "result": result.result, "late": late,
                          "device_t_ms": result.t_ms})
    return True


def consume_result_message(conn: psycopg.Connection, device_id: str, payload: bytes,
                           received_at: datetime) -> str | None:
    """Ingest's one call for a ``qf/v1/{device_id}/cmd/result`` message, inside its batch transaction.

    Returns None when the message is handled (recorded, or a harmless redelivery of a recorded result) and
    otherwise the dead-letter reason (malformed payload, or no such command for this device).
    """
    try:
        result = decode_command_result(device_id, payload)
    except PayloadError as exc:
        return exc.reason
    if record_command_result(conn, result, received_at):
        return None
    row = conn.execute(Q.command_exists, {"id": _as_uuid(result.command_id), "device_id": device_id}).fetchone()
    return None if row and row[0] else "unknown command"


def list_for_device(conn: psycopg.Connection, device_id: str, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q.list_for_device, {"device_id": device_id, "now": now, "limit": limit}).fetchall()


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None  # matches no row: a malformed id is simply an unknown command
