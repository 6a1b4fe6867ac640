"""The demo's terminal: what a person reads while `quietfix demo` runs (issue #21 item 1).

A newcomer needs to know where to look (URL, users, password, log file), whether things are going well (one
status line: simulated time, devices online, readings/s, open incidents, technicians, on-site ratio,
notifications) and what just happened (one short line per important event). Logs go to a file so they do not
drown this; ``--log-json`` keeps the old behaviour (JSON logs on stdout, nothing else). The demo's JSON summary
stays the last stdout line either way.

`rich` draws the status line in place on a terminal. When stdout is not a terminal (CI, a pipe, a file) there are
no escape codes and the status line is printed only every ``PLAIN_STATUS_EVERY_S`` seconds.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from psycopg.rows import dict_row
from rich.console import Console
from rich.live import Live
from rich.text import Text

from core.db import connect
from core.logs import JsonFormatter
from core.settings import Settings
from core.sql import Queries
from kpis import Promise, duty_now, since

Q = Queries(__file__)

# A pipe or a file gets a status line this often (a terminal redraws it in place every second).
PLAIN_STATUS_EVERY_S = 30.0
POLL_S = 1.0
UTC_ZONE = ZoneInfo("UTC")
DEFAULT_PROMISE = Promise()
# Events of one kind beyond this many per poll are summed up in one line ("… and 7 more"), so a burst of
# assignments after a re-plan does not flood the terminal.
MAX_EVENTS_PER_KIND = 3


def log_dir() -> Path:
    """Per user, beside the broker's state (core/settings.py ``broker_dir``): $XDG_STATE_HOME/quietfix/log."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "quietfix" / "log"


def log_to_file(level: str, directory: Path | None = None) -> Path:
    """Send every log record to a new JSON-lines file; only errors still reach the terminal (one line each)."""
    directory = directory or log_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"demo-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.log"
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(JsonFormatter())
    to_terminal = logging.StreamHandler()
    to_terminal.setLevel(logging.ERROR)
    to_terminal.setFormatter(logging.Formatter(f"error: %(name)s: %(message)s (details in {path})"))
    root = logging.getLogger()
    root.handlers[:] = [to_file, to_terminal]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    return path


@dataclass(frozen=True)
class Status:
    sim_time: float
    devices_online: int
    devices: int
    readings_per_s: float
    open_incidents: int
    technicians_busy: int
    technicians_free: int
    technicians_off: int
    response_met: int
    response_judged: int
    onsite_met: int
    onsite_judged: int
    notifications: int

    def line(self, tz: ZoneInfo = UTC_ZONE, promise: Promise = DEFAULT_PROMISE) -> str:
        """The line in the organisation's time zone; the promise figures judged as the KPI page judges them (a
        job still waiting past the promise counts as missed, not as "not yet arrived")."""
        def pct(met: int, judged: int) -> str:
            return f"{100 * met / judged:.0f}% of {judged}" if judged else "none yet"

        def span(minutes: int) -> str:
            return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"

        clock = datetime.fromtimestamp(self.sim_time, tz).strftime("%a %H:%M")
        off = f" / {self.technicians_off} off shift" if self.technicians_off else ""
        return (f"[{clock} sim] devices {self.devices_online}/{self.devices} online · "
                f"{self.readings_per_s:,.0f} readings/s · {self.open_incidents} open incidents · "
                f"technicians {self.technicians_busy} on a job / {self.technicians_free} free{off} · "
                f"response ≤ {span(promise.response_min)}: {pct(self.response_met, self.response_judged)} · "
                f"on site ≤ {span(promise.onsite_min)}: {pct(self.onsite_met, self.onsite_judged)} · "
                f"{self.notifications} notifications")


def _hm(value: datetime | None, tz: ZoneInfo = UTC_ZONE) -> str:
    return value.astimezone(tz).strftime("%H:%M") if value else "?"


