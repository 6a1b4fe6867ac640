"""HTTP push source: a local endpoint on the gateway for controllers that POST their readings as JSON.

    POST /readings   {"t": 1732370000123, "m": {"pressure": 41.2, "temp": 61.3}}
                     or {"samples": [{"t": ..., "m": {...}}, ...]}      (t: device epoch ms; optional = now)

Keys are mapped to signals by the mapping's ``key`` (default: the signal name); unknown keys are ignored and
counted in the answer. A malformed body is answered 400 and reported as a health event; a controller that stops
pushing for ``timeout_s`` is a timeout. Optional bearer token (read from a file or an environment variable, like
the broker credential). Standard library only: a gateway needs no web framework for this.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from edge_agent.sources.base import SignalSpec, Sink

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # a controller's push is a few kB; a megabyte is a bug or an attack
SILENCE_CHECK_S = 0.5  # how often a missing push is noticed


class HttpPushSource:
    kind = "http_push"

    def __init__(
        self,
        name: str,
        signals: Sequence[SignalSpec],
        interval_s: float,
        *,
        listen: str = "127.0.0.1:8088",
        path: str = "/readings",
        timeout_s: float = 60.0,
        token: str = "",
    ) -> None:
        self.name, self.signals, self.interval_s = name, list(signals), interval_s
        host, _, port = listen.rpartition(":")
        self.address = (host or "127.0.0.1", int(port))
        self.path, self.timeout_s, self.token = path, timeout_s, token
        self.by_key = {str(s.address.get("key", s.name)): s for s in self.signals}
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._last_push = time.monotonic()
        self.pushes = 0

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self.address[1]

    def accept(self, sink: Sink, body: bytes) -> tuple[int, dict[str, Any]]:
        """Validate and deliver one pushed body; returns (HTTP status, answer). Pure apart from the sink."""
        try:
            obj = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._bad(sink, f"bad payload: not JSON ({exc})")
        samples = obj.get("samples") if isinstance(obj, dict) and "samples" in obj else [obj]
        if not isinstance(samples, list) or not all(isinstance(s, dict) and isinstance(s.get("m"), dict)
                                                    for s in samples):
            return self._bad(sink, "bad payload: expected {'t': ms, 'm': {key: number}} or {'samples': [...]}")
        accepted = unknown = 0
        for s in samples:
            t = s.get("t")
            if t is not None and (type(t) is not int or t <= 0):
                return self._bad(sink, "bad payload: 't' must be epoch milliseconds (integer)")
            for key, raw in s["m"].items():
                spec = self.by_key.get(key)
                if spec is None:
                    unknown += 1
                    continue
                if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
                    sink.failed(self.name, f"key {key!r}: {raw!r} is not a number", signal=spec.name)
                    continue
                sink.value(self.name, spec, raw, t)
                accepted += 1
        self._last_push = time.monotonic()
        self.pushes += 1
        sink.ok(self.name)
        return 200, {"accepted": accepted, "unknown_keys": unknown}

    def _bad(self, sink: Sink, error: str) -> tuple[int, dict[str, Any]]:
        sink.failed(self.name, error)
        return 400, {"error": error}

    # ---- Source interface ------------------------------------------------------------------------------------
    def start(self, sink: Sink) -> None:
        self._stop.clear()
        self._server = self._make_server(sink)
        self._last_push = time.monotonic()
        self._threads = [
            threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                             name=f"qf-src-{self.name}", daemon=True),
            threading.Thread(target=self._watch, args=(sink,), name=f"qf-src-{self.name}-watch", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for t in self._threads:
            t.join(5)
        self._threads = []

    def read_once(self, sink: Sink, timeout_s: float) -> None:
        """Listen for one push for up to ``timeout_s`` (a push endpoint cannot be asked for a value)."""
        before = self.pushes
        self.start(sink)
        try:
            end = time.monotonic() + timeout_s
            while self.pushes == before and time.monotonic() < end:
                time.sleep(0.05)
            if self.pushes == before:
                sink.failed(self.name, f"no push received on {self.address[0]}:{self.port}{self.path} "
                                       f"within {timeout_s} s")
        finally:
            self.stop()

    def _watch(self, sink: Sink) -> None:
        while not self._stop.wait(SILENCE_CHECK_S):
            if time.monotonic() - self._last_push > self.timeout_s:
                sink.failed(self.name, f"timeout: no push for {self.timeout_s} s")

    def _make_server(self, sink: Sink) -> ThreadingHTTPServer:
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path.split("?")[0] != source.path:
                    self._answer(404, {"error": f"POST readings to {source.path}"})
                    return
                if source.token and not hmac.compare_digest(self.headers.get("Authorization", ""),
                                                            f"Bearer {source.token}"):
                    self._answer(401, {"error": "bad or missing bearer token"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self._answer(413, {"error": f"body larger than {MAX_BODY_BYTES} bytes"})
                    return
                status, answer = source.accept(sink, self.rfile.read(length))
                self._answer(status, answer)

            def _answer(self, status: int, obj: dict[str, Any]) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http_push %s: " + format, source.name, *args)

        server = ThreadingHTTPServer(self.address, Handler)
        server.daemon_threads = True
        return server
