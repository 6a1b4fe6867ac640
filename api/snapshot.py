"""Short-lived shared snapshots of the staff-wide board payloads, serialised once for every dispatcher.

Why: every open route board re-reads ``/api/board``, its KPIs and the current plan on each live change, so 200
boards turned one change into 600 identical sets of queries and JSON encodings (bench/api_load.py: p99 of
seconds). Staff all see the same data, so each process keeps the last answer as JSON bytes, keyed by a cheap
*version* (api/queries.sql ``board_version``: the live-update cursor's maxima plus the current plan and the
dispatch change counter, ~1 ms, one per request). A request whose version matches a snapshot younger than
``MAX_AGE_S`` gets the bytes; otherwise one request rebuilds while the others with the same key wait for it
(single flight), so a burst costs one build. The version check keeps a board that reacts to a live event from
ever getting the state before that event; the age bound covers what the version cannot see (time-dependent KPI
judgements, ETA re-timings that leave no timeline event) and matches the live stream's own poll period.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from fastapi.encoders import jsonable_encoder

# No older than the live stream's poll period (api/live.py POLL_S): a board is never staler than its live feed.
MAX_AGE_S = 2.0


@dataclass
class _Entry:
    version: Any
    built: float
    body: bytes


class Snapshots:
    """Process-local snapshot store; thread-safe (sync routes run on the thread pool)."""

    def __init__(self, max_age_s: float = MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self._entries: dict[Hashable, _Entry] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self.builds = 0
        self.hits = 0

    def _fresh(self, key: Hashable, version: Any) -> bytes | None:
        entry = self._entries.get(key)
        if entry is not None and entry.version == version and time.monotonic() - entry.built < self.max_age_s:
            return entry.body
        return None

    def get(self, key: Hashable, version: Any, build: Callable[[], Any]) -> bytes:
        """The JSON bytes of ``build()`` for ``version``, built at most once per version and age window."""
        body = self._fresh(key, version)
        if body is not None:
            self.hits += 1
            return body
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            body = self._fresh(key, version)  # built by the request we waited for
            if body is not None:
                self.hits += 1
                return body
            body = json.dumps(jsonable_encoder(build()), separators=(",", ":")).encode()
            self._entries[key] = _Entry(version, time.monotonic(), body)
            self.builds += 1
            return body

    def clear(self) -> None:
        """After a write in this process: the next read rebuilds (the version would catch it; this is cheaper)."""
        self._entries.clear()


def snapshots_of(app: Any) -> Snapshots:
    """The app's store, created on first use (one per process and app)."""
    store = getattr(app.state, "snapshots", None)
    if store is None:
        store = app.state.snapshots = Snapshots()
    return store
