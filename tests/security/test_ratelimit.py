"""The login limiter's sliding window, on a manual clock."""

from __future__ import annotations

import pytest

from api import ratelimit
from api.ratelimit import SlidingWindowLimiter, retry_after_header


class Tick:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_window_allows_n_then_refuses_until_the_oldest_attempt_ages_out() -> None:
    clock = Tick()
    limiter = SlidingWindowLimiter(3, 60.0, clock)
    for step in (0.0, 10.0, 20.0):
        clock.t += step
        assert limiter.hit("alice", "10.0.0.1") == 0.0
    clock.t += 5  # t = 1035; attempts at 1000, 1010, 1030
    assert limiter.hit("alice", "10.0.0.1") == pytest.approx(25.0)
    clock.t = 1060.0  # the attempt at 1000 has left the window exactly now
    assert limiter.hit("alice", "10.0.0.1") == 0.0
    assert limiter.hit("alice", "10.0.0.1") == pytest.approx(10.0)


def test_refused_attempts_do_not_extend_the_lockout() -> None:
    clock = Tick()
    limiter = SlidingWindowLimiter(1, 60.0, clock)
    assert limiter.hit("bob", "ip") == 0.0
    for _ in range(50):
        clock.t += 1
        assert limiter.hit("bob", "ip") > 0
    clock.t = 1060.0
    assert limiter.hit("bob", "ip") == 0.0


def test_keys_are_username_and_ip_and_usernames_are_case_insensitive() -> None:
    limiter = SlidingWindowLimiter(1, 60.0, Tick())
    assert limiter.hit("Carol", "ip1") == 0.0
    assert limiter.hit("carol", "ip1") > 0
    assert limiter.hit("carol", "ip2") == 0.0
    assert limiter.hit("dave", "ip1") == 0.0


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 100)
    clock = Tick()
    limiter = SlidingWindowLimiter(1, 60.0, clock)
    for i in range(1000):
        clock.t += 0.001
        limiter.hit(f"user{i}", "ip")
    assert len(limiter) <= 100
    assert limiter.hit("user999", "ip") > 0  # the most recent keys survive eviction (still throttled)


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert retry_after_header(0.2) == {"Retry-After": "1"}
    assert retry_after_header(1.01) == {"Retry-After": "2"}
    assert retry_after_header(59.0) == {"Retry-After": "59"}


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 60.0)
    with pytest.raises(ValueError):
        SlidingWindowLimiter(1, 0.0)
