"""The load benchmark's client model (bench/api_load.py; its users: bench/api_load_users.py) and its lean HTTP
client (bench/lean_http.py): what a simulated user asks for must be what the real pages ask for, and the client
must behave like a browser tab (ETag revalidation, no reuse of connections the server may be closing), or the figures measure something else."""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bench import api_load_users as api_load
from bench.api_load_pages import Page, pages, user_roles
from bench.api_load_users import LiveTally, Tally, User, sse_events
from bench.lean_http import Browser, HttpFailure, parse_head

STATIC = Path(__file__).resolve().parents[2] / "api" / "static"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a thread of its own: in a whole-suite run the browser tests' Playwright (sync API)
    keeps an event loop running on the main thread, where ``asyncio.run`` refuses to start."""
    out: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            out.append(asyncio.run(coro))
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            errors.append(exc)

    worker = threading.Thread(target=target)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    return out[0]


def test_dispatcher_refresh_is_what_board_js_refresh_reads() -> None:
    js = (STATIC / "board.js").read_text()
    refresh = js[js.index("async function refreshOnce()"):]
    refresh = refresh[:refresh.index("\n  }\n")]
    reads = re.findall(r'(?:api|optional)\("([^"]+)"\)', refresh)
    kpis = re.findall(r'(?:api|optional)\("([^"]+)"\)', js[js.index("async function drawKpis("):][:200])
    page = pages(["d0", "d1", "d2", "d3"], ["d0"], ["d1"])["dispatcher"]
    assert reads == ["/api/board/view"] and kpis == []  # one round trip; the KPIs come in the bundle
    assert page.refresh == (tuple(reads),)
    assert page.load[0] == ("/api/auth/me",) and page.load[1] == ("/api/board",)  # QF.start, then first board
    assert page.load[2:3] == page.refresh


def test_debounce_in_qf_js_is_the_one_simulated() -> None:
    js = (STATIC / "qf.js").read_text()
    assert f"setTimeout(onChange, {int(api_load.DEBOUNCE_S * 1000)})" in js


def test_roles_are_mostly_dispatchers_with_every_kind_present() -> None:
    roles = user_roles(200)
    assert roles.count("dispatcher") == 160 and roles.count("technician") == 20 and roles.count("customer") == 20
    assert set(user_roles(3)) == {"dispatcher", "technician", "customer"}
    assert user_roles(1) == ["dispatcher"]


def test_server_sent_events_are_split_on_blank_lines_and_comments_skipped() -> None:
    events, rest = sse_events('retry: 3000\n\n: keep-alive\n\nevent: change\ndata: {"timeline": "5"}\n\nevent: ch')
    assert events == [("message", ""), ("change", '{"timeline": "5"}')] and rest == "event: ch"


class FakeBrowser:
    """Records GETs; each waits until ``release`` is set, so a refresh can be held 'busy'."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.release = asyncio.Event()
        self.called = asyncio.Event()

    async def get(self, path: str, headers: dict[str, str] | None = None) -> object:
        self.paths.append(path)
        self.called.set()
        await self.release.wait()
        return type("R", (), {"status": 200})()

    def close(self) -> None:
        pass


def test_changes_are_debounced_and_a_change_during_a_refresh_gets_one_trailing_refresh_like_board_js(monkeypatch) -> None:
    monkeypatch.setattr(api_load, "DEBOUNCE_S", 0.0)
    page = Page("dispatcher", (), (("/a", "/b"), ("/kpis",)), ("/x",))

    async def scenario() -> tuple[FakeBrowser, LiveTally, Tally]:
        browser, live, tally = FakeBrowser(), LiveTally(), Tally(measuring=True)
        user = User(browser, page, 5.0, random.Random(1), tally, live, stream=True, timed=True, measuring=[True])
        for cursor in ("1", "2", "3"):  # a burst: one refresh, for the last change
            user.on_change(cursor)
        await browser.called.wait()
        assert sorted(browser.paths) == ["/a", "/b"] and user.busy
        user.on_change("4")  # arrives while the refresh runs: folded into
        user.on_change("5")  # one trailing refresh (board.js `again`)
        for _ in range(5):
            await asyncio.sleep(0)
        browser.release.set()
        assert user.refresh_task is not None
        await user.refresh_task
        return browser, live, tally

    browser, live, tally = run(scenario())
    assert browser.paths[2:3] == ["/kpis"] and sorted(browser.paths[3:5]) == ["/a", "/b"]
    assert browser.paths[5:] == ["/kpis"]
    assert live.refreshes == 2 and live.coalesced == 1  # "4" and "5" were one debounced change
    assert [cursor for _, cursor in live.refreshed] == ["3", "5"]
    assert len(tally.latencies_ms) == 6 and tally.errors == 0


