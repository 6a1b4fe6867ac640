"""End-to-end delivery benchmark: the real edge fleet → a private Mosquitto → ingest → a scratch database.

    python -m bench.edge_ack --devices 100 --speed 60 --seconds 30 [--no-server-ack] [--restart-broker-at 10]

Measures what the end-to-end ack costs and proves what it buys: readings/s stored, messages resent, how long the
fleet needs at stop until every batch is acked, and the exactly-once check (rows stored == readings the devices
produced, all distinct). ``--restart-broker-at S`` restarts the broker (graceful) S seconds in, with the default
shared subscription, where Mosquitto 2.0.11 drops the group's queue: with the end-to-end ack nothing is lost;
with ``--no-server-ack`` the loss shows as ``missing``.

Real servers, never the shared ones' state: a private broker (the project's configuration) on a free port and a
scratch database on the local PostgreSQL, dropped at the end. Progress on stderr; last stdout line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from core.broker import upsert_credentials
from core.clock import SystemClock
from core.db import drop_database, ensure_database
from core.migrate import migrate
from core.settings import load_settings
from edge_agent import DeviceSpec, Fleet
from ingest import start_ingest
from quietfix.seed import seed
from tests.services import PrivateBroker

DRAIN_TIMEOUT_S = 180.0  # fleet.stop waits this long for the last acks
SETTLE_S = 3.0  # after the drain, anything duplicated would have landed by now


def run(args: argparse.Namespace) -> dict[str, Any]:
    base = load_settings()
    tmp = Path(tempfile.mkdtemp(prefix="qf-bench-edge-"))
    db_url = psycopg.conninfo.make_conninfo(base.database_url, dbname=f"qf_bench_edge_{uuid.uuid4().hex[:8]}")
    broker = PrivateBroker(tmp / "broker", base.mqtt_username, base.mqtt_password)
    ensure_database(db_url)
    migrate(db_url)
    with psycopg.connect(db_url) as conn:
        devices = seed(conn, devices=args.devices, technicians=1, users=False)
        conn.commit()
    upsert_credentials(broker.dir / "passwd", [(d.device_id, "pw") for d in devices])
    broker.start()
    settings = load_settings(database_url=db_url, mqtt_url=broker.url)
    settings.ingest.worker_id = f"bench-edge-{os.getpid()}"
    ingest = start_ingest(settings, SystemClock())
    wall0 = time.time()
    fleet = Fleet([DeviceSpec(d.device_id, d.equipment_type, d.device_id, "pw") for d in devices],
                  host="127.0.0.1", port=broker.port, clock=lambda: wall0 + (time.time() - wall0) * args.speed,
                  sample_interval_s=args.sample_interval, batch_interval_s=args.batch_interval,
                  buffer_dir=tmp / "edge", server_ack=not args.no_server_ack, ack_timeout_s=args.ack_timeout)
    try:
        if not ingest.mqtt.connected.wait(10):
            raise RuntimeError("ingest did not connect")
        fleet.start()
        start = time.monotonic()
        restarted = False
        while (left := args.seconds - (time.monotonic() - start)) > 0:
            if args.restart_broker_at and not restarted and time.monotonic() - start >= args.restart_broker_at:
                print("bench.edge_ack: restarting the broker", file=sys.stderr)
                broker.stop()
                time.sleep(1.0)
                broker.start()
                restarted = True
            time.sleep(min(1.0, left))
        run_s = time.monotonic() - start
        stop_t = time.monotonic()
        fleet.stop(timeout_s=DRAIN_TIMEOUT_S)
        drain_s = time.monotonic() - stop_t
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        stats = fleet.stats()
        with psycopg.connect(db_url, autocommit=True) as conn:
            # Without server acks the fleet stops at PUBACK: wait for ingest to empty its backlog.
            def stored() -> int:
                return int(conn.execute("SELECT count(*) FROM telemetry").fetchone()[0])  # type: ignore[index]

            while stored() < stats["published_readings"] and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(SETTLE_S)
            total, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT (device_id, signal, ts)) FROM telemetry").fetchone()  # type: ignore[misc]
            events = conn.execute("SELECT count(*) FROM device_events").fetchone()[0]  # type: ignore[index]
    finally:
        fleet.stop()
        ingest.stop()
        broker.stop(kill=True)
        drop_database(db_url)
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "devices": args.devices, "speed": args.speed, "seconds": args.seconds,
        "server_ack": not args.no_server_ack, "broker_restarted": bool(args.restart_broker_at),
        "published_readings": stats["published_readings"], "stored_readings": int(total),
        "distinct_readings": int(distinct), "missing": stats["published_readings"] - int(distinct),
        "duplicates": int(total) - int(distinct), "events": stats["events"], "events_stored": int(events),
        "published_messages": stats["published_messages"], "resent_messages": stats["resent_messages"],
        "buffered_at_end": stats["buffered"], "stored_readings_per_s": round(int(total) / run_s, 1),
        "drain_s": round(drain_s, 2), "ingest_device_acks": ingest.worker.stats.device_acks,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.edge_ack", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--speed", type=float, default=60.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--sample-interval", type=float, default=1.0)
    ap.add_argument("--batch-interval", type=float, default=10.0)
    ap.add_argument("--ack-timeout", type=float, default=30.0)
    ap.add_argument("--no-server-ack", action="store_true")
    ap.add_argument("--restart-broker-at", type=float, default=0.0)
    args = ap.parse_args(argv)
    print(f"bench.edge_ack: {' '.join(sys.argv[1:]) or '(defaults)'}; load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
