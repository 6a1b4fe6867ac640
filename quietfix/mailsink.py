"""A local SMTP server for the demo's customer e-mail (aiosmtpd): the notifier really speaks SMTP to it.

The demo's customers have example.com addresses, so nothing may leave the machine; before this the demo handed
each e-mail to an in-process stand-in and the SMTP path (api/notify/smtp.py) never ran. The sink accepts every
message on 127.0.0.1 and keeps a count and the last few messages (for tests and the demo's summary).
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from email import message_from_bytes
from email.message import Message
from typing import Any, Self

from aiosmtpd.controller import Controller


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self, keep: int) -> None:
        self.received = 0
        self.messages: deque[Message] = deque(maxlen=keep)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        msg = message_from_bytes(envelope.original_content or envelope.content)
        with self._lock:
            self.received += len(envelope.rcpt_tos)
            self.messages.append(msg)
        return "250 Message accepted for delivery"


class SmtpSink:
    """``with SmtpSink() as sink:`` an SMTP server on ``sink.host:sink.port`` until the block ends."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, keep: int = 100) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._handler = _Handler(keep)
        self._controller = Controller(self._handler, hostname=host, port=self.port)

    @property
    def received(self) -> int:
        """Recipients accepted so far (one per e-mail the notifier sends: it addresses one customer each)."""
        return self._handler.received

    def messages(self) -> list[Message]:
        return list(self._handler.messages)

    def start(self) -> Self:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
