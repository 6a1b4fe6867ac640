"""Throttling: login attempts per (username, IP) in a sliding window, and a cap on concurrent requests.

Keyed on both so one attacker cannot lock a user out from everywhere (the victim's own IP keeps its budget) and
one IP cannot spray many users without each pair being throttled. Every attempt counts, successful or not: a
person signs in once a shift, and argon2 verification is deliberately expensive, so the cap also bounds the CPU
an unauthenticated client can make us spend. Per process: behind N API processes the effective budget is N times
the setting (docs/security.md); a shared store (Redis, PostgreSQL) would make it exact.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

# Keys kept at most; beyond it the stalest are dropped. 100k pairs is a few MB and far above any real user base,
# so only a distributed guessing run (which the window already slows) could push keys out.
MAX_KEYS = 100_000
# Requests allowed to queue for the API before it answers 503: a few seconds of the throughput measured by
# bench/api_load.py; beyond that a client is better served by retrying than by waiting.
MAX_WAITING = 2000


class SlidingWindowLimiter:
    def __init__(self, attempts: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if attempts < 1 or window_s <= 0:
            raise ValueError("attempts must be >= 1 and window_s > 0")
        self.attempts = attempts
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, username: str, ip: str) -> float:
        """Count one attempt; returns 0 when allowed, else the seconds until the next attempt would be."""
        key = (username.casefold(), ip)
        now = self._clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= MAX_KEYS:
                    self._evict(now)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.attempts:
                return max(hits[0] + self.window_s - now, 0.001)
            hits.append(now)
            return 0.0

    def _evict(self, now: float) -> None:
        stale = [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window_s]
        for key in stale:
            del self._hits[key]
        if len(self._hits) >= MAX_KEYS:  # everything live: drop the oldest-touched tenth
            for key in sorted(self._hits, key=lambda k: self._hits[k][-1])[: MAX_KEYS // 10]:
                del self._hits[key]

    def __len__(self) -> int:
        return len(self._hits)


def retry_after_header(wait_s: float) -> dict[str, str]:
    """Retry-After takes whole seconds; round up so a client that obeys it is never refused again."""
    return {"Retry-After": str(max(1, math.ceil(wait_s)))}


class ConcurrencyLimit:
    """ASGI middleware: at most ``limit`` requests inside the app at once, the rest wait in the event loop.

    Why: routes and their connection dependency are synchronous and run on a bounded thread pool (40 threads).
    With more concurrent requests than pooled database connections, every thread can end up blocked waiting for a
    connection while the requests that hold connections wait for a thread to finish on: the API stalls until the
    pool's timeout. Admitting no more requests than there are connections makes that impossible, and waiting in
    the event loop costs a coroutine, not a thread. Beyond ``max_waiting`` queued requests the API sheds load
    with 503 + Retry-After instead of queueing without bound. ``/metrics`` bypasses the gate so monitoring still
    sees an overloaded API.
    """

    def __init__(self, app: Any, limit: int, max_waiting: int = MAX_WAITING, exempt: tuple[str, ...] = ("/metrics",)) -> None:
        self.app = app
        self.limit = limit
        self.max_waiting = max_waiting
        self.exempt = exempt
        self._semaphore: asyncio.Semaphore | None = None
        self._waiting = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:  # created inside the running loop
            self._semaphore = asyncio.Semaphore(self.limit)
        if self._waiting >= self.max_waiting:
            await _reject(send)
            return
        self._waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self._waiting -= 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._semaphore.release()


async def _reject(send: Any) -> None:
    body = b'{"detail":"server busy"}'
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", b"1"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
