"""`quietfix demo`: the whole loop in one process, on a simulated region and fleet, on local defaults.

Everything runs as threads sharing one scaled clock: the fleet publishes over MQTT to the real broker, ingest
stores it in the real database, diagnostics opens incidents, dispatch assigns technicians, the field simulator
plays the technicians, and the API serves the page. Each component is the same code its own subcommand runs.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.rows import dict_row

from api.notify import Notifier
from core.clock import ScaledClock
from core.contracts import topic as device_topic
from core.db import connect, ensure_database
from core.migrate import migrate
from core.mqtt import BrokerAddress
from core.provision import provision
from core.settings import Settings
from core.sql import Queries
from diagnostics import DetectionWatchdog, DiagnoseLoop, TrainingJob, service_targets
from diagnostics.remote import mqtt_channel
from dispatch import DispatchLoop
from edge_agent import DeviceSpec, Fleet
from ingest import start_ingest
from kpis import Promise, since
from planning.planner_loop import PreventivePlanner
from quietfix import seed as seeding
from quietfix.fieldsim import FieldModel, FieldSimulator, apply_roster, fleet_truth
from quietfix.mailsink import SmtpSink
from quietfix.seed_history import seed_history
from quietfix.seed_telemetry_history import seed_telemetry
from quietfix.storesim import StoresClerk

log = logging.getLogger(__name__)
# The planner looks a week ahead; once a simulated hour is often enough for inspections (due by the day) and for
# predicted failures (hours to days of lead), and cheap: one locked pass over contracts and predictions.
PLAN_EVERY_CLOCK_S = 3600.0
Q = Queries(__file__)

# After the fleet stops, give ingest this long to commit what is still in flight before counting.
DRAIN_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class DemoOptions:
    seconds: float | None
    # 300x: one real minute is five simulated hours, long enough for wear faults to develop and be fixed.
    speed: float = 300.0
    # Sampling every 10 simulated seconds keeps the fleet at ~18k readings/s at 300x on a 2-core machine.
    sample_interval_s: float = 10.0
    devices: int = 60
    technicians: int = 12
    # The technicians' shifts (quietfix.fieldsim.apply_roster): "day" (about 14-16 h a day covered) or
    # "round-the-clock" (four crews on 12-hour shifts, half the technicians always on).
    roster: str = "day"
    seed: int = 7
    fault_rate_per_device_hour: float = 0.05
    api: bool = True
    # The simulated field: varying drives and repairs, failed first visits, shifts with breaks (quietfix/fieldsim.py).
    field_model: FieldModel = field(default_factory=FieldModel)
    # Called with the run's clock after the field, dispatch and diagnose loops stopped but while the API still
    # serves: bench.live_day reads the product's own KPIs there, on data that no longer moves.
    before_api_stop: Callable[[ScaledClock], None] | None = None
    # Device ids are broker usernames: a prefix keeps a benchmark's fleet apart from a demo on the same broker.
    id_prefix: str = ""
    # Weeks of past incidents seeded before the run, and inspection rounds spread over each contract's interval
    # (quietfix/seed_history.py), so /planning has a forecast and a roster, and inspections come due as in a
    # region with a past. 0 (the default, for benchmarks reading the KPIs) seeds none; `quietfix demo` asks for four.
    history_weeks: int = 0
    # Run the preventive planner (`quietfix plan`) as a thread on the demo's clock. Off by default so a benchmark
    # built on the demo (bench.live_day) keeps measuring the same world; `quietfix demo` turns it on.
    preventive_planner: bool = False
    # Seed two days of past telemetry (with a few repaired wear failures, quietfix/seed_telemetry_history.py) so
    # `quietfix train` learns the normal models and the fleet's RUL model in the first seconds. Off by default
    # (bench.live_day keeps measuring the same world); `quietfix demo` turns it on.
    telemetry_history: bool = False
    # Replenishment acted on: a simulated stores clerk approves the daily review's orders and books them in when
    # they arrive (quietfix/storesim.py), so vans are refilled; the review runs in the preventive planner, or in
    # the clerk's thread when the planner is off. Off by default (bench.live_day keeps measuring the same world
    # unless asked: --replenishment); `quietfix demo` turns it on.
    replenishment: bool = False


def batch_interval_s(options: DemoOptions) -> float:
    """Clock seconds one fleet message spans: one message per device per real second or so, whatever the speed."""
    return max(options.sample_interval_s, options.speed)


def offline_after_s(configured: float, options: DemoOptions) -> float:
    """Ingest's staleness limit for the demo: ten of the fleet's batch intervals (ten real seconds). At 300x a batch
    spans 300 clock seconds, longer than the default 120 s limit, so every device went "offline (stale)" between
    two of its own batches and back (a log line and a timeline event per device per maintenance pass). Three
    intervals (3 real seconds) still let a loaded 2-core machine flap each device a few times per run."""
    return max(configured, 10 * batch_interval_s(options))


def simulated_minute_s(configured: float, options: DemoOptions) -> float:
    """A loop's poll (wall seconds) for the demo: the configured one, but no more than one simulated minute, and
    no less than 0.1 s (a 2-core machine runs every loop of the demo)."""
    return max(0.1, min(configured, 60.0 / options.speed))


def provision_devices(settings: Settings, devices: list[seeding.SeededDevice]) -> list[DeviceSpec]:
    """Fresh per-device credentials (username == device id), confirmed against the broker before use."""
    passwords = provision(settings, [d.device_id for d in devices])
    return [DeviceSpec(d.device_id, d.equipment_type, d.device_id, passwords[d.device_id]) for d in devices]


def forget_retained_status(settings: Settings, specs: list[DeviceSpec]) -> int:
    """Clear each device's retained ``status`` (an empty retained message, under its own credentials). Why: a
    scratch fleet (``DemoOptions.id_prefix``, e.g. ``bench.live_day``) lives in its own database, but the broker
    is shared; its retained statuses would reach the next demo's ingest, which knows none of those devices and
    dead-letters each of them ("unknown device", 188 of them after three benchmark runs). Returns how many."""
    address = BrokerAddress.from_url(settings.mqtt_url)
    cleared = 0
    for spec in specs:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{spec.device_id}-retire", protocol=mqtt.MQTTv5)
        client.username_pw_set(spec.username, spec.password)
        if address.tls:
            client.tls_set(ca_certs=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None)
        try:
            client.connect(address.host, address.port)
            client.loop_start()
            info = client.publish(device_topic(spec.device_id, "status"), b"", qos=1, retain=True)
            info.wait_for_publish(5)
            cleared += info.is_published()
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("could not clear a retained status", extra={"device_id": spec.device_id, "error": str(exc)})
        finally:
            client.disconnect()
            client.loop_stop()
    if cleared < len(specs):
        log.warning("retained statuses left on the broker", extra={"left": len(specs) - cleared})
    return cleared


def counts(settings: Settings) -> dict[str, int]:
    with connect(settings.database_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(Q.demo_counts).fetchone()
    assert row is not None
    return {k: int(v) for k, v in row.items()}


@dataclass(frozen=True)
class DemoRunning:
    """What a watcher of the running demo (quietfix/console.py) reads: simulated time and ingest's running total."""

    clock: ScaledClock
    readings_stored: Callable[[], int]
    storage: str


