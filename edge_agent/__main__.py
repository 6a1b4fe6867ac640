"""Command line: a real gateway (``run`` / ``check --config FILE``) or a simulated fleet against a broker.

    python -m edge_agent run --config /etc/quietfix-edge/gateway.toml
    python -m edge_agent check --config /etc/quietfix-edge/gateway.toml
    python -m edge_agent --devices 300 --host 127.0.0.1 --port 1883 --speed 60 --seconds 120

Progress goes to stderr; the last stdout line is one JSON object with the run's stats and ground truth.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

from edge_agent.fleet import Fleet
from edge_agent.models import DeviceSpec
from edge_agent.simulator import EQUIPMENT_TYPES

PROGRESS_EVERY_S = 5.0  # wall seconds between progress lines on stderr


def make_devices(n: int, password_template: str) -> list[DeviceSpec]:
    """pump-0001, chiller-0002, compressor-0003, pump-0004, ... (types cycle so every fleet has all three)."""
    out = []
    for i in range(1, n + 1):
        et = EQUIPMENT_TYPES[(i - 1) % len(EQUIPMENT_TYPES)]
        did = f"{et}-{i:04d}"
        out.append(DeviceSpec(did, et, did, password_template.format(device_id=did)))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("run", "check"):
        from edge_agent.gateway_cli import main as gateway_main

        return gateway_main(argv)
    ap = argparse.ArgumentParser(
        prog="python -m edge_agent", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    ap.add_argument(
        "--seconds", type=float, default=60.0, help="wall seconds to run; <= 0 runs until SIGINT/SIGTERM"
    )
    ap.add_argument("--password-template", default="{device_id}-secret")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample-interval", type=float, default=1.0, help="simulated seconds between samples")
    ap.add_argument("--batch-interval", type=float, default=10.0, help="simulated seconds per batch")
    ap.add_argument(
        "--fault-rate", type=float, default=0.0, help="random faults per device per simulated hour"
    )
    ap.add_argument("--buffer-dir", type=Path, default=None)
    ap.add_argument("--tls-ca", default=None)
    ap.add_argument("--start", type=float, default=None, help="simulated start, epoch s (default: now)")
    ap.add_argument(
        "--workers", type=int, default=None, help="driver threads (default: 1 per 250 devices, max 4)"
    )
    ap.add_argument(
        "--no-server-ack",
        action="store_true",
        help="delete batches on the broker's PUBACK (no ingest running); default: wait for ingest's ack",
    )
    ap.add_argument(
        "--ack-timeout", type=float, default=30.0, help="wall seconds before an unacked batch is resent"
    )
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)

    wall0 = time.time()
    sim0 = wall0 if args.start is None else args.start
    speed = args.speed

    def clock() -> float:
        return sim0 + (time.time() - wall0) * speed

    fleet = Fleet(
        make_devices(args.devices, args.password_template),
        host=args.host,
        port=args.port,
        clock=clock,
        seed=args.seed,
        sample_interval_s=args.sample_interval,
        batch_interval_s=args.batch_interval,
        fault_rate_per_device_hour=args.fault_rate,
        buffer_dir=args.buffer_dir,
        tls_ca=args.tls_ca,
        workers=args.workers,
        server_ack=not args.no_server_ack,
        ack_timeout_s=args.ack_timeout,
    )
    print(
        f"edge_agent: {args.devices} devices -> {args.host}:{args.port}, speed {speed}x, "
        f"{args.seconds}s wall",
        file=sys.stderr,
    )

    def on_term(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (e.g. from a demo script) flushes like Ctrl-C

    signal.signal(signal.SIGTERM, on_term)
    fleet.start()
    end = time.monotonic() + args.seconds if args.seconds > 0 else math.inf
    try:
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(PROGRESS_EVERY_S, left))  # until Ctrl-C/SIGTERM when --seconds <= 0
            print(f"edge_agent: {json.dumps(fleet.stats())}", file=sys.stderr)
    except KeyboardInterrupt:
        print("edge_agent: interrupted, flushing", file=sys.stderr)
    truth = fleet.ground_truth
    fleet.stop()
    wall = time.time() - wall0
    stats = fleet.stats()
    stats.update(
        wall_s=round(wall, 2),
        speed=speed,
        readings_per_s=round(stats["published_readings"] / wall, 1),
        ground_truth=[asdict(f) for f in truth],
    )
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
