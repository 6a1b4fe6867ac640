"""One settings tree for every quietfix process, read from ``QUIETFIX_*`` environment variables.

Nothing reads configuration at import time: entry points call :func:`load_settings` and pass the result down.
Nested groups use a double underscore, e.g. ``QUIETFIX_INGEST__BATCH_MAX_MESSAGES=500``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class IngestSettings(BaseModel):
    # A COPY per message would cap throughput at the broker's message rate; batching amortises the commit.
    batch_max_messages: int = 200
    # Upper bound on how long a reading waits in the worker before its COPY; keeps p99 latency well under 1 s.
    batch_max_wait_s: float = 0.05
    # A device silent for this long is marked offline even if its last-will never arrived (e.g. broker restart).
    offline_after_s: float = 120.0
    # A batch whose newest sample is stamped more than this (seconds) ahead of its receive time has a clock
    # fault: its readings are stored apart (telemetry_clock_faults) and a sensor-health finding goes on the
    # timeline; they never reach the detectors or the latest values (docs/contracts.md, "Device clocks").
    clock_skew_max_s: float = 300.0
    # N workers share the load through `$share/<group>/...`. Mosquitto 2.0 does not restore shared
    # subscriptions after a broker restart and drops what it queued for them; the edge agents resend it, because
    # they keep every batch until ingest's end-to-end ack (qf/v1/{id}/ack). "" = one exclusive persistent
    # subscription, which the broker itself keeps across restarts. See docs/contracts.md, "Guarantees".
    shared_group: str = "ingest"
    # QoS of the end-to-end acks to devices (qf/v1/{id}/ack). 0: written in one socket write per batch with no
    # PUBACK to track (half the MQTT packets per small message); a lost ack only makes the device resend, which
    # is stored zero times and acknowledged again (docs/contracts.md). 1: the broker also queues acks for a
    # disconnected device, at one tracked publish per device per batch.
    device_ack_qos: Literal[0, 1] = 0
    # How long the broker keeps a disconnected worker's session and queue (a day covers a night's outage).
    session_expiry_s: int = 24 * 3600
    # Stable client id: the broker keeps this persistent session (and its queued messages) across restarts.
    worker_id: str = "ingest-0"
    # `quietfix ingest` serves Prometheus metrics on 127.0.0.1:<port> (None: not served). Several workers on one
    # host need one port each (the second on the same port logs a warning and runs without metrics).
    metrics_port: int | None = 9107


class StorageSettings(BaseModel):
    # auto: TimescaleDB when the server has it installed *and* preloaded, else plain partitioning (with a note
    # saying why); timescale: fail `quietfix migrate` clearly when it cannot be used; plain: never try it.
    # Only the first migrate of a database decides; the choice is recorded in quietfix_meta.
    backend: Literal["auto", "timescale", "plain"] = "auto"
    # Rollup passes run this often (clock time), each within rollup_max_readings: small frequent passes keep an
    # ingest worker's maintenance short (one 60 s pass of a 150k readings/s fleet stalled a worker ~10 s).
    rollup_every_s: float = 5.0
    # Queued readings one rollup pass takes on (whole devices, at least one): ~0.3-0.5 s of PostgreSQL CPU here.
    # 12 passes a minute cover 12M readings/min (200k readings/s); beyond that rollups lag, ingest does not.
    rollup_max_readings: int = 1_000_000
    # Unused since migration 0110: the refresh follows the (device, range)s writers queue, at any lateness. Kept
    # so existing configuration keeps loading.
    rollup_lateness_s: float = 3600.0
    # Raw readings are kept this long; rollups (1 min / 1 h) outlive them for trends and forecasting.
    raw_retention_days: int = 90
    # TimescaleDB only: chunks older than this are compressed (~10x smaller, still queryable).
    compress_after_days: int = 7


class DiagnosticsSettings(BaseModel):
    # Pause between diagnose passes; detection latency is this plus up to two passes. 0.25 s keeps the wait well
    # under the 2 s latency target; an idle pass is a few small queries, so polling this often costs little.
    poll_interval_s: float = 0.25
    # Signals silent for longer are not judged by thresholds (the silence detector owns them). Generous, because
    # a device batches readings (and a simulated clock at 300x turns one real second of lag into five minutes).
    stale_after_s: float = 3600.0
    # Detector state is checkpointed to the database this often (wall seconds) and on shutdown; a crash loses at
    # most this much detector history, which the restarted loop replays from telemetry.
    checkpoint_every_s: float = 60.0
    # Remaining useful life is re-estimated this often (clock seconds): wear moves over hours, and each pass
    # writes one row per asset.
    rul_every_s: float = 600.0
    # RUL rows older than this (clock seconds) are pruned; a month shows how a prediction converged.
    rul_retention_s: float = 30 * 86400.0
    # Batches diagnose evaluates per pass, in ingest commit order: a backlog is worked off over several passes.
    max_batches_per_pass: int = 20_000
    # Detection watchdog (diagnostics/watchdog.py): a device whose committed data has waited longer than this
    # (wall seconds) for diagnose is stalled; any stalled device raises the `detection_stalled` alarm, which
    # clears once diagnose has caught up.
    stall_alarm_s: float = 300.0
    # How often the watchdog looks (wall seconds).
    watchdog_every_s: float = 5.0
    # `quietfix diagnose` serves Prometheus metrics on 127.0.0.1:<port> (None: not served).
    metrics_port: int | None = 9108
    # Decision window of a remote fix (clock seconds): a command the device did not accept, or a condition not
    # clear this long after the command, gets its visit at once; verifying a fix that cleared goes on beside
    # it (docs/kpis.md, "Remote fix and the 2-hour promise"). 10 min: a reset acts in seconds, and the on-site
    # promise (2 h from incident open) cannot spare more before dispatch starts.
    remote_decision_s: float = 600.0
    # A minor (severity-1) fault with no remote fix is watched this long (clock seconds) before its visit, at
    # most what leaves the on-site target minus the travel reserve (LoopPolicy.travel_reserve_s).
    watch_s: float = 600.0
    # Scale-out (diagnostics/leases.py): this worker's name in the lease table (None: host-pid-random, unique per
    # process). Give each replica a stable one to keep its MQTT session (remote-fix results) across restarts.
    worker_id: str | None = None
    # A worker that has not renewed its leases for this long (wall seconds) is dead: the others take its devices
    # over (resuming from the checkpoints). Devices move within about this plus one pass.
    lease_ttl_s: float = 10.0


class TrainingSettings(BaseModel):
    """`quietfix train` (diagnostics/trainer.py): normal models and the fleet's RUL model, learned in the product."""

    # Wall seconds between looks at whether a model is due (a look is a few small queries).
    poll_interval_s: float = 60.0
    # A model older than this (clock seconds) is retrained from the latest history; a week follows seasons
    # and replaced parts without churning the detectors (a new version restarts every monitor of its type).
    retrain_after_s: float = 7 * 86400.0
    # Healthy history a normal model is trained on: the last this-many clock seconds.
    window_s: float = 7 * 86400.0
    # Training waits until a type's healthy history spans this long: a model that never saw the whole daily
    # load cycle calls the unseen part of the day abnormal.
    min_span_s: float = 20 * 3600.0
    # Samples within this long before an incident opened are not healthy (the fault was already developing):
    # 8 h covers the slowest wear the fleet shows before an alarm.
    exclude_before_s: float = 8 * 3600.0
    # ...nor those until this long after it closed (a repaired asset settles, its detectors re-verify it).
    exclude_after_s: float = 3600.0
    # Samples per equipment type fed to one fit (evenly thinned per device above this): bounded memory and time.
    max_samples: int = 60_000
    # Completed repairs of wear failures needed before a learned RUL model replaces the trend for a type.
    rul_min_failures: int = 8