def event_lines(rows: list[dict[str, Any]], tz: ZoneInfo = UTC_ZONE) -> list[str]:
    """One short line per event row of ``Q.demo_events``, times in ``tz`` (the organisation's, as on the board);
    a burst of one kind is summed up after a few lines."""
    out: list[str] = []
    by_kind: dict[str, int] = {}
    for r in rows:
        kind = r["kind"]
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if by_kind[kind] > MAX_EVENTS_PER_KIND:
            continue
        at, device, fault = _hm(r["at"], tz), r["device_id"], r["fault_mode"] or "fault"
        if kind == "incident_opened":
            out.append(f"{at}  fault detected       {device}: {fault} (incident #{r['incident_id']})")
        elif kind == "remote_fix_verified":
            visit = r.get("visit_job")
            tail = f"technician confirms on site (job #{visit})" if visit else "no visit"
            out.append(f"{at}  remote fix worked    {device}: {fault} (incident #{r['incident_id']}), {tail}")
        elif kind == "technician_assigned":
            out.append(f"{at}  technician assigned  {r['technician'] or '?'} → {device} "
                       f"(job #{r['work_order_id']}), ETA {_hm(r['eta'], tz)}")
        elif kind == "work_completed":
            out.append(f"{at}  job done             {device} (job #{r['work_order_id']}) by {r['technician'] or '?'}")
    names = {"incident_opened": "faults detected", "remote_fix_verified": "remote fixes",
             "technician_assigned": "assignments", "work_completed": "jobs done"}
    for kind, n in by_kind.items():
        if n > MAX_EVENTS_PER_KIND:
            out.append(f"       … and {n - MAX_EVENTS_PER_KIND} more {names.get(kind, kind)}")
    return out


class DemoConsole:
    """Banner, status line and event lines, from the database and the running demo's counters."""

    def __init__(self, settings: Settings, console: Console | None = None) -> None:
        self.settings = settings
        self.console = console or Console(highlight=False)
        self.interactive = self.console.is_terminal
        # A terminal wraps the status line at its width; a pipe or a file gets each line whole (grep-able).
        self.console.soft_wrap = not self.interactive
        self._cursor: dict[str, Any] = {}
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self.online_window_s = settings.ingest.offline_after_s
        self.tz = ZoneInfo(settings.org.timezone)
        self.promise = Promise.of(settings.service)
        self._since: float | None = None  # the run's first simulated instant: the KPIs cover the run

    def banner(self, *, url: str | None, users: list[str], password: str, log_path: Path | None,
               devices: int, speed: float) -> None:
        c = self.console
        c.print(Text("quietfix demo", style="bold"), f"— {devices} simulated devices, time runs {speed:g}× faster")
        if url:
            c.print(f"  web:      {url}board (route board) · {url}tech (technician phone) · {url}portal · {url}kpis · "
                    f"{url}admin")
            c.print(f"  sign in:  {', '.join(users)} — password {password}")
        else:
            c.print("  web:      off (--no-api)")
        if log_path:
            c.print(f"  logs:     {log_path}  (--log-json: JSON logs on stdout instead)")
        c.print("  stop:     Ctrl-C (a summary in JSON is the last line)")

    def say(self, text: str) -> None:
        self.console.print(text, markup=False)

    # -- the live part ----------------------------------------------------------------------------------------

    def start(self, clock: Callable[[], float], readings: Callable[[], int]) -> None:
        """Poll the database every second until :meth:`stop`; ``readings`` is the ingest's running total."""
        # The baseline is read here, not in the thread: what happens after start() returns is news.
        conn = connect(self.settings.database_url, autocommit=True)
        row = conn.execute(Q.demo_event_cursor).fetchone()
        self._cursor = {"after": int(row[0]) if row else 0}
        self._thread = threading.Thread(target=self._run, args=(conn, clock, readings), name="console",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self, conn: Any, clock: Callable[[], float], readings: Callable[[], int]) -> None:
        try:
            with conn:
                if self.interactive:
                    with Live(Text("starting…"), console=self.console, refresh_per_second=4,
                              transient=False) as live:
                        self._loop(conn, clock, readings, lambda s: live.update(Text(self.line(s))))
                else:
                    last = [time.monotonic()]

                    def plain(s: Status) -> None:
                        if time.monotonic() - last[0] >= PLAIN_STATUS_EVERY_S:
                            last[0] = time.monotonic()
                            self.say(self.line(s))

                    self._loop(conn, clock, readings, plain)
        except Exception:  # the console must never take the demo down; the log file has the cause
            logging.getLogger(__name__).warning("demo console stopped", exc_info=True)

    def _loop(self, conn: Any, clock: Callable[[], float], readings: Callable[[], int],
              show: Callable[[Status], None]) -> None:
        window: list[tuple[float, int]] = [(time.monotonic(), readings())]
        status: Status | None = None
        while True:
            finished = self._done.wait(POLL_S)
            now_wall, total = time.monotonic(), readings()
            window = [w for w in window if now_wall - w[0] <= 10.0] + [(now_wall, total)]
            rate = (total - window[0][1]) / max(1e-6, now_wall - window[0][0])
            for line in event_lines(self._events(conn), self.tz):
                self.say(line)
            status = self._status(conn, clock(), rate)
            show(status)
            if finished:
                break
        if not self.interactive and status is not None:
            self.say(self.line(status))  # the last state, whatever the timer said

    def _events(self, conn: Any) -> list[dict[str, Any]]:
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(Q.demo_events, self._cursor).fetchall()
        if rows:
            self._cursor["after"] = rows[-1]["id"]
        return list(rows)

    def line(self, status: Status) -> str:
        return status.line(self.tz, self.promise)

    def _status(self, conn: Any, sim_time: float, rate: float) -> Status:
        if self._since is None:
            self._since = sim_time
        now = datetime.fromtimestamp(sim_time, self.tz)
        with conn.cursor(row_factory=dict_row) as cur:
            heard = datetime.fromtimestamp(sim_time - self.online_window_s, UTC)
            row = cur.execute(Q.demo_status, {"since": heard}).fetchone()
        # The run's days (a fresh demo database has nothing older but imported history, which the KPIs skip).
        kpi = since(conn, start=datetime.fromtimestamp(self._since, self.tz), now=now, promise=self.promise,
                    tz=self.tz).summary["counts"]
        duty = duty_now(conn, now=now, tz=self.tz)
        return Status(sim_time=sim_time, readings_per_s=rate, **{k: int(v) for k, v in row.items()},
                      technicians_busy=duty.busy, technicians_free=duty.free, technicians_off=duty.off,
                      response_met=kpi["response_met"], response_judged=kpi["response_judged"],
                      onsite_met=kpi["onsite_2h_met"], onsite_judged=kpi["onsite_2h_judged"])


