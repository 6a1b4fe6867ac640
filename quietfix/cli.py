"""The `quietfix` command: one subcommand per long-running process, plus set-up and the demo."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

from core.clock import ScaledClock, SystemClock
from core.db import connect, ensure_database
from core.logs import setup_logging
from core.metrics import serve_process_metrics
from core.migrate import migrate
from core.settings import Settings, load_settings
from core.sql import Queries

log = logging.getLogger("quietfix")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    created = ensure_database(settings.database_url)
    report = migrate(settings.database_url, backend=settings.storage.backend)
    print(json.dumps({"database_created": created, "storage": report.storage, "storage_note": report.note,
                      "schema_version": report.version, "applied": list(report.applied)}))
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from quietfix.console import run_with_console
    from quietfix.demo import DemoOptions, print_result

    options = DemoOptions(seconds=args.for_seconds, speed=args.speed, sample_interval_s=args.sample_interval,
                          devices=args.devices,
                          technicians=args.technicians, seed=args.seed,
                          fault_rate_per_device_hour=args.fault_rate, api=not args.no_api,
                          history_weeks=args.history_weeks, preventive_planner=True,
                          telemetry_history=True, replenishment=True, roster=args.roster)
    stop = _stop_on_signals()
    level = "DEBUG" if args.verbose else settings.log_level
    print_result(run_with_console(settings, options, stop, log_json=args.log_json, level=level))
    return 0


def _clock(args: argparse.Namespace) -> SystemClock | ScaledClock:
    return ScaledClock(args.speed) if args.speed != 1.0 else SystemClock()


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from ingest import run_ingest

    if args.worker_id:
        settings.ingest.worker_id = args.worker_id
    serve_process_metrics("ingest", settings.ingest.metrics_port, settings.metrics_host)
    run_ingest(settings, _clock(args), _stop_on_signals())
    return 0


def cmd_diagnose(settings: Settings, args: argparse.Namespace) -> int:
    from diagnostics import DiagnoseLoop, service_targets

    # detection latency and friends for Prometheus (core/metrics.py)
    from diagnostics.leases import default_worker_id
    from diagnostics.remote import mqtt_channel

    if getattr(args, "worker_id", None):
        settings.diagnostics.worker_id = args.worker_id
    # N workers share the fleet through leases (diagnostics/leases.py); each needs its own MQTT session
    settings.diagnostics.worker_id = settings.diagnostics.worker_id or default_worker_id()
    serve_process_metrics("diagnose", settings.diagnostics.metrics_port, settings.metrics_host)
    channel = mqtt_channel(settings, client_id=f"diagnose-{settings.diagnostics.worker_id}")  # remote fixes
    try:
        DiagnoseLoop(lambda: connect(settings.database_url, autocommit=True), settings.diagnostics, _clock(args),
                     commands=channel, targets=service_targets(settings.service)).run(_stop_on_signals())
    finally:
        channel.stop()
    return 0


def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    """Normal models and the fleet's RUL model, learned from stored history on a schedule (diagnostics/trainer.py)."""
    from diagnostics import TrainingJob

    job = TrainingJob(lambda: connect(settings.database_url, autocommit=True), settings.training, _clock(args))
    if args.once:
        with connect(settings.database_url, autocommit=True) as conn:
            print(json.dumps(job.tick(conn), default=str))
        return 0
    job.run(_stop_on_signals())
    return 0


def cmd_dispatch(settings: Settings, args: argparse.Namespace) -> int:
    from dispatch import DispatchLoop

    serve_process_metrics("dispatch", settings.dispatch.metrics_port, settings.metrics_host)
    DispatchLoop(lambda: connect(settings.database_url, autocommit=True), settings.dispatch, _clock(args),
                 spares=settings.spares).run(_stop_on_signals())
    return 0