class DispatchSettings(BaseModel):
    poll_interval_s: float = 1.0
    # `quietfix dispatch` serves Prometheus metrics (plan age, SLA at risk) on 127.0.0.1:<port> (None: not served).
    metrics_port: int | None = 9109
    # Straight-line distance is shorter than any road; 1.3 is the usual urban detour factor.
    road_factor: float = 1.3
    speed_kmh: float = 40.0
    onsite_deadline_s: float = 2 * 3600.0
    response_deadline_s: float = 15 * 60.0
    repair_deadline_s: float = 24 * 3600.0
    # Live re-planning (docs/dispatch.md, "Live re-planning"). "optimiser" plans every technician's whole route
    # with OR-Tools; "nearest" is the foundation's nearest-qualified-free-technician rule, kept as a fallback.
    planner: Literal["optimiser", "nearest"] = "optimiser"
    # Wall-clock budget of one re-plan (model build + search); 5 s covers 50 technicians x 300 jobs.
    replan_budget_s: float = 5.0
    # Clock seconds between two re-plans at least, however often something changes (bursts are batched).
    min_replan_interval_s: float = 30.0
    # Clock seconds after which active work is re-planned even if nothing changed: time itself moves
    # deadlines and ETAs.
    max_replan_interval_s: float = 600.0
    # A customer is told again only when the technician changes or the ETA moves by more than this.
    eta_notice_threshold_s: float = 15 * 60.0
    # Shift and break times of day of a technician without a zone of their own are in this time zone (each
    # technician's row has one: timezone, migration 0800), and so are the travel model's rush hours.
    timezone: str = "UTC"
    # OR-Tools holds the GIL while it searches; a separate process keeps the other loops of `quietfix demo`
    # (ingest, API) running during a re-plan.
    solve_in_subprocess: bool = True
    # Old plans are kept this long (clock seconds) for audit, then pruned.
    plan_retention_s: float = 2 * 24 * 3600.0
    # Driving times: "straight" (haversine x road_factor at speed_kmh, rush hours slower; needs nothing) or "osrm"
    # (real roads from an OSRM server's table service at osrm_url, e.g. http://osrm:5000). With "osrm", /readyz
    # reports the server's health, and a re-plan while it is down uses the straight-line estimate (logged).
    travel_provider: Literal["straight", "osrm"] = "straight"
    # The OSRM server's base URL (its /table/v1/driving service); required with travel_provider "osrm".
    osrm_url: str | None = None
    # A table for 50 technicians x 300 jobs takes about a second on a city extract; 10 s flags a sick server.
    osrm_timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _osrm_needs_url(self) -> DispatchSettings:
        if self.travel_provider == "osrm" and not (self.osrm_url or "").strip():
            raise ValueError("dispatch.osrm_url: required when dispatch.travel_provider is 'osrm' "
                             "(QUIETFIX_DISPATCH__OSRM_URL, e.g. http://osrm:5000)")
        return self

    # From this many technicians on duty (and more than one region) a re-plan solves one model per region,
    # each with its share of replan_budget_s (dispatch/regional.py); 0 = always one model. One model of 50
    # technicians x 300 jobs already fills a 5 s budget (bench.dispatch_day --scale-only); 500 x 3,000 by
    # region: bench.dispatch_regional.
    regional_min_technicians: int = 200
    # The objective's exchange rate between waiting and driving: cost per second until a job's technician is on
    # site (times its tier weight and priority), in seconds of driving. Higher sends a free technician sooner
    # and drives more; 0 saves driving by queueing jobs for whoever finishes nearby, inside the targets. None:
    # the product's default (dispatch.models.Params), measured in docs/dispatch.md ("What the kilometres buy").
    time_to_site_per_s: float | None = Field(default=None, ge=0)


