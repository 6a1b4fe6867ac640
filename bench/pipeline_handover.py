"""bench.pipeline --kill-diagnose-at S: how long the fleet takes to move a killed diagnose worker's devices.

Why measured in the pipeline (real processes, the fleet still publishing) rather than in a test: the cost that
matters is at fleet scale, e.g. 10,000 devices of one of two workers: the survivor waits out the lease TTL, claims
the partitions, loads and restores their checkpoints and replays what the dead worker had evaluated after them, then
catches up on what arrived meanwhile, all while keeping up with its own devices.

Watched from the database every POLL_S (wall clock from the SIGKILL):
- ``takeover_s``: until none of the victim's partitions is owned by it any more (TTL + the next pass's claim);
- ``caught_up_s``: until every moved partition's cursor has passed the newest batch committed at takeover, i.e.
  the survivor has restored the devices and evaluated everything the dead worker left.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from typing import Any

import psycopg

from diagnostics.leases import partition

POLL_S = 0.2
GIVE_UP_S = 300.0


class HandOver(threading.Thread):
    def __init__(self, url: str, proc: subprocess.Popen, worker_id: str, device_ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.url, self.proc, self.worker_id, self.device_ids = url, proc, worker_id, device_ids
        self.result: dict[str, Any] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 - reported in the result
            self.result["error"] = str(exc)[:300]

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            parts = [int(r[0]) for r in conn.execute("SELECT part FROM diagnose_leases WHERE owner = %s",
                                                     (self.worker_id,))]
            devices = sum(1 for d in self.device_ids if partition(d) in set(parts))
            self.proc.send_signal(signal.SIGKILL)
            killed = time.time()
            self.result.update({"partitions": len(parts), "devices": devices})
            takeover = None
            target = 0
            while not self.stop_event.is_set() and time.time() - killed < GIVE_UP_S:
                if takeover is None:
                    left = conn.execute("SELECT count(*) FROM diagnose_leases WHERE owner = %s AND part = ANY(%s)",
                                        (self.worker_id, parts)).fetchone()[0]  # type: ignore[index]
                    if left == 0:
                        takeover = time.time() - killed
                        target = int(conn.execute("SELECT coalesce(max(arrival), 0) FROM ingest_batches"
                                                  ).fetchone()[0])  # type: ignore[index]
                        self.result["takeover_s"] = round(takeover, 2)
                if takeover is not None:
                    low = conn.execute("SELECT min(batch_id) FROM diagnose_progress WHERE device_id = ANY(%s)",
                                       ([f"*p{p}" for p in parts],)).fetchone()[0]  # type: ignore[index]
                    if low is not None and int(low) >= target:
                        self.result["caught_up_s"] = round(time.time() - killed, 2)
                        return
                time.sleep(POLL_S)
