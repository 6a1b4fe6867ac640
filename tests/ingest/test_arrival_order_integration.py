"""Arrival numbers follow commit order, not id order (migration 0230): a batch whose transaction took its id
first but committed last is still seen by a reader that has moved past a later id."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from core.clock import ManualClock, to_datetime
from core.contracts import Sample, TelemetryBatch
from diagnostics import repository as diag
from ingest import repository as ingest
from quietfix.seed import seed

pytestmark = pytest.mark.integration


def one_batch(device_id: str, t: float) -> TelemetryBatch:
    return TelemetryBatch(device_id, 1, (Sample(round(t * 1000), (("flow_lpm", 100.0),)),))


def test_the_transaction_that_commits_last_gets_the_later_arrival(conn: psycopg.Connection, db_url: str) -> None:
    first, second = (d.device_id for d in seed(conn, devices=2, technicians=1, users=False))
    now = ManualClock().now()
    conn.execute("SELECT quietfix_ensure_partitions(%s, %s)", (to_datetime(now - 86400), to_datetime(now + 86400)))
    conn.commit()
    received = to_datetime(now)
    with psycopg.connect(db_url) as slow, psycopg.connect(db_url) as fast:
        # The slow transaction claims its batch first (the lower id) and is still working...
        t_ms = round((received - timedelta(seconds=1)).timestamp() * 1000)
        (slow_id,) = slow.execute(ingest.Q.claim_batches, (
            received, ingest.names_array([first]), ingest.ints_array([1]), ingest.ints_array([1]),
            ingest.ints_array([t_ms]), ingest.ints_array([t_ms]), ingest.ints_array([None]))).fetchone()[:1]
        # ...while a later one is written and committed completely.
        ingest.write_batches(fast, [one_batch(second, now - 1)], received)
        fast.commit()
        seen = diag.new_batches(conn, 0, 100)
        conn.commit()
        assert [(b.device_id, b.arrival) for b in seen] == [(second, 1)]
        fast_id = seen[0].id
        assert slow_id < fast_id  # a reader following ids would now be past the slow batch for good
        slow.execute(ingest.Q.arrival_lock)
        slow.execute(ingest.Q.stamp_arrival, (ingest.ints_array([slow_id]),))
        slow.commit()
    later = diag.new_batches(conn, seen[0].arrival, 100)
    assert [(b.id, b.device_id, b.arrival) for b in later] == [(slow_id, first, 2)]