class SparesSettings(BaseModel):
    """Spares in the live flow (docs/spares.md, "Live flow"): courier lane, reach of the out-of-stock alert and the
    replenishment horizon."""

    # Courier from any depot or the warehouse to a site: about an hour to pick and pack, same-day orders taken
    # until 15:00 UTC, otherwise delivered the next morning at 10:00; driving as fast as a van.
    courier_handling_s: float = 3600.0
    courier_same_day_cutoff_s: float = 15 * 3600.0
    courier_next_day_delivery_s: float = 10 * 3600.0
    courier_speed_factor: float = 1.0
    # Straight-line estimate for courier legs, the same urban detour factor and speed as dispatch's.
    road_factor: float = 1.3
    speed_kmh: float = 40.0
    # A location farther than this from the site is out of reach for the out-of-stock alert: a same-day courier
    # over 150 km of road is already past a working afternoon.
    reach_km: float = 150.0
    # Replenishment: 60 days of consumption history (two EWMA half-lives of 14 days and then some), depots
    # restocked from the warehouse in 2 days and reviewed daily, vans refilled every night from their depot.
    history_days: int = 60
    depot_lead_time_days: float = 2.0
    review_days: float = 1.0
    # The review's time of day in the organisation's zone (HH:MM): once a day at this time, not review_days after
    # the last one, so the vans' refill is proposed in the evening and couriered overnight (before the same-day
    # cut-off) whenever the process started. None: every review_days from the last review. `quietfix demo` sets
    # 21:00 when its stores clerk acts on the orders.
    review_time: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    fill_target: float = 0.95
    # Vans carry a part only when it is likely needed before the next nightly restock (cycle service level).
    van_service_level: float = 0.8
    # Levels as bench.spares_month measures quietfix: ONE aggregate fill target per location, spent on the parts
    # that serve the most demand per unit of stock value (spares.replenishment.cost_weighted_base_stock), each
    # location topped up to its levels at every daily review. False: the per-SKU targets above (fill_target,
    # van_service_level), order only at or below the reorder point.
    cost_weighted: bool = True
    # Aggregate fill target of a depot or the warehouse over lead time + review (cost_weighted levels). 0.995
    # with the depot-to-depot transfers of excess proposed before purchases (bench.spares_tune, seeds 101-130).
    depot_system_fill: float = Field(default=0.995, gt=0, lt=1)
    # Aggregate fill target of a van over the day until its next refill (cost_weighted levels).
    van_system_fill: float = Field(default=0.95, gt=0, lt=1)
    # Predicted failures (diagnostics' RUL forecasts) are loaded on the van of the technician whose territory holds
    # the asset when due within this many days (cost_weighted levels; bench.spares_month's predict_horizon_days):
    # long enough that the van carries the part on the days around the estimate, short enough not to haul it
    # for weeks.
    van_predict_horizon_days: float = Field(default=4.0, ge=0)
    # Probability that the parts the knowledge base lists for a predicted fault mode are the ones the repair
    # needs. 1.0 trusts the knowledge base; set it to the measured precision of part predictions (the bench states
    # 0.65 for 10 % wrong part, 10 % wrong week and one false alarm per four signals).
    predicted_part_confidence: float = Field(default=1.0, ge=0, le=1)
    # Vans' levels by one price instead of a fill target (spares.stocking.marginal_base_stock): a part rides in
    # the van while P(needed before the next refill) >= van_lambda x its unit cost (7e-5: a 100-euro part at
    # 0.7 %, a 1000-euro one at 7 %), the value bench.spares_month chose on seeds 101-105. None: van_system_fill.
    van_lambda: float | None = Field(default=7e-5, gt=0)


