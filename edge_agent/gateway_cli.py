"""``python -m edge_agent run|check --config FILE``: the gateway's command line.

``check`` builds every source, reads each once and prints what it got (no broker, nothing published): the
first thing to run on a new gateway. ``run`` runs the gateway until SIGTERM/SIGINT (systemd stops it so), then
flushes and waits for the last acks. Config errors print one line per problem (file:line: key: message), exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time

from edge_agent.config import ConfigError, GatewayConfig, load
from edge_agent.sources import Sink, build_source

STATS_EVERY_S = 60.0  # a status line per minute in the journal: enough to see a gateway is alive
CHECK_TIMEOUT_S = 5.0  # per source; a push or CAN source waits this long for traffic


def check(cfg: GatewayConfig, timeout_s: float = CHECK_TIMEOUT_S) -> dict[str, object]:
    """Read every source once, in parallel; returns {source: {"ok", "readings", "errors"}}."""
    out: dict[str, object] = {}
    sinks = {c.name: Sink() for c in cfg.sources}
    threads = []
    for c in cfg.sources:
        try:
            src = build_source(c)
        except Exception as exc:  # noqa: BLE001 - a bad DBC file, a missing secret: reported per source
            sinks[c.name].failed(c.name, f"cannot build: {exc}")
            continue
        threads.append(threading.Thread(target=src.read_once, args=(sinks[c.name], timeout_s), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s + 10)
    for c in cfg.sources:
        readings, _ = sinks[c.name].drain()
        failures = sinks[c.name].failures()
        units = {s.name: s.unit for s in c.signals}
        out[c.name] = {
            "type": c.type,
            "ok": not failures,
            "readings": {r.signal: {"value": r.value, "unit": units.get(r.signal, ""), "t_ms": r.t_ms}
                         for r in readings},
            "errors": {(sig or "source"): err for (_, sig), err in failures.items()},
        }
    return out


def _print_check(result: dict[str, object]) -> None:
    for name, res in result.items():
        assert isinstance(res, dict)
        print(f"{name} ({res['type']}): {'ok' if res['ok'] else 'FAILED'}")
        for sig, r in res["readings"].items():
            print(f"  {sig:<28} {r['value']:>14.6g} {r['unit']}")
        for what, err in res["errors"].items():
            print(f"  ! {what}: {err}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edge_agent", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    for name, text in (("run", "run the gateway"), ("check", "read each source once and print, no publishing")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", required=True, help="the gateway's TOML file")
        p.add_argument("-v", "--verbose", action="store_true")
    sub.choices["run"].add_argument("--seconds", type=float, default=0.0, help="stop after N s (0 = until SIGTERM)")
    sub.choices["run"].add_argument("--no-server-ack", action="store_true",
                                    help="delete batches on the broker's PUBACK (a broker without ingest)")
    sub.choices["check"].add_argument("--timeout", type=float, default=CHECK_TIMEOUT_S)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose or args.command == "run" else logging.WARNING,
                        stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    if args.command == "check":
        result = check(cfg, args.timeout)
        _print_check(result)
        print(json.dumps(result))
        return 0 if all(r["ok"] for r in result.values()) else 1  # type: ignore[index]
    return run(cfg, args.seconds, server_ack=not args.no_server_ack)


def run(cfg: GatewayConfig, seconds: float, *, server_ack: bool = True) -> int:
    from edge_agent.gateway import Gateway

    try:
        gw = Gateway(cfg, server_ack=server_ack)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    gw.start()
    logging.getLogger(__name__).info("gateway %s running: %d sources -> %s:%d", cfg.device_id, len(cfg.sources),
                                     cfg.broker.host, cfg.broker.port)
    end = time.monotonic() + seconds if seconds > 0 else float("inf")
    while not stop.wait(min(STATS_EVERY_S, max(0.0, end - time.monotonic()))):
        if time.monotonic() >= end:
            break
        logging.getLogger(__name__).info("gateway %s", json.dumps(gw.stats()))
    gw.stop()
    print(json.dumps(gw.stats()))
    return 1 if gw.errors else 0