def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    """Preventive visits -> work orders (planning.service.create_preventive_work_orders), once or every N s, on
    the shared clock (``--speed`` as the other processes)."""
    from planning.planner_loop import PreventivePlanner

    def show(out: dict) -> None:  # type: ignore[type-arg]
        print(json.dumps({"created": len(out["created"]), "due": out.get("due", 0),
                          "already_open": out.get("already_open", 0), "skipped": out.get("skipped"),
                          "replenishment_proposed": out.get("replenishment_proposed", 0)}), flush=True)

    planner = PreventivePlanner(lambda: connect(settings.database_url, autocommit=True), _clock(args),
                                days=args.days, every_s=args.every, on_pass=show, spares=settings.spares,
                                timezone=settings.org.timezone)
    if args.every <= 0:
        with connect(settings.database_url, autocommit=True) as conn:
            planner.tick(conn)
        return 0
    planner.run(_stop_on_signals())
    return 0


def cmd_notify(settings: Settings, args: argparse.Namespace) -> int:
    from api.notify import run_notifier

    run_notifier(settings, SystemClock(), _stop_on_signals())
    return 0


def _cli_actor() -> object:
    """The person at the command line, for the audit log (the OS account: the CLI has no sign-in)."""
    import getpass

    from core.audit import Actor

    return Actor(f"cli:{getpass.getuser()}")


def _audit_cli(settings: Settings, action: str, device_ids: list[str], details: dict[str, object]) -> None:
    """Credentials live in the broker's files, not in a transaction: the row is written right after the change
    (a failure here is an error the operator sees, and the change itself is already in force)."""
    from core import audit

    with connect(settings.database_url) as conn:
        for device_id in device_ids:
            audit.record(conn, _cli_actor(), action, "device", device_id, details)  # type: ignore[arg-type]
        conn.commit()


def cmd_provision(settings: Settings, args: argparse.Namespace) -> int:
    """Print each device's new password once (JSON); the broker keeps only its hash."""
    from core.provision import provision

    creds = provision(settings, args.device_ids)
    _audit_cli(settings, "device.provision", sorted(creds), {})
    print(json.dumps(creds))
    return 0


def cmd_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from core.provision import revoke

    removed = revoke(settings, args.device_ids)
    _audit_cli(settings, "device.revoke", list(args.device_ids), {"credentials_removed": removed})
    print(json.dumps({"revoked": removed}))
    return 0


def cmd_rotate_signing_key(settings: Settings, args: argparse.Namespace) -> int:
    """New stored token-signing key; the old one verifies until its tokens expire (api/keys.py)."""
    from api import keys
    from core import audit

    if settings.api.secret_key is not None:
        print("quietfix rotate-signing-key: QUIETFIX_API__SECRET_KEY is set, so stored keys are not used; rotate "
              "it by moving the old value to QUIETFIX_API__PREVIOUS_SECRET_KEY", file=sys.stderr)
        return 2
    with connect(settings.database_url) as conn:
        kid = keys.rotate(conn)
        audit.record(conn, _cli_actor(), "signing_key.rotate", "signing_key", kid)  # type: ignore[arg-type]
        conn.commit()
    print(json.dumps({"signing_key": kid}))
    return 0


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.keys import SigningKeyError
    from diagnostics import start_watchdog

    try:  # a refused signing key stops here, in one line, before any worker starts
        app = create_app(settings)
    except SigningKeyError as exc:
        print(f"quietfix api: {exc}", file=sys.stderr)
        return 2
    host, port = args.host or settings.api.host, args.port or settings.api.port
    workers = args.workers or settings.api.workers
    # The detection watchdog (issue #19) runs beside the API, not inside the diagnose process it watches: its
    # gauges are on this process's /metrics (with --workers N: the alarm row, log lines and the board only).
    start_watchdog(lambda: connect(settings.database_url, autocommit=True), settings.diagnostics, SystemClock(),
                   threading.Event())
    if workers > 1:
        # Each worker process builds its own app (pool, live feeds, snapshots) from the same environment.
        uvicorn.run("api.app:create_app_from_env", factory=True, workers=workers, host=host, port=port,
                    log_level="warning")
        return 0
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    """Run a fleet for the devices already in the database (credentials are provisioned afresh)."""
    from core.mqtt import BrokerAddress
    from edge_agent import Fleet
    from quietfix.demo import provision_devices
    from quietfix.seed import SeededDevice

    with connect(settings.database_url) as conn:
        rows = conn.execute(Queries(__file__).fleet_devices).fetchall()
    specs = provision_devices(settings, [SeededDevice(*r) for r in rows])
    address = BrokerAddress.from_url(settings.mqtt_url)
    fleet = Fleet(specs, host=address.host, port=address.port, clock=_clock(args).now, seed=args.seed,
                  fault_rate_per_device_hour=args.fault_rate)
    stop = _stop_on_signals()
    fleet.start()
    stop.wait(args.for_seconds)
    fleet.stop()
    print(json.dumps({"devices": len(specs), "faults_injected": len(fleet.ground_truth), **fleet.stats()}))
    return 0


