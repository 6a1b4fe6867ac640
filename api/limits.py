"""What one request may send: a body size cap enforced before the body is read, and a JSON nesting cap.

Why a middleware: FastAPI reads a whole body into memory before any route or schema sees it, so a size check in
a route comes after the memory is spent. Here a declared ``Content-Length`` above the cap is refused before a
byte is read, and a chunked body is counted as it streams and refused the moment it passes the cap; the app
only ever holds at most the cap. JSON bodies are also checked for nesting depth before they are parsed:
Python's parser recurses, and a body of 100 000 ``[`` would otherwise reach the route as a server error.
Uploads (multipart forms) are not buffered here: they stream to the app and are cut off at their route's cap.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

# Strings are skipped before counting brackets: a "[" inside a string is not nesting.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


class BodyTooLarge(Exception):
    pass


def json_depth(body: bytes) -> int:
    """Deepest nesting of objects/arrays in a JSON text (its strings ignored); not a validator."""
    brackets = _BRACKETS.findall(_JSON_STRING.sub(b'""', body))
    if not brackets:
        return 0
    return max(accumulate(1 if b in (b"[", b"{") else -1 for b in brackets))


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes`` (or the limit of the first ``per_path`` pattern that
    matches the whole path: photo uploads), 422 for JSON nested deeper than ``max_depth``."""

    def __init__(self, app: Any, max_bytes: int, max_depth: int,
                 per_path: list[tuple[str, int]] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.per_path = [(re.compile(pattern), n) for pattern, n in per_path or ()]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = next((n for pattern, n in self.per_path if pattern.fullmatch(scope["path"])), self.max_bytes)
        headers = dict(scope.get("headers") or ())
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False  # the server (h11/httptools) refuses a malformed length itself
            if too_big:
                await _answer(send, 413, f"request body larger than {limit} bytes")
                return
        is_json = headers.get(b"content-type", b"").split(b";")[0].strip().endswith(b"json")
        if is_json:
            await self._json(scope, receive, send, limit)
        else:
            await self._streamed(scope, receive, send, limit)

    async def _json(self, scope: dict[str, Any], receive: Any, send: Any, limit: int) -> None:
        """Read the (bounded) body here, check its nesting, then replay it to the app: the app parses JSON from
        one bytes object anyway, so at most twice ``limit`` is held, never more."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _answer(send, 413, f"request body larger than {limit} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if self.max_depth and json_depth(body) > self.max_depth:
            await _answer(send, 422, f"JSON nested deeper than {self.max_depth} levels")
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the client to disconnect, as the server would

        await self.app(scope, replay, send)

    async def _streamed(self, scope: dict[str, Any], receive: Any, send: Any, limit: int) -> None:
        """Other bodies (uploads, forms) stream through to the app, counted: past the cap the app's read fails,
        whatever the app then answers is dropped, and the client gets the 413."""
        size = 0
        exceeded = started = False

        async def counted() -> dict[str, Any]:
            nonlocal size, exceeded
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    exceeded = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded(message: dict[str, Any]) -> None:
            nonlocal started
            if exceeded:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _answer(send, 413, f"request body larger than {limit} bytes")


async def _answer(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
