"""bench.detect_latency refuses a run too short to place a fault before starting any server."""

from __future__ import annotations

import pytest


def test_detect_latency_runs_with_its_own_defaults_and_refuses_a_run_too_short_for_a_fault() -> None:
    from bench import detect_latency

    assert detect_latency.parse_args([]).seconds > detect_latency.WARMUP_S + detect_latency.DRAIN_S
    with pytest.raises(SystemExit) as refused:
        detect_latency.parse_args(["--seconds", "300"])
    assert refused.value.code == 2