def cmd_seed_files(settings: Settings, args: argparse.Namespace) -> int:
    """Write the demo region's import files (what `quietfix demo` imports) to DIR: an example of every column."""
    from pathlib import Path

    from quietfix.seed import demo_world

    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    world = demo_world(devices=args.devices, technicians=args.technicians, seed=args.seed)
    for name, data in world.files.items():
        (out / name).write_bytes(data)
    print(json.dumps({"dir": str(out), "files": sorted(world.files)}))
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Bulk onboarding from CSV files; the last stdout line is the JSON report, exit 1 on any error."""
    import getpass
    from datetime import UTC, datetime
    from pathlib import Path

    from administration import Actor, csv_import

    folder = Path(args.dir)
    if not folder.is_dir():
        print(json.dumps({"created": {}, "updated": {}, "unchanged": {}, "errors": [
            {"file": str(folder), "line": 0, "column": "", "message": "not a directory"}]}))
        return 1
    files = csv_import.read_dir(folder)
    with connect(settings.database_url) as conn:
        report = csv_import.run_import(conn, files, Actor(f"cli:{getpass.getuser()}", role="admin"),
                                       datetime.now(UTC), dry_run=args.dry_run)
        conn.commit()
    for e in report.errors:
        print(f"{e.file}:{e.line}: {e.column or '-'}: {e.message}")
    print(json.dumps(report.as_json(), ensure_ascii=False))
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quietfix", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create the database if needed and apply migrations").set_defaults(func=cmd_migrate)

    demo = sub.add_parser("demo", help="run the whole system on a simulated fleet")
    demo.add_argument("--for", dest="for_seconds", type=float, default=None, help="stop after N seconds")
    demo.add_argument("--speed", type=float, default=300.0, help="simulated seconds per real second")
    demo.add_argument("--sample-interval", type=float, default=10.0, help="simulated seconds between samples")
    demo.add_argument("--devices", type=int, default=60)
    demo.add_argument("--technicians", type=int, default=12)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--fault-rate", type=float, default=0.05, help="faults per device per simulated hour")
    demo.add_argument("--no-api", action="store_true", help="do not start the web server")
    # quietfix.fieldsim.ROSTERS and DemoOptions.roster, written out: the CLI imports the demo only when it runs
    # (tests/quietfix/test_cli_demo.py keeps them equal).
    demo.add_argument("--roster", choices=("day", "round-the-clock"), default="day",
                      help="technicians' shifts: day (~14 h a day covered) or round-the-clock (four 12-h crews)")
    demo.add_argument("--history-weeks", type=int, default=4,
                      help="weeks of past incidents seeded for the forecast and roster (0: none)")
    demo.add_argument("--log-json", action="store_true",
                      help="JSON logs on stdout instead of the status console (logs otherwise go to a file)")
    demo.set_defaults(func=cmd_demo)

    for name, func, help_text in (("ingest", cmd_ingest, "MQTT → database worker (run N of them)"),
                                  ("diagnose", cmd_diagnose, "detectors → incidents and work orders (run N of them)"),
                                  ("dispatch", cmd_dispatch, "assign technicians to work orders")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--speed", type=float, default=1.0, help="clock speed (must match the fleet's)")
        if name == "ingest":
            p.add_argument("--worker-id", default=None, help="stable MQTT client id of this worker")
        if name == "diagnose":
            p.add_argument("--worker-id", default=None,
                           help="this worker's name in the lease table and its MQTT session (run N of them)")
        p.set_defaults(func=func)

    train = sub.add_parser("train", help="learn normal models and the fleet's RUL model from stored history")
    train.add_argument("--speed", type=float, default=1.0, help="clock speed (must match the fleet's)")
    train.add_argument("--once", action="store_true", help="one look (train what is due), print it and exit")
    train.set_defaults(func=cmd_train)

    prov = sub.add_parser("provision", help="create (or rotate) per-device broker credentials")
    prov.add_argument("device_ids", nargs="+")
    prov.set_defaults(func=cmd_provision)
    rev = sub.add_parser("revoke", help="remove devices' broker credentials (disconnects them)")
    rev.add_argument("device_ids", nargs="+")
    rev.set_defaults(func=cmd_revoke)

    sub.add_parser("rotate-signing-key", help="new API token-signing key; the old one verifies until its tokens "
                   "expire").set_defaults(func=cmd_rotate_signing_key)
    imp = sub.add_parser("import", help="onboard customers, sites, assets, technicians, contracts from CSV files")
    imp.add_argument("dir", help="folder with customers.csv, sites.csv, assets.csv, technicians.csv, contracts.csv")
    imp.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
    imp.set_defaults(func=cmd_import)
    files = sub.add_parser("seed-files", help="write the demo region's CSV files (the ones the demo imports)")
    files.add_argument("dir")
    files.add_argument("--devices", type=int, default=60)
    files.add_argument("--technicians", type=int, default=12)
    files.add_argument("--seed", type=int, default=7)
    files.set_defaults(func=cmd_seed_files)

    plan = sub.add_parser("plan", help="create preventive work orders (inspections, predicted failures)")
    plan.add_argument("--days", type=int, default=7, help="items due within this many days")
    plan.add_argument("--every", type=float, default=0.0, help="repeat every N seconds (0 = run once)")
    plan.add_argument("--speed", type=float, default=1.0, help="clock speed (must match the other processes')")
    plan.set_defaults(func=cmd_plan)

    sub.add_parser("notify", help="send the notification outbox (e-mail, webhooks)").set_defaults(func=cmd_notify)

    api = sub.add_parser("api", help="REST API and web pages")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    api.add_argument("--workers", type=int, default=None, help="API processes (default: QUIETFIX_API__WORKERS, 1)")
    api.set_defaults(func=cmd_api)

    sim = sub.add_parser("simulate", help="simulated fleet for the devices in the database")
    sim.add_argument("--for", dest="for_seconds", type=float, default=None)
    sim.add_argument("--speed", type=float, default=1.0)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--fault-rate", type=float, default=0.05)
    sim.set_defaults(func=cmd_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    from quietfix.startup import explain, preflight

    args = build_parser().parse_args(argv)
    settings: Settings | None = None
    try:
        settings = load_settings()
        setup_logging("DEBUG" if args.verbose else settings.log_level, settings.log_json)
        preflight(args.command, settings, api_port=getattr(args, "port", None),
                  serves_api=not getattr(args, "no_api", False))
        return int(args.func(settings, args))
    except Exception as exc:
        reason = explain(exc, settings)
        if reason is None or args.verbose:
            raise
        # One line, what is wrong and what to do (issue #21); -v shows the traceback.
        print(f"quietfix {args.command}: {reason}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
