"""The API's hot-path shortcuts keep their guarantees: cached token verification still refuses expired, forged
and revoked tokens, and a coalesced version read never answers a caller with a read that began before it asked."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from types import SimpleNamespace

import jwt
import pytest
from fastapi import HTTPException

from api import auth
from api.auth import Principal, RevocationList, issue_token, verified_principal
from api.snapshot import FreshRead

SECRET = secrets.token_urlsafe(32)


def app_with(secret: str = SECRET) -> SimpleNamespace:
    return SimpleNamespace(state=SimpleNamespace(settings=SimpleNamespace(api=SimpleNamespace(secret_key=secret, previous_secret_key=None))))


def test_a_verified_token_is_reused_until_it_expires() -> None:
    app = app_with()
    token = issue_token(Principal(7, "d", "dispatcher"), SECRET)
    first = verified_principal(app, token)
    assert verified_principal(app, token) is first and first.role == "dispatcher"
    # A token that was verified while valid and has expired since: the cache entry does not keep it alive.
    old = issue_token(Principal(8, "e", "admin"), SECRET, now=time.time() - auth.TOKEN_TTL_S - 5)
    claims = jwt.decode(old, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    app.state.verified_tokens[old] = Principal(8, "e", "admin", jti=claims["jti"], expires_at=claims["exp"])
    with pytest.raises(HTTPException) as err:
        verified_principal(app, old)
    assert err.value.status_code == 401


def test_forged_or_foreign_tokens_are_never_cached() -> None:
    app = app_with()
    good = issue_token(Principal(7, "d", "customer", customer_id=1), SECRET)
    verified_principal(app, good)
    claims = jwt.decode(good, SECRET, algorithms=["HS256"])
    forged = jwt.encode({**claims, "role": "admin"}, "x" * 32, algorithm="HS256")
    header, _, signature = good.split(".")
    tampered = ".".join([header, jwt.encode({**claims, "cid": 2}, SECRET, algorithm="HS256").split(".")[1],
                         signature])
    for token in (forged, tampered, good[:-2] + "xx"):
        with pytest.raises(HTTPException) as err:
            verified_principal(app, token)
        assert err.value.status_code == 401
    assert list(app.state.verified_tokens) == [good]


def test_async_revocation_check_refreshes_like_the_sync_one() -> None:
    loads: list[int] = []
    revoked: set[str] = set()

    def load() -> set[str]:
        loads.append(1)
        return set(revoked)

    every_time = RevocationList(load, refresh_s=0.0)
    assert not asyncio.run(every_time.holds("a"))
    revoked.add("a")  # revoked by another process
    assert asyncio.run(every_time.holds("a")) and len(loads) == 2

    cached = RevocationList(load, refresh_s=3600.0)
    assert asyncio.run(cached.holds("a"))
    revoked.add("b")
    assert not asyncio.run(cached.holds("b"))  # within refresh_s: the documented delay
    cached.add("b")  # a logout in this process counts at once
    assert asyncio.run(cached.holds("b"))


def test_fresh_read_serves_only_reads_started_after_the_caller_asked() -> None:
    started, release = threading.Event(), threading.Event()
    reads: list[int] = []

    def read() -> int:
        reads.append(1)
        n = len(reads)
        if n == 1:
            started.set()
            release.wait(5)
        return n

    async def scenario() -> list[int]:
        fresh = FreshRead(read)
        first = asyncio.ensure_future(fresh.get())
        await asyncio.to_thread(started.wait, 5)  # read 1 is under way...
        late = [asyncio.ensure_future(fresh.get()) for _ in range(5)]  # ...when these ask
        await asyncio.sleep(0)
        release.set()
        values = [await first, *[await t for t in late]]
        assert fresh.reads == 2  # the five late callers shared one read
        return values

    assert asyncio.run(scenario()) == [1, 2, 2, 2, 2, 2]


def test_fresh_read_hands_a_failure_to_its_waiters_and_recovers() -> None:
    outcomes = iter([RuntimeError("db down"), 5])

    def read() -> int:
        value = next(outcomes)
        if isinstance(value, Exception):
            raise value
        return value

    async def scenario() -> int:
        fresh = FreshRead(read)
        with pytest.raises(RuntimeError):
            await fresh.get()
        return await fresh.get()

    assert asyncio.run(scenario()) == 5


def test_concurrent_async_misses_share_one_build_without_a_thread_each() -> None:
    from api.snapshot import Snapshots

    started, release, builds = threading.Event(), threading.Event(), []

    def build() -> list[int]:
        builds.append(1)
        started.set()
        release.wait(5)
        return [len(builds)]

    async def scenario() -> list[bytes]:
        store = Snapshots(max_age_s=60)
        first = asyncio.ensure_future(store.aget("board", 1, build))
        await asyncio.to_thread(started.wait, 5)
        others = [asyncio.ensure_future(store.aget("board", 1, build)) for _ in range(20)]
        await asyncio.sleep(0)
        release.set()
        bodies = [await first, *[await t for t in others]]
        assert (store.builds, store.hits) == (1, 20)
        return bodies

    assert set(asyncio.run(scenario())) == {b"[1]"} and len(builds) == 1


def test_live_change_fan_out_is_spread_in_proportion_to_subscribers_and_bounded() -> None:
    from api.live import FANOUT_GAP_S, FANOUT_MAX_S, fanout_spread_s

    assert fanout_spread_s(0) == fanout_spread_s(1) == 0.0  # a lone board is told at once
    assert fanout_spread_s(11) == 10 * FANOUT_GAP_S
    assert fanout_spread_s(100_000) == FANOUT_MAX_S
