"""Remote commands: POST one to a device, list a device's commands.

Who may command: admins and dispatchers any device; a technician only a device on one of their own active jobs;
customers never. Each command gets a uuid and an expiry, is recorded (``commands`` table, device timeline,
audit log) and committed as pending *before* it is published on ``qf/v1/{id}/cmd``, so the device's answer can
never arrive for a command the database does not know.
"""
from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, status
from pydantic import BaseModel, Field, field_validator

from api import audit, security_repo
from api import repository as repo
from api.auth import AnyUser
from api.deps import Conn
from core import commands, metrics
from core.contracts import topic
from core.mqtt import ServerMqtt
from core.settings import Settings

# Command names are identifiers the edge agent dispatches on; args are small by nature (a setpoint, a mode).
CMD_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
MAX_ARGS_BYTES = 4096
# How long a request waits for the API's broker connection before answering 503; a human is waiting.
BROKER_CONNECT_WAIT_S = 3.0


class CommandRequest(BaseModel):
    cmd: str = Field(pattern=CMD_PATTERN, examples=["reset_fault"])
    args: dict[str, Any] = Field(default_factory=dict)
    ttl_s: int | None = Field(default=None, ge=1, description="seconds until the device must ignore it")

    @field_validator("args")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value)) > MAX_ARGS_BYTES:
            raise ValueError(f"args larger than {MAX_ARGS_BYTES} bytes")
        return value


class Command(BaseModel):
    id: uuid.UUID
    device_id: str
    cmd: str
    args: dict[str, Any]
    issued_by: str
    issued_at: datetime
    expires_at: datetime
    status: str
    result: dict[str, Any] | None = None
    result_at: datetime | None = None


class CommandPublisher:
    """The API's one broker connection for commands, opened on first use (most API processes never send one)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._mqtt: ServerMqtt | None = None
        self._lock = threading.Lock()

    def publish(self, topic_name: str, payload: bytes) -> bool:
        with self._lock:
            if self._mqtt is None:
                s = self._settings
                self._mqtt = ServerMqtt(s.mqtt_url, f"qf-api-commands-{uuid.uuid4().hex[:8]}",
                                        username=s.mqtt_username, password=s.mqtt_password, subscriptions=[],
                                        on_message=lambda m: None, manual_ack=False, persistent=False,
                                        ca_file=str(s.mqtt_ca_file) if s.mqtt_ca_file else None)
                self._mqtt.start()
            mqtt = self._mqtt
        if not mqtt.connected.wait(BROKER_CONNECT_WAIT_S):
            return False
        mqtt.publish(topic_name, payload, qos=1)  # QoS 1: paho resends until the broker's PUBACK
        return True

    def stop(self) -> None:
        with self._lock:
            if self._mqtt is not None:
                self._mqtt.stop()
                self._mqtt = None


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    if getattr(app.state, "command_publisher", None) is None:
        app.state.command_publisher = CommandPublisher(app.state.settings)
    try:
        yield
    finally:
        app.state.command_publisher.stop()


router = APIRouter(prefix="/api/devices", tags=["commands"], lifespan=_lifespan)


def _now(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None)
    return datetime.fromtimestamp(clock.now(), tz=UTC) if clock else datetime.now(UTC)


def _may_command(conn: Conn, principal: AnyUser, device_id: str) -> None:
    if principal.sees_everything:
        return
    if principal.role == "technician" and principal.technician_id is not None \
            and security_repo.technician_on_device(conn, principal.technician_id, device_id):
        return
    raise HTTPException(status.HTTP_403_FORBIDDEN, "not allowed to command this device")


@router.post("/{device_id}/commands", response_model=Command, status_code=status.HTTP_202_ACCEPTED,
             responses={403: {"description": "role or job does not allow it"}, 404: {"description": "no device"},
                        503: {"description": "broker unreachable; command recorded as send_failed"}})
def send_command(device_id: str, body: CommandRequest, request: Request, conn: Conn, principal: AnyUser) -> dict:
    if principal.role == "customer":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "customers cannot send commands")
    if repo.get_device(conn, principal, device_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "device not found")
    _may_command(conn, principal, device_id)
    sec = request.app.state.settings.security
    ttl = min(body.ttl_s or sec.command_ttl_default_s, sec.command_ttl_max_s)
    now = _now(request)
    cmd = commands.issue(conn, device_id=device_id, cmd=body.cmd, args=body.args, issued_by=principal.username,
                         user_id=principal.user_id, issued_at=now, expires_at=now + timedelta(seconds=ttl))
    audit.record(conn, principal, "command.send", "device", device_id,
                 {"command_id": cmd.id, "cmd": cmd.cmd, "args": cmd.args, "ttl_s": ttl},
                 client_ip=audit.client_ip(request), at=now)
    conn.commit()  # pending and audited before it leaves: the device's answer always finds its row
    sent = request.app.state.command_publisher.publish(topic(device_id, "cmd"), cmd.payload())
    commands.mark_sent(conn, cmd.id, sent)
    conn.commit()
    metrics.COMMANDS.labels("sent" if sent else "send_failed").inc()
    if not sent:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "broker unreachable; command not sent")
    return {"id": cmd.id, "device_id": device_id, "cmd": cmd.cmd, "args": cmd.args, "issued_by": cmd.issued_by,
            "issued_at": cmd.issued_at, "expires_at": cmd.expires_at, "status": "sent"}


@router.get("/{device_id}/commands", response_model=list[Command])
def list_commands(device_id: str, request: Request, conn: Conn, principal: AnyUser,
                  limit: int = Query(100, ge=1, le=1000)) -> list[dict]:
    """Anyone who may see the device sees its commands (they are on its timeline too)."""
    if repo.get_device(conn, principal, device_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "device not found")
    return commands.list_for_device(conn, device_id, _now(request), limit)