def run_demo(settings: Settings, options: DemoOptions, stop: threading.Event | None = None,
             on_running: Callable[[DemoRunning], None] | None = None) -> dict[str, Any]:
    stop = stop or threading.Event()
    # The demo's region is Shanghai (quietfix/seed.py): its day, and its rush hours, are Shanghai's unless the
    # operator chose otherwise.
    if "timezone" not in settings.org.model_fields_set:
        settings.org.timezone = seeding.TIMEZONE
    if "timezone" not in settings.dispatch.model_fields_set:
        settings.dispatch.timezone = seeding.TIMEZONE
    ensure_database(settings.database_url)
    report = migrate(settings.database_url, backend=settings.storage.backend)
    with connect(settings.database_url) as conn:
        seeding.reset(conn)
        devices = seeding.seed(conn, devices=options.devices, technicians=options.technicians, seed=options.seed,
                                spares=True, id_prefix=options.id_prefix)
        clock = ScaledClock(options.speed)
        started = clock.now()
        apply_roster(conn, clock.now(), settings.dispatch.timezone, options.roster)
        seed_history(conn, clock.now(), weeks=options.history_weeks, timezone=settings.dispatch.timezone,
                     mean_per_hour=options.devices * options.fault_rate_per_device_hour, seed=options.seed)
        telemetry = seed_telemetry(conn, [(d.device_id, d.equipment_type) for d in devices], clock.now(),
                                   seed=options.seed) if options.telemetry_history else None
        conn.commit()
    specs = provision_devices(settings, devices)
    db = lambda: connect(settings.database_url, autocommit=True)

    # The demo's region is new each run: its ingest session must not inherit a previous run's queue.
    # (A shared group also hands messages to offline members' sessions, so the group is the run's own too.)
    settings.ingest.worker_id = settings.ingest.shared_group = f"demo-{secrets.token_hex(4)}"
    settings.ingest.session_expiry_s = 60
    settings.ingest.offline_after_s = offline_after_s(settings.ingest.offline_after_s, options)
    ingest = start_ingest(settings, clock)
    threads: list[threading.Thread] = []
    address = BrokerAddress.from_url(settings.mqtt_url)
    # One message per device per real second or so, whatever the speed: batches span `speed` clock seconds.
    fleet = Fleet(specs, host=address.host, port=address.port, clock=clock.now, seed=options.seed,
                  sample_interval_s=options.sample_interval_s,
                  batch_interval_s=batch_interval_s(options),
                  fault_rate_per_device_hour=options.fault_rate_per_device_hour)
    # The field (standing in for the technicians' phones) and dispatch look about once a simulated minute: at 240x
    # their production polls (0.5 s, 1 s) were 2 and 4 simulated minutes between a work order and its
    # assignment and departure, a delay the real system (1x) does not have, taken out of the 2-h promise.
    field_sim = FieldSimulator(db, clock, on_repaired=fleet.repair, model=options.field_model,
                               timezone=settings.dispatch.timezone, poll_s=simulated_minute_s(0.5, options),
                               true_fault=fleet_truth(fleet))  # visits report the true fault mode (#16 item 6)
    dispatch_settings = settings.dispatch.model_copy(
        update={"poll_interval_s": simulated_minute_s(settings.dispatch.poll_interval_s, options)})
    commands = mqtt_channel(settings, client_id=f"diagnose-demo-{os.getpid()}")  # remote fixes reach the fleet
    # The outbox sender, polling often enough that "customer told" is measured in simulated minutes, not tens. The
    # customers' addresses are example.com: their e-mail goes over real SMTP to a local sink (quietfix/mailsink.py).
    mail_sink = SmtpSink().start()
    notifier = Notifier(settings.notify.model_copy(update={
        "poll_interval_s": 0.2, "smtp_host": mail_sink.host, "smtp_port": mail_sink.port, "smtp_starttls": False,
        "smtp_username": None, "smtp_password": None}), clock)
    # The preventive planner (`quietfix plan`) on the demo's clock, once a simulated hour, with the daily replenishment review.
    if options.replenishment and settings.spares.review_time is None:
        settings.spares.review_time = "21:00"  # refills proposed in the evening, couriered before the cut-off
    planner = PreventivePlanner(db, clock, every_s=max(1.0, PLAN_EVERY_CLOCK_S / options.speed), spares=settings.spares,
                                timezone=settings.org.timezone)
    targets = service_targets(settings.service)
    # `quietfix train`: looks every 2 wall s (ten simulated minutes at 300x) whether a model is due.
    trainer = TrainingJob(db, settings.training.model_copy(update={"poll_interval_s": 2.0}), clock)
    for name, target in (("diagnose", DiagnoseLoop(db, settings.diagnostics, clock, commands=commands,
                                                   targets=targets).run),
                         ("watchdog", DetectionWatchdog(db, settings.diagnostics, clock).run),
                         ("dispatch", DispatchLoop(db, dispatch_settings, clock, spares=settings.spares).run),
                         ("field", field_sim.run),
                         ("notify", lambda stop: notifier.run(db, stop)),
                         ("train", trainer.run),
                         *((("plan", planner.run),)
                           if options.preventive_planner else ()),
                         *((("stores", StoresClerk(db, clock, every_s=simulated_minute_s(60.0, options), review=(
                             None if options.preventive_planner else settings.spares),
                                                      timezone=settings.org.timezone).run),)
                           if options.replenishment else ())):
        thread = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
        thread.start()
        threads.append(thread)
    server: uvicorn.Server | None = None
    if options.api:
        from api.app import create_app

        app = create_app(settings)
        app.state.clock = clock  # countdowns and manual intake on the demo's simulated time
        server = uvicorn.Server(uvicorn.Config(app, host=settings.api.host, port=settings.api.port,
                                               log_level="warning"))
        threads.append(threading.Thread(target=server.run, name="api", daemon=True))
        threads[-1].start()
        log.info("api listening", extra={"url": f"http://{settings.api.host}:{settings.api.port}/",
                                         "login": "dispatcher", "password": seeding.DEMO_PASSWORD})
    fleet.start()
    if on_running is not None:
        on_running(DemoRunning(clock, lambda: ingest.worker.stats.readings, report.storage))
    log.info("demo running", extra={"devices": len(specs), "speed": options.speed, "storage": report.storage})
    try:
        stop.wait(options.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while ingest.worker.backlog and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2 * settings.diagnostics.poll_interval_s)  # one more detection/dispatch pass on the tail
        stop.set()
        for thread in threads:
            if thread.name != "api":
                thread.join(10)
        if options.before_api_stop is not None:
            options.before_api_stop(clock)
        if server is not None:
            server.should_exit = True
        for thread in threads:
            thread.join(10)
        ingest.stop()
        commands.stop()
        mail_sink.stop()
        if options.id_prefix:
            log.info("scratch fleet's retained statuses cleared",
                     extra={"devices": forget_retained_status(settings, specs)})
    result: dict[str, Any] = counts(settings)
    result["faults_injected"] = len(fleet.ground_truth)
    result["failed_visits"] = field_sim.failed_visits
    result["storage"] = report.storage
    result["simulated_hours"] = round(options.speed * (options.seconds or 0) / 3600, 2)
    result["emails_received"] = mail_sink.received
    result["normal_models_trained"] = trainer.normal_trained
    result["rul_models_trained"] = trainer.rul_trained
    # Seeded telemetry is in readings_stored, incidents and work_orders too: reported apart so it is not read as live.
    result["history_readings_seeded"] = telemetry.readings if telemetry else 0
    result["history_failures_seeded"] = telemetry.failures if telemetry else 0
    result["kpis"] = run_kpis(settings, started, clock.now())
    ordered = ("devices", "readings_stored", "faults_injected", "incidents", "work_orders", "failed_visits", "assigned",
               "notifications", "notifications_sent", "emails_received", "preventive_work_orders",
               "replenishment_proposed", "dead_letters", "storage", "simulated_hours", "history_incidents", "normal_models_trained", "rul_models_trained",
               "history_readings_seeded", "history_failures_seeded", "kpis")
    return {k: result[k] for k in ordered}


def run_kpis(settings: Settings, start: float, end: float) -> dict[str, Any]:
    """The run's service KPIs as the KPI page computes them (kpis package), over the run's days."""
    tz = ZoneInfo(settings.org.timezone)
    with connect(settings.database_url) as conn:
        summary = since(conn, start=datetime.fromtimestamp(start, tz), now=datetime.fromtimestamp(end, tz),
                        promise=Promise.of(settings.service), tz=tz).summary
    keys = ("response_15min_rate", "onsite_2h_rate", "repair_24h_rate", "first_visit_fix_rate", "remote_fix_rate",
            "p90_time_to_site_min")
    return {k: None if summary[k] is None else round(summary[k], 3) for k in keys}


def print_result(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)
