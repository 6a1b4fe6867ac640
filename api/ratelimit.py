"""Login throttling: a sliding window of attempts per (username, client IP), in process memory.

Keyed on both so one attacker cannot lock a user out from everywhere (the victim's own IP keeps its budget) and
one IP cannot spray many users without each pair being throttled. Every attempt counts, successful or not: a
person signs in once a shift, and argon2 verification is deliberately expensive, so the cap also bounds the CPU
an unauthenticated client can make us spend. Per process: behind N API processes the effective budget is N times
the setting (docs/security.md); a shared store (Redis, PostgreSQL) would make it exact.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

# Keys kept at most; beyond it the stalest are dropped. 100k pairs is a few MB and far above any real user base,
# so only a distributed guessing run (which the window already slows) could push keys out.
MAX_KEYS = 100_000


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
