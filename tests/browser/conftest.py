"""Browser tests: the real API under uvicorn on a free port, a seeded world, Debian's Chromium via Playwright.

Chromium comes from the distribution (scripts/setup-web.sh installs it); `playwright install` is never run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import uvicorn
from psycopg.types.json import Jsonb

from api.app import create_app
from core.settings import Settings
from quietfix.seed import DEMO_PASSWORD, seed
from tests.services import free_port

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@dataclass(frozen=True)
class World:
    url: str
    db_url: str
    assigned_wo: int  # T01's job, with telemetry around the fault
    unassigned_wo: int
    completed_wo: int  # customer001's finished visit, waiting for its NPS answer


def _incident(conn: psycopg.Connection, device_id: str, at: datetime, summary: str, evidence: dict,
              source: str = "telemetry") -> tuple[int, int]:
    customer_id, lat, lon = conn.execute("SELECT customer_id, lat, lon FROM devices WHERE id = %s",
                                         (device_id,)).fetchone()
    incident = conn.execute(
        "INSERT INTO incidents (device_id, customer_id, source, fault_mode, detector, severity, status, summary,"
        " evidence, opened_at, response_due, onsite_due, repair_due) VALUES (%s, %s, %s, 'bearing_wear',"
        " 'threshold', 2, 'work_order', %s, %s, %s, %s, %s, %s) RETURNING id",
        (device_id, customer_id, source, summary, Jsonb(evidence), at, at + timedelta(minutes=15),
         at + timedelta(hours=2), at + timedelta(hours=24))).fetchone()[0]
    wo = conn.execute(
        "INSERT INTO work_orders (incident_id, device_id, customer_id, required_skills, estimated_minutes, lat, lon,"
        " created_at, onsite_due) VALUES (%s, %s, %s, '{mechanical}', 90, %s, %s, %s, %s) RETURNING id",
        (incident, device_id, customer_id, lat, lon, at, at + timedelta(hours=2))).fetchone()[0]
    conn.execute("INSERT INTO timeline_events (device_id, customer_id, at, kind, summary, incident_id, work_order_id)"
                 " VALUES (%s, %s, %s, 'incident_opened', %s, %s, %s)", (device_id, customer_id, at, summary,
                                                                          incident, wo))
    return incident, wo


def build_world(conn: psycopg.Connection) -> tuple[int, int, int]:
    """Three active jobs (assigned, unassigned at risk, late ETA) and one finished visit; wall-clock times."""
    devices = seed(conn, devices=12, technicians=4, users=True)
    now = datetime.now(UTC).replace(microsecond=0)
    techs = [r[0] for r in conn.execute("SELECT id FROM technicians ORDER BY code")]
    dev = devices[0].device_id
    fault_start = now - timedelta(minutes=20)
    rows = [(dev, "vibration_mm_s", now - timedelta(minutes=60 - m), 3.0 + (6.0 * m / 60) + (m % 3) * 0.2)
            for m in range(60)]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO telemetry VALUES (%s, %s, %s, %s)", rows)
    for d in devices:
        conn.execute("INSERT INTO telemetry_latest VALUES (%s, 'vibration_mm_s', %s, %s)",
                     (d.device_id, now, 8.9 if d.device_id == dev else 2.4))
    conn.execute("UPDATE devices SET online = true, last_seen = %s", (now,))
    _, assigned = _incident(conn, dev, now - timedelta(minutes=8),
                            "bearing wear suspected: vibration_mm_s above 7.1 for 120 s",
                            {"signal": "vibration_mm_s", "op": "above", "limit": 7.1, "worst": 8.9,
                             "window_start": fault_start.isoformat(), "window_end": now.isoformat()})
    conn.execute("UPDATE work_orders SET status = 'assigned', technician_id = %s, assigned_at = %s, eta = %s "
                 "WHERE id = %s", (techs[0], now - timedelta(minutes=5), now + timedelta(minutes=25), assigned))
    _, unassigned = _incident(conn, devices[1].device_id, now - timedelta(minutes=11),
                              "Customer reports the chiller is warm", {}, source="phone")
    _, late = _incident(conn, devices[2].device_id, now - timedelta(minutes=100), "overheating suspected", {})
    conn.execute("UPDATE work_orders SET status = 'en_route', technician_id = %s, assigned_at = %s, eta = %s "
                 "WHERE id = %s", (techs[1], now - timedelta(minutes=95), now + timedelta(minutes=40), late))
    conn.execute("UPDATE technicians SET state = 'travelling' WHERE id = ANY(%s)", ([techs[0], techs[1]],))
    inc, done = _incident(conn, devices[4].device_id, now - timedelta(hours=3), "seal leak suspected", {})
    conn.execute("UPDATE work_orders SET status = 'completed', technician_id = %s, assigned_at = %s, eta = %s, "
                 "arrived_at = %s, completed_at = %s, actual_fix = 'seal replaced' WHERE id = %s",
                 (techs[2], now - timedelta(hours=3), now - timedelta(hours=2), now - timedelta(hours=2),
                  now - timedelta(hours=1), done))
    conn.execute("UPDATE incidents SET status = 'resolved_onsite', resolved_at = %s WHERE id = %s",
                 (now - timedelta(hours=1), inc))
    return assigned, unassigned, done


@pytest.fixture()
def world(settings: Settings, conn: psycopg.Connection, db_url: str) -> Iterator[World]:
    assigned, unassigned, done = build_world(conn)
    conn.commit()
    port = free_port()
    # Browsers keep live streams open; pages close before this teardown, and 2 s bounds any straggler.
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield World(f"http://127.0.0.1:{port}", db_url, assigned, unassigned, done)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: run scripts/setup-web.sh (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture()
def context(world: World, browser) -> Iterator[object]:
    """A fresh browser profile per test, closed before the server stops (so no live stream is cut mid-way)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture()
def phone(world: World, browser) -> Iterator[object]:
    """A phone-sized profile (390×844, touch) for the technician view."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                              has_touch=True)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


def sign_in(page, url: str, user: str) -> None:
    page.goto(url)
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