DEMO_USERS = ["dispatcher", "admin", "support", "engineering", "tech01…", "customer001…"]


def run_with_console(settings: Settings, options: Any, stop: threading.Event, *, log_json: bool,
                     level: str) -> dict[str, Any]:
    """`quietfix demo` as a person sees it; ``log_json`` = logs as JSON lines on stdout and nothing else."""
    from quietfix import seed as seeding
    from quietfix.demo import DemoRunning, run_demo

    if log_json:
        from core.logs import setup_logging

        setup_logging(level, json_lines=True)
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(sys.stdout)
        return run_demo(settings, options, stop)
    path = log_to_file(level)
    view = DemoConsole(settings)
    url = f"http://{settings.api.host}:{settings.api.port}/" if options.api else None
    view.banner(url=url, users=DEMO_USERS, password=seeding.DEMO_PASSWORD, log_path=path,
                devices=options.devices, speed=options.speed)
    view.say(f"setting up: database {_db_name(settings.database_url)} reset and seeded, devices get broker "
             f"credentials …")

    def running(demo: DemoRunning) -> None:
        view.say(f"running: {demo.storage} storage; events below, status on the last line")
        # Heard from within three batches (one batch spans `speed` simulated seconds) counts as online.
        view.online_window_s = max(settings.ingest.offline_after_s, 3 * demo.clock.speed)
        view.start(demo.clock.now, demo.readings_stored)

    try:
        result = run_demo(settings, options, stop, on_running=running)
    finally:
        view.stop()
    return result


def _db_name(url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(url).get("dbname", "?"))
