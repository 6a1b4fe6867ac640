"""Remote fixes: send a device command over MQTT and collect its results for the diagnose loop.

The loop never sees paho: it talks to a :class:`CommandChannel` (``send`` and ``drain``), which this module
implements on :class:`core.mqtt.ServerMqtt`. Results arrive on the MQTT thread and wait in a queue until the next
pass, so every database effect happens in the loop's own transaction.
"""

from __future__ import annotations

import logging
import queue
import uuid
from typing import Any, Protocol

from core.contracts import (
    CommandResult,
    PayloadError,
    decode_command_result,
    encode_command,
    parse_topic,
    topic,
)
from core.mqtt import SESSION_EXPIRY_S, InboundMessage, ServerMqtt
from core.settings import Settings

log = logging.getLogger(__name__)

# Knowledge-base remote fix -> (device command, args). The edge agent implements one "reset" that clears every
# remote-fixable fault; recalibration is that reset aimed at the calibration subsystem (docs/contracts.md).
COMMANDS: dict[str, tuple[str, dict[str, Any]]] = {
    "reset": ("reset", {"subsystem": "all"}),
    "recalibrate": ("reset", {"subsystem": "calibration"}),
}
ISSUER = "diagnostics"


class CommandChannel(Protocol):
    def send(self, device_id: str, command_id: str, cmd: str, args: dict[str, Any], issued_at_ms: int,
             expires_at_ms: int) -> None: ...

    def drain(self) -> list[CommandResult]: ...


def new_command_id() -> str:
    return str(uuid.uuid4())


class MqttCommandChannel:
    """Publishes on ``qf/v1/{id}/cmd`` and listens on ``qf/v1/+/cmd/result`` (exclusive persistent session).

    Not a shared subscription: only the diagnose process sent these commands, and a persistent exclusive
    session keeps results that arrive while it restarts.
    """

    def __init__(self, url: str, *, client_id: str, username: str | None, password: str | None,
                 ca_file: str | None = None, session_expiry_s: int = SESSION_EXPIRY_S) -> None:
        self._results: queue.SimpleQueue[CommandResult] = queue.SimpleQueue()
        self.mqtt = ServerMqtt(url, client_id, username=username, password=password,
                               subscriptions=[("qf/v1/+/cmd/result", 1)], on_message=self._on_message,
                               manual_ack=False, persistent=True, ca_file=ca_file,
                               session_expiry_s=session_expiry_s)

    def start(self) -> None:
        self.mqtt.start()

    def stop(self) -> None:
        self.mqtt.stop()

    def send(self, device_id: str, command_id: str, cmd: str, args: dict[str, Any], issued_at_ms: int,
             expires_at_ms: int) -> None:
        self.mqtt.publish(topic(device_id, "cmd"),
                          encode_command(command_id, cmd, args, issued_at_ms, expires_at_ms, ISSUER), qos=1)

    def drain(self) -> list[CommandResult]:
        out: list[CommandResult] = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    def _on_message(self, msg: InboundMessage) -> None:
        try:
            device_id, _ = parse_topic(msg.topic)
            self._results.put(decode_command_result(device_id, msg.payload))
        except PayloadError as exc:
            log.warning("bad command result", extra={"topic": msg.topic, "error": str(exc)})


def mqtt_channel(settings: Settings, client_id: str = "diagnose-0",
                 session_expiry_s: int = SESSION_EXPIRY_S) -> MqttCommandChannel:
    """The diagnose process's command channel on the project broker, started (connects in the background)."""
    channel = MqttCommandChannel(settings.mqtt_url, client_id=client_id, username=settings.mqtt_username,
                                 password=settings.mqtt_password, session_expiry_s=session_expiry_s)
    channel.start()
    return channel
