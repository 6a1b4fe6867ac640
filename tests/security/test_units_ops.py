"""Pure logic of the operations pieces: metric labels, plan age, the concurrency gate, the load benchmark's
arithmetic."""

from __future__ import annotations

import argparse
import asyncio
import math
import threading

from api.ratelimit import ConcurrencyLimit
from bench.api_load import LiveTally, Tally, change_delays_ms, summarise
from bench.api_load_pages import request_mix
from core import metrics


def test_dead_letter_reasons_map_to_a_bounded_label_set() -> None:
    assert metrics.reason_label("payload too large (300000 bytes > 262144)") == "payload too large"
    assert metrics.reason_label("signal 'x' value is not a number") == metrics.reason_label(
        "signal 'motor_temp_c' value is not a number") == "signal * value is not a number"
    assert metrics.reason_label("unsupported schema version 2") == metrics.reason_label(
        "unsupported schema version 17")
    assert metrics.reason_label("") == "other"
    assert len(metrics.reason_label("x" * 500)) <= 48


def test_plan_age_is_nan_before_a_plan_and_small_after_one() -> None:
    metrics.mark_plan_computed(1_767_225_600.0)
    age = metrics._plan_age()
    assert 0 <= age < 60 and not math.isnan(age)
    assert metrics.PLAN_COMPUTED_AT._value.get() == 1_767_225_600.0


def _gate_run(limit: int, max_waiting: int, requests: int) -> tuple[int, list[int]]:
    """Run ``requests`` concurrent calls through the gate; returns (max concurrency inside, statuses)."""
    inside = {"now": 0, "max": 0}

    async def app(scope: dict, receive: object, send) -> None:
        inside["now"] += 1
        inside["max"] = max(inside["max"], inside["now"])
        await asyncio.sleep(0.01)
        inside["now"] -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    gate = ConcurrencyLimit(app, limit=limit, max_waiting=max_waiting)
    statuses: list[int] = []

    async def call() -> None:
        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
        await gate({"type": "http", "path": "/api/devices"}, None, send)

    async def main() -> None:
        await asyncio.gather(*(call() for _ in range(requests)))

    # A thread of its own: a session-wide browser fixture (Playwright's sync API) may own the main thread's loop.
    runner = threading.Thread(target=asyncio.run, args=(main(),))
    runner.start()
    runner.join(30)
    return inside["max"], statuses


def test_concurrency_gate_admits_at_most_limit_requests() -> None:
    peak, statuses = _gate_run(limit=3, max_waiting=1000, requests=40)
    assert peak == 3 and statuses == [200] * 40


def test_concurrency_gate_sheds_load_beyond_the_waiting_bound() -> None:
    peak, statuses = _gate_run(limit=2, max_waiting=5, requests=20)
    assert peak == 2
    assert statuses.count(503) == 20 - 2 - 5 and statuses.count(200) == 7


def test_summary_counts_rate_and_errors() -> None:
    tally = Tally(latencies_ms=[10.0, 20.0, 30.0, 40.0], errors=1)
    tally.statuses.update({"200": 2, "304": 1, "500": 1})
    live = LiveTally(opened=3, failed=1, dropped=1, events=2, arrivals=[(10.5, "7"), (11.0, "8"), (12.0, "99")],
                     refreshed=[(11.2, "7")])
    args = argparse.Namespace(clients=3, streams=3, workers=1, generators=1, think=5.0)
    delays = change_delays_ms(live.arrivals, [(10.0, "7"), (10.9, "8")])  # event 99 was not the writer's: skipped
    assert [round(d) for d in delays] == [500, 100]
    refresh = change_delays_ms(live.refreshed, [(10.0, "7"), (10.9, "8")])
    result = summarise(tally, live, args, 2.0, {}, [1.0, 2.0], "cmd", cpu_s=0.4, change_ms=delays,
                       refresh_ms=refresh, generator={"cpu_s": 0.25, "lags": [1.0, 3.0]})
    assert result["requests"] == 4 and result["requests_per_s"] == 2.0 and result["errors"] == 1 + 1 + 1
    assert result["p50_ms"] == 20.0 and result["p99_ms"] == 40.0 and result["concurrent"] == 3
    assert result["mode"] == "users" and result["think_s"] == 5.0
    assert result["server_cpu_ms_per_request"] == 100.0 and result["live"]["change_p99_ms"] == 500.0
    assert result["live"]["refresh_p99_ms"] == 1200.0
    assert result["generator"] == {"cpu_s": 0.2, "loop_lag_p99_ms": 3.0, "loop_lag_max_ms": 3.0}
    assert summarise(tally, live, argparse.Namespace(clients=3, streams=0, workers=1, generators=1, think=0.0),
                     2.0, {}, [1.0], "cmd", cpu_s=0.4, change_ms=[])["mode"] == "closed"


def test_request_mix_covers_every_role_and_only_their_devices() -> None:
    mix = request_mix([f"d{i}" for i in range(30)], ["d0", "d3"], ["d0"])
    assert {role for role, _ in mix} == {"dispatcher", "customer", "technician"}
    customer_paths = [p for role, p in mix if role == "customer" and p.startswith("/api/devices/")]
    assert customer_paths and all(p.split("/")[3] in ("d0", "d3") for p in customer_paths)
