"""Remote command gate: expiry and replay protection, then dispatch to the device's handlers.

Pure logic (time comes in as an argument) so it is unit-tested without a broker.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from edge_agent.models import Command, CommandResult

log = logging.getLogger(__name__)

REPLAY_WINDOW = 1024  # remembered command ids: far more than the commands a device gets between restarts

Handler = Callable[[Mapping[str, Any]], dict[str, Any]]


class Deferred(dict[str, Any]):
    """Returned by a handler that answers later (a long check off the agent's thread): no answer now."""


DEFERRED = Deferred()


class CommandGate:
    """Decides what to do with a command: answer it, refuse it (expired/unknown) or ignore it (replayed).

    A replayed id is ignored without an answer: the first delivery was already answered, and a QoS 1
    redelivery must not execute a ``reset`` twice.
    """

    def __init__(self, handlers: Mapping[str, Handler], *, window: int = REPLAY_WINDOW) -> None:
        self.handlers = dict(handlers)
        self._seen: deque[str] = deque(maxlen=window)
        self._seen_set: set[str] = set()

    def _remember(self, cid: str) -> None:
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(cid)
        self._seen_set.add(cid)

    def handle(self, cmd: Command, now_ms: int) -> CommandResult | None:
        if cmd.id in self._seen_set:
            log.info("replayed command ignored", extra={"command_id": cmd.id})
            return None
        self._remember(cmd.id)
        if cmd.expires_at and now_ms > cmd.expires_at:
            return CommandResult(cmd.id, False, {"reason": "expired", "expires_at": cmd.expires_at})
        handler = self.handlers.get(cmd.cmd)
        if handler is None:
            return CommandResult(cmd.id, False, {"reason": f"unknown command {cmd.cmd!r}"})
        try:
            out = handler(cmd.args)
            return None if isinstance(out, Deferred) else CommandResult(cmd.id, True, out)
        except (ValueError, TypeError, KeyError) as exc:
            return CommandResult(cmd.id, False, {"reason": f"bad arguments: {exc}"})