class NotifySettings(BaseModel):
    """The notification sender (``QUIETFIX_NOTIFY__*``): SMTP server, timeouts, retry policy."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "quietfix <service@quietfix.invalid>"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    # An SMTP or webhook peer that does not answer in 10 s is treated as down and retried later.
    timeout_s: float = 10.0
    # Outbox rows are few per minute even in a busy region; a 2 s poll keeps "customer told" well under a minute.
    poll_interval_s: float = 2.0
    # Rows claimed per pass; each is sent in its own transaction, so this only bounds one pass's length.
    batch: int = 50
    # With the back-off below, 8 attempts span about 4 hours; after that a human should look (last_error says why).
    max_attempts: int = 8


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    # Signs API tokens. Unset: the first API process generates a random key and keeps it in the database
    # (table signing_keys), shared by every process. Set: at least 32 bytes, never a value ever published in the
    # repository, or `quietfix api` refuses to start (api/keys.py).
    secret_key: str | None = None
    # After changing secret_key, set this to the old value: tokens it signed stay valid until they expire
    # (12 h after this process started at the latest); it never signs.
    previous_secret_key: str | None = None
    # Largest request body the API reads (413 before reading beyond it, api/limits.py); ample for every JSON
    # form. Photo uploads (an escalation: up to 10 photos of 2 MB, base64; a customer's report: one of 5 MB) and
    # the CSV import (up to 5 files of 20 MiB, streamed, never buffered whole) have their own limits.
    max_body_bytes: int = 2 * 1024 * 1024
    max_photo_body_bytes: int = 28 * 1024 * 1024
    max_import_body_bytes: int = 101 * 1024 * 1024
    # Deepest nesting of JSON objects/arrays accepted in a request body; the API's own schemas are 3-4 deep.
    max_json_depth: int = 32
    # Map tiles for the route board, e.g. "https://tile.openstreetmap.org/{z}/{x}/{y}.png"; empty = no tiles.
    tile_url: str = ""
    # API processes for `quietfix api` (uvicorn workers). 1 is right for a laptop and the demo; each process holds
    # its own pool (10 connections), live feeds and board snapshots, so N processes cost N x 10 connections.
    # bench/api_load.py measures the difference (README); state shared between processes lives in PostgreSQL
    # (revoked tokens, signing keys), except the login and write rate limiters, which are per process (N x the
    # attempts per window).
    workers: int = 1


class SecuritySettings(BaseModel):
    # Login attempts allowed per (username, client IP) in the sliding window: a person mistypes a few times,
    # a password-guessing script needs thousands; 10 also caps the argon2 CPU one client can make us burn.
    login_attempts: int = 10
    login_window_s: float = 60.0
    # Remote commands expire: a device must not act on a command issued long ago (the edge agent drops them).
    command_ttl_default_s: int = 300
    command_ttl_max_s: int = 3600
    # Each API process re-reads the revoked-token list this often: a logout handled by another process takes
    # effect within this delay, in the process that handled it immediately.
    revocation_refresh_s: float = 5.0
    # Writes (POST/PUT/PATCH/DELETE) allowed per signed-in user in the sliding window: a dispatcher at work
    # makes a few a minute, a runaway script thousands. Per API process, like the login limit.
    write_requests: int = 120
    write_window_s: float = 60.0


class ServiceSettings(BaseModel):
    """The organisation's service targets (issue #14): every corrective job carries them beside its contract
    deadlines, the optimiser aims at them, a contract's ``target_*`` columns may override them."""

    response_min: int = Field(default=15, gt=0)  # the customer has a response (plan or ETA) within 15 min
    onsite_min: int = Field(default=120, gt=0)  # a technician on site within 2 h of the incident opening
    repair_h: int = Field(default=24, gt=0)  # verified fixed within 24 h


