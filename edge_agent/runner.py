"""Event loop that drives many device connections from one thread (no paho thread per device).

paho's external-loop hooks tell the worker when a socket opens, closes or has data to write; one selector
(epoll on Linux, no 1024-fd limit) multiplexes all of them.
"""

from __future__ import annotations

import logging
import selectors
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from edge_agent.agent import Agent
from edge_agent.buffer import BufferStore
from edge_agent.mqtt import MqttConnection

log = logging.getLogger(__name__)

SELECT_TIMEOUT_S = 0.02  # upper bound on added latency for reads; short enough for acks, cheap when idle
TICK_INTERVAL_S = 0.05  # wall seconds between sampling rounds: 20 Hz keeps batches timely at 60x speed
TICK_BUDGET_S = 0.02  # wall seconds of sampling before the loop services sockets again (acks, keep-alive)
CONNECT_CHECK_S = 0.1  # back-off is >= 0.5 s, so checking 10x a second adds no visible reconnect delay
MISC_INTERVAL_S = 1.0  # paho keep-alive bookkeeping needs second resolution only
STOP_POLL_S = 0.05  # wall seconds between checks while waiting for acks on stop


class Worker(threading.Thread):
    """Owns a slice of the fleet: its agents, their connections and the one selector over their sockets."""

    def __init__(
        self, name: str, store: BufferStore, *, on_error: Callable[[BaseException], None] | None = None
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.store = store
        self.round_s = 0.0  # wall time of the last full tick round; >> TICK_INTERVAL_S means overloaded
        self.sel = selectors.DefaultSelector()
        self.pairs: list[tuple[Agent, MqttConnection]] = []
        self._stop_evt = threading.Event()
        self._stopping = False
        self._drained = threading.Event()
        self._give_up = False
        self._on_error = on_error
        self.setup: list[
            Callable[[], None]
        ] = []  # run in the worker thread before the loop (e.g. open buffers)

    def add(self, agent: Agent, conn: MqttConnection) -> None:
        self.pairs.append((agent, conn))

    # SocketHooks ------------------------------------------------------------------------------------------
    def socket_open(self, conn: MqttConnection, sock: Any) -> None:
        self.sel.register(sock, selectors.EVENT_READ, conn)

    def socket_close(self, conn: MqttConnection, sock: Any) -> None:
        try:
            self.sel.unregister(sock)
        except (KeyError, ValueError):
            pass

    def want_write(self, conn: MqttConnection, sock: Any, on: bool) -> None:
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0)
        try:
            self.sel.modify(sock, events, conn)
        except (KeyError, ValueError):
            pass

    # loop --------------------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            for fn in self.setup:
                fn()
            self._loop()
        except BaseException as exc:
            log.exception("fleet worker crashed")
            if self._on_error:
                self._on_error(exc)
        finally:
            self._drained.set()

    def _loop(self) -> None:
        next_round = next_misc = next_connect = 0.0
        cursor = 0  # round-robin position: a round of ticks is spread over several loop iterations
        round_start = 0.0
        while True:
            now = time.monotonic()
            if self._stop_evt.is_set() and not self._stopping:
                self._stopping = True
                with self.store.tx():
                    for agent, _ in self.pairs:
                        agent.flush()
                for agent, _ in self.pairs:
                    agent.pump()
            if self._stopping and self._idle():
                break
            if now >= next_connect:
                next_connect = now + CONNECT_CHECK_S
                for _, conn in self.pairs:
                    conn.maybe_connect(now)
            if cursor or now >= next_round:
                if cursor == 0:
                    round_start = now
                cursor = self._tick_slice(cursor)
                if cursor >= len(self.pairs):
                    cursor = 0
                    self.round_s = time.monotonic() - round_start
                    next_round = round_start + TICK_INTERVAL_S
            if now >= next_misc:
                next_misc = now + MISC_INTERVAL_S
                for _, conn in self.pairs:
                    conn.loop_misc()
            with self.store.tx():  # acks of this iteration are committed together
                for key, events in self.sel.select(0 if cursor else SELECT_TIMEOUT_S):
                    conn = key.data
                    if events & selectors.EVENT_READ:
                        conn.loop_read()
                    if events & selectors.EVENT_WRITE and conn.client.socket() is not None:
                        conn.loop_write()
        for agent, conn in self.pairs:
            if conn.connected:
                agent.announce_offline()  # a clean DISCONNECT suppresses the will, so say it ourselves
                conn.disconnect()
                conn.loop_write()

    def _tick_slice(self, cursor: int) -> int:
        """Tick agents from ``cursor`` for at most TICK_BUDGET_S, so socket I/O (acks) is never starved.

        The slice's new batches are committed in one transaction *before* any of them is published.
        """
        deadline = time.monotonic() + TICK_BUDGET_S
        start = cursor
        with self.store.tx():
            while cursor < len(self.pairs) and (cursor == start or time.monotonic() < deadline):
                if not self._stopping:
                    self.pairs[cursor][0].produce()
                cursor += 1
        for agent, _ in self.pairs[start:cursor]:
            agent.pump()
        return cursor

    def _idle(self) -> bool:
        return self._give_up or all(a.buffer.rows == 0 and a.inflight == 0 for a, _ in self.pairs)

    def request_stop(self) -> None:
        self._stop_evt.set()

    def abandon(self) -> None:
        """Stop waiting for acks (stop timeout reached); unacked batches stay in the disk buffer."""
        self._give_up = True


def run_workers(workers: Sequence[Worker], timeout_s: float) -> None:
    """Ask every worker to stop and wait up to timeout_s for their buffers to drain."""
    for w in workers:
        w.request_stop()
    deadline = time.monotonic() + timeout_s
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()))
    for w in workers:
        if w.is_alive():
            w.abandon()
            w.join(5.0)
