"""The board snapshot store: one build per data version and age window, shared by concurrent readers."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest

from api import snapshot
from api.snapshot import Snapshots


def test_same_version_is_built_once_and_a_new_version_rebuilds() -> None:
    store, builds = Snapshots(max_age_s=60), []

    def build() -> dict:
        builds.append(1)
        return {"n": len(builds), "at": datetime(2026, 1, 2, 3, 4, tzinfo=UTC)}

    first = store.get("board", (1, "a"), build)
    assert store.get("board", (1, "a"), build) is first
    assert json.loads(first) == {"n": 1, "at": "2026-01-02T03:04:00+00:00"}  # FastAPI's own encoding
    assert json.loads(store.get("board", (2, "a"), build))["n"] == 2
    assert json.loads(store.get("kpis", (2, "a"), build))["n"] == 3  # keys are independent
    assert (store.builds, store.hits) == (3, 1)


def test_a_snapshot_older_than_its_age_bound_is_rebuilt(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(snapshot.time, "monotonic", lambda: now[0])
    store = Snapshots(max_age_s=2.0)
    store.get("k", 1, lambda: 1)
    now[0] += 1.9
    store.get("k", 1, lambda: 2)
    assert store.builds == 1
    now[0] += 0.2
    assert store.get("k", 1, lambda: 3) == b"3"
    assert store.builds == 2


def test_concurrent_misses_wait_for_one_build() -> None:
    store, started, release, calls = Snapshots(max_age_s=60), threading.Event(), threading.Event(), []

    def slow() -> list[int]:
        calls.append(1)
        started.set()
        release.wait(5)
        return [1, 2, 3]

    results: list[bytes] = []
    first = threading.Thread(target=lambda: results.append(store.get("board", 7, slow)))
    first.start()
    started.wait(5)
    others = [threading.Thread(target=lambda: results.append(store.get("board", 7, slow))) for _ in range(5)]
    for t in others:
        t.start()
    release.set()
    for t in [first, *others]:
        t.join(5)
    assert len(calls) == 1 and results == [b"[1,2,3]"] * 6


def test_snapshot_bodies_carry_a_tag_that_follows_their_bytes() -> None:
    store = Snapshots(max_age_s=60)
    a = store.get("k", 1, lambda: {"x": 1})
    assert a.etag == snapshot.etag_of(b'{"x":1}') and a.etag.startswith('"') and a.etag.endswith('"')
    assert store.get("k", 2, lambda: {"x": 1}).etag == a.etag  # new version, same data: same tag (304 still fine)
    assert store.get("k", 3, lambda: {"x": 2}).etag != a.etag


def test_if_none_match_uses_weak_comparison_over_a_list() -> None:
    assert snapshot.matches('"a", W/"b"', '"b"') and snapshot.matches('W/"b"', 'W/"b"')
    assert snapshot.matches('"b"', 'W/"b"') and snapshot.matches("*", '"z"')
    assert not snapshot.matches(None, '"a"') and not snapshot.matches("", '"a"')
    assert not snapshot.matches('"ab"', '"a"') and not snapshot.matches('"a"', '"b"')


def test_a_build_that_started_before_a_write_is_not_served_after_it() -> None:
    store = Snapshots(max_age_s=60)

    def build_during_a_write() -> dict:
        store.clear()  # a write in this process lands while the build reads
        return {"old": True}

    store.get("k", 1, build_during_a_write)
    assert json.loads(store.get("k", 1, lambda: {"new": True})) == {"new": True}
