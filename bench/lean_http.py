"""A lean asyncio HTTP/1.1 client for load generation: keep-alive connections on raw streams, browser-like.

Why not httpx: driving 400 connections through httpx cost the load generator ~8 ms of CPU per request (bench
api_load: 40 CPU-s in the generators against 9 in the API it measured), so on a 2-core host the generator,
not the server, set the latency. This client does only what the benchmark's simulated browsers need, with
little per-request work: GET with a few headers, ``Content-Length`` and chunked bodies, 304 without a body,
and a streamed (server-sent events) answer read chunk by chunk. It is not a general HTTP client.

``Browser`` behaves like one browser tab towards one host, because that is what the benchmark models:

* at most ``max_conns`` connections at once (browsers open six per host over HTTP/1.1; an open event stream
  holds one of them for its whole life);
* an ETag cache per URL: an answer with an ``ETag`` is remembered and the next GET of that URL sends
  ``If-None-Match``; a 304 hands back the remembered body (what a browser's HTTP cache does for answers marked
  ``Cache-Control: no-cache``);
* idle connections are closed by the client after ``idle_s``, which must stay below the server's keep-alive
  timeout: otherwise a request can be written onto a connection the server is closing at that very moment and
  fail with a reset (the race behind bench api_load's earlier ``ReadError``s, see its docstring).

Every failure is reported to the caller as ``HttpFailure`` with what is known about the connection (reused or
new, how long it sat idle, whether any answer byte arrived), so an error can be explained, not just counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

# Longest head (status line + headers) accepted; the API's heads are a few hundred bytes.
MAX_HEAD = 64 * 1024


class HttpFailure(Exception):
    """A request that got no complete answer: connection refused, reset, closed early, timed out, bad framing."""

    def __init__(self, kind: str, detail: str, *, reused: bool, idle_s: float, answered: bool) -> None:
        super().__init__(f"{kind}: {detail} (reused={reused}, idle {idle_s:.2f} s, answer bytes={answered})")
        self.kind, self.reused, self.idle_s, self.answered = kind, reused, idle_s, answered


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    from_cache: bool = False  # a 304 whose body is the remembered one


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of a response head (``...\\r\\n\\r\\n``)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"bad header line: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


class Conn:
    """One keep-alive connection. ``requests`` counts the answers it carried (0 = fresh)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.requests = 0
        self.idle_since = time.monotonic()
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int) -> Conn:
        reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEAD)
        return cls(reader, writer)

    def send(self, method: str, path: str, host: str, headers: Mapping[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def head(self) -> tuple[int, dict[str, str]]:
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            raise ConnectionResetError(f"closed after {len(exc.partial)} answer bytes") from exc
        return parse_head(head)

    async def body(self, status: int, headers: Mapping[str, str]) -> bytes:
        if status in (204, 304) or 100 <= status < 200:
            return b""
        if "content-length" in headers:
            return await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return b"".join([chunk async for chunk in self.chunks()])
        self.closed = True  # delimited by close
        return await self.reader.read()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The chunks of a chunked body as they arrive (the event stream's framing)."""
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionResetError("closed inside a chunked body")
            size = int(line.split(b";", 1)[0], 16)
            if size == 0:
                while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            data = await self.reader.readexactly(size + 2)
            yield data[:-2]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()


@dataclass
class BrowserStats:
    connections_opened: int = 0
    idle_closed: int = 0  # closed by the client because they sat idle longer than idle_s
    not_modified: int = 0


class Browser:
    """One simulated browser tab towards ``host:port`` (see the module docstring)."""

    def __init__(self, host: str, port: int, *, max_conns: int = 6, idle_s: float = 4.0, timeout_s: float = 10.0,
                 headers: Mapping[str, str] | None = None, stats: BrowserStats | None = None) -> None:
        self.host, self.port, self.timeout_s, self.idle_s = host, port, timeout_s, idle_s
        self.authority = f"{host}:{port}"
        self.headers = dict(headers or {})
        self.slots = asyncio.Semaphore(max_conns)
        self.idle: list[Conn] = []
        self.etags: dict[str, tuple[str, bytes]] = {}
        self.stats = stats if stats is not None else BrowserStats()

    async def _conn(self) -> Conn:
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()  # most recently used first, as browsers do
            if now - conn.idle_since < self.idle_s and not conn.reader.at_eof():
                return conn
            conn.close()
            self.stats.idle_closed += 1
        conn = await Conn.open(self.host, self.port)
        self.stats.connections_opened += 1
        return conn

    async def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        """GET with this tab's headers; conditional when an ETag for ``path`` is remembered."""
        hdrs = {**self.headers, **(headers or {})}
        cached = self.etags.get(path)
        if cached is not None:
            hdrs["If-None-Match"] = cached[0]
        async with self.slots:
            conn: Conn | None = None
            reused, idle_s, answered = False, 0.0, False
            try:
                async with asyncio.timeout(self.timeout_s):
                    conn = await self._conn()
                    reused, idle_s = conn.requests > 0, time.monotonic() - conn.idle_since
                    conn.send("GET", path, self.authority, hdrs)
                    status, rh = await conn.head()
                    answered = True
                    body = await conn.body(status, rh)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                if conn is not None:
                    conn.close()
                kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
                raise HttpFailure(kind, str(exc), reused=reused, idle_s=idle_s, answered=answered) from exc
            except BaseException:
                if conn is not None:
                    conn.close()
                raise
            conn.requests += 1
            conn.idle_since = time.monotonic()
            if conn.closed or rh.get("connection", "").lower() == "close":
                conn.close()
            else:
                self.idle.append(conn)
        if status == 304 and cached is not None:
            self.stats.not_modified += 1
            return Reply(304, rh, cached[1], from_cache=True)
        if status == 200 and "etag" in rh:
            self.etags[path] = (rh["etag"], body)
        return Reply(status, rh, body)

    @asynccontextmanager
    async def stream(self, path: str, headers: Mapping[str, str] | None = None,
                     ) -> AsyncIterator[tuple[int, AsyncIterator[bytes]]]:
        """A long GET on a connection of its own (one of the tab's slots, for its whole life): the status and an
        iterator over body chunks. The connection is closed afterwards (the stream ends it anyway)."""
        hdrs = {**self.headers, "Accept": "text/event-stream", **(headers or {})}
        async with self.slots:
            try:
                async with asyncio.timeout(self.timeout_s):
                    conn = await Conn.open(self.host, self.port)
                    self.stats.connections_opened += 1
                    conn.send("GET", path, self.authority, hdrs)
                    status, rh = await conn.head()
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
                raise HttpFailure(kind, str(exc), reused=False, idle_s=0.0, answered=False) from exc
            try:
                if rh.get("transfer-encoding", "").lower() == "chunked":
                    yield status, conn.chunks()
                else:
                    yield status, _raw(conn)
            finally:
                conn.close()

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


async def _raw(conn: Conn) -> AsyncIterator[bytes]:
    while data := await conn.reader.read(65536):
        yield data

