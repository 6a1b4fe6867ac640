"""One PostgreSQL LISTEN connection per API process: wakes the live feeds when a watched table commits a change.

Why: the feeds used to poll their change cursor every 2 s, so a board heard of a change up to 2 s late and every
process queried the database even when nothing happened. Triggers (core/migrations/0540_live_notify.sql) NOTIFY
channel ``quietfix_live`` in the writer's transaction; this listener hands each notification to a callback that
wakes every feed, which re-reads its cursor once per scope. Notifications sent while the connection is down are
lost, so each (re)connect also wakes every feed for a full cursor read; a silent network failure is caught by a
probe query whenever the channel has been quiet for ``PROBE_S``, and the feeds keep a slow safety poll besides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)
CHANNEL = "quietfix_live"
# A quiet channel is probed this often: a dead TCP connection otherwise waits for the kernel's keepalive.
PROBE_S = 30.0
# Reconnect backoff: the first retry is quick (a restarted database is back within seconds), then it slows down.
RETRY_MIN_S = 0.5
RETRY_MAX_S = 10.0


class ChangeListener:
    """LISTENs on :data:`CHANNEL` and calls ``on_change(payload)``; ``None`` means "anything may have changed"."""

    def __init__(self, conninfo: str, on_change: Callable[[str | None], None]) -> None:
        self.conninfo = conninfo
        self.on_change = on_change
        self.connected = False
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run(), name="live-listen")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):  # run() only ends by cancellation
                await self.task
        self.connected = False

    async def run(self) -> None:
        retry = RETRY_MIN_S
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, application_name="quietfix-live-listen",
                    keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.connected = True
                    retry = RETRY_MIN_S
                    self.on_change(None)  # whatever happened while we were not listening: a full cursor read
                    while True:
                        async for note in conn.notifies(timeout=PROBE_S):
                            self.on_change(note.payload)
                        await conn.execute("SELECT 1")  # quiet for PROBE_S: is the connection still alive?
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("live LISTEN connection lost; reconnecting", exc_info=True)
                if self.connected:
                    self.connected = False
                    self.on_change(None)  # the feeds fall back to their short poll until we are back
            finally:
                self.connected = False
            await asyncio.sleep(retry)
            retry = min(RETRY_MAX_S, retry * 2)
