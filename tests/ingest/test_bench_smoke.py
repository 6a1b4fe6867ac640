"""The ingest benchmark's whole path at tiny scale: publisher → private broker → `quietfix ingest` → scratch DB.

It checks the benchmark's own accounting (published, stored, lost, duplicated), not its speed.
"""

from __future__ import annotations

import pytest

from bench.ingest import BenchConfig, run_bench
from tests.conftest import BASE

pytestmark = pytest.mark.integration


def test_tiny_bench_stores_every_reading_once() -> None:
    cfg = BenchConfig(devices=3, readings_per_message=50, seconds=2.0, workers=2, rate=3000.0,
                      ceiling_rows=1000, database_url=BASE.database_url, inflight=10)
    result = run_bench(cfg)
    assert result["published"] > 0
    assert result["unacked_at_end"] == 0
    assert result["stored"] == result["published"]
    assert result["lost"] == 0
    assert result["duplicated"] == 0
    assert result["dead_letters"] == 0
    assert result["batches_stored"] == result["published_messages"]
    assert result["copy_ceiling_rows_per_s"] > 0