def test_requests_started_in_the_window_are_counted_even_when_answered_after_it() -> None:
    """#16 item 7: every request STARTED in the window counts, with its latency, even if the window closed while
    it was in flight; one sent before the window does not; a refresh in flight at the deadline is awaited (its
    request counted), and sends nothing new."""
    page = Page("dispatcher", (), (("/a",), ("/kpis",)), ("/x",))

    async def scenario() -> tuple[FakeBrowser, Tally]:
        browser, live, tally = FakeBrowser(), LiveTally(), Tally(measuring=False)
        user = User(browser, page, 5.0, random.Random(1), tally, live, stream=False, timed=True, measuring=[False])
        early = asyncio.create_task(user.get("/early"))  # sent during the warm-up
        await browser.called.wait()
        tally.measuring = user.measuring[0] = True
        browser.called.clear()
        late = asyncio.create_task(user.get("/late"))  # sent in the window ...
        await browser.called.wait()
        tally.measuring = user.measuring[0] = False  # ... which closes before either is answered
        browser.release.set()
        await asyncio.gather(early, late)
        browser.release.clear()
        browser.called.clear()
        tally.measuring = user.measuring[0] = True
        user.busy = True
        user.refresh_task = asyncio.create_task(user.refresh())  # a refresh in flight at the deadline
        await browser.called.wait()
        tally.measuring = user.measuring[0] = False
        winding_down = asyncio.create_task(user.run(time.monotonic(), 0.0))  # past its deadline: only the finally
        for _ in range(5):
            await asyncio.sleep(0)
        assert not user.refresh_task.done()  # awaited, not cancelled
        browser.release.set()
        await winding_down
        return browser, tally

    browser, tally = run(scenario())
    assert sorted(tally.by_route) == ["/a", "/late"] and len(tally.latencies_ms) == 2 and tally.errors == 0
    assert "/kpis" not in browser.paths  # nothing new is sent after the deadline


class Served:
    """A tiny HTTP/1.1 server on loopback; ``handler(request_head) -> bytes | None`` answers each request (None:
    close without answering). ``async with`` it; on exit it waits until every client connection has ended."""

    def __init__(self, handler) -> None:
        self.handler, self.tasks = handler, []
        self.seen = {"connections": 0, "requests": 0}

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self.client, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await asyncio.wait_for(asyncio.gather(*self.tasks), 5)
        await self.server.wait_closed()

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.tasks.append(asyncio.current_task())
        seen, handler = self.seen, self.handler
        seen["connections"] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                seen["requests"] += 1
                answer = handler(head.decode())
                if answer is None:  # close without answering
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
        await writer.wait_closed()


def _etag_handler(head: str) -> bytes:
    if 'if-none-match: "v1"' in head.lower():
        return b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n'
    body = b'{"n":1}'
    return b'HTTP/1.1 200 OK\r\nETag: "v1"\r\nContent-Length: %d\r\n\r\n%s' % (len(body), body)


def test_browser_revalidates_with_the_etag_and_reuses_a_recent_connection() -> None:
    async def scenario() -> tuple[list, dict[str, int], int]:
        served = Served(_etag_handler)
        async with served as port:
            browser = Browser("127.0.0.1", port, idle_s=60.0)
            replies = [await browser.get("/api/board") for _ in range(3)]
            browser.close()
        return replies, served.seen, browser.stats.not_modified

    replies, seen, not_modified = run(scenario())
    assert [r.status for r in replies] == [200, 304, 304] and not_modified == 2
    assert all(r.body == b'{"n":1}' for r in replies) and replies[1].from_cache
    assert seen == {"connections": 1, "requests": 3}  # keep-alive: one connection for all three


def test_browser_never_reuses_a_connection_idle_past_its_limit() -> None:
    async def scenario() -> tuple[dict[str, int], int, int]:
        served = Served(_etag_handler)
        async with served as port:
            browser = Browser("127.0.0.1", port, idle_s=0.0)  # every idle connection is already too old
            for _ in range(3):
                await browser.get("/x")
            browser.close()
        return served.seen, browser.stats.connections_opened, browser.stats.idle_closed

    seen, opened, idle_closed = run(scenario())
    assert seen["connections"] == 3 and opened == 3 and idle_closed == 2


def test_chunked_bodies_are_reassembled() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=1\r\ndefg\r\n0\r\n\r\n"

    async def scenario() -> bytes:
        async with Served(lambda head: chunked) as port:
            browser = Browser("127.0.0.1", port)
            reply = await browser.get("/x")
            browser.close()
        return reply.body

    assert run(scenario()) == b"abcdefg"


def test_a_connection_closed_without_an_answer_is_a_described_failure() -> None:
    async def scenario() -> HttpFailure:
        async with Served(lambda head: None) as port:
            browser = Browser("127.0.0.1", port)
            with pytest.raises(HttpFailure) as caught:
                await browser.get("/x")
        return caught.value

    failure = run(scenario())
    assert not failure.reused and not failure.answered and "ConnectionResetError" in str(failure)


def test_response_heads_are_parsed_and_garbage_rejected() -> None:
    assert parse_head(b"HTTP/1.1 304 Not Modified\r\nETag: W/\"x\"\r\n\r\n") == (304, {"etag": 'W/"x"'})
    with pytest.raises(ValueError):
        parse_head(b"SSH-2.0-OpenSSH\r\n\r\n")