class OrgSettings(BaseModel):
    """The service organisation itself (issue #15 item 4)."""

    # The organisation's own zone: "today" on the KPIs, the board's strip and the planning page is its day, and
    # the roster's operational day starts at 06:00 there. Customers', sites' and technicians' times are each in
    # their own zone (their rows' timezone); `quietfix demo` runs a Shanghai region and sets Asia/Shanghai
    # unless this is set.
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (like Asia/Shanghai, Europe/Amsterdam)") from None
        return v


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUIETFIX_", env_nested_delimiter="__", extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/quietfix"
    # The project's own broker (deploy/mosquitto/quietfix.conf), not the machine's default one on 1883.
    mqtt_url: str = "mqtt://127.0.0.1:18830"
    # Credentials of server-side processes; devices each have their own (see `quietfix provision`).
    mqtt_username: str = "qf-service"
    mqtt_password: str = "qf-service-dev"
    # Where the local broker keeps its password file, ACL and pid (rendered by scripts/setup.sh). Per user,
    # not per checkout: every clone on a machine talks to the same local broker on the same port.
    broker_dir: Path = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "quietfix" / "mosquitto"
    log_level: str = "INFO"
    log_json: bool = True
    # Interface the Prometheus listeners of ingest, diagnose and dispatch bind (each has its own port setting);
    # 0.0.0.0 in a container, loopback on a shared host (the metrics are unauthenticated).
    metrics_host: str = "127.0.0.1"
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    diagnostics: DiagnosticsSettings = Field(default_factory=DiagnosticsSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    # CA bundle that signs the broker's TLS certificate, for mqtts:// URLs (None: the system's trust store).
    mqtt_ca_file: Path | None = None
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    spares: SparesSettings = Field(default_factory=SparesSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    org: OrgSettings = Field(default_factory=OrgSettings)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; keyword overrides win (used by tests and the demo)."""
    return Settings(**overrides)  # type: ignore[arg-type]
