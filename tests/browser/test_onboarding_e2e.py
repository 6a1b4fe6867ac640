"""Issue #15's end-to-end test, from an empty database (migrations only, no seed): an admin onboards a customer
with a site, an asset and its device, a contract and a technician with a calendar through the admin pages; the
device publishes telemetry with the credential the page showed once; an injected fault becomes an incident that
the optimiser assigns to that technician, which the board shows.

Bootstrap: the very first admin account cannot be created through the pages (nobody could sign in yet); it is
inserted here as an installer would (one row in ``users``)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest
import uvicorn
from playwright.sync_api import expect

from api.app import create_app
from api.auth import hash_password
from core.clock import ScaledClock
from core.db import connect
from core.mqtt import BrokerAddress
from core.provision import revoke
from core.settings import Settings
from diagnostics import DiagnoseLoop
from dispatch import DispatchLoop
from edge_agent import Fleet
from edge_agent.models import DeviceSpec
from ingest import start_ingest
from quietfix.seed import DEMO_PASSWORD
from tests.browser.conftest import shot, sign_in
from tests.browser.test_admin_page import save
from tests.helpers import wait_for
from tests.services import free_port

pytestmark = pytest.mark.integration
SPEED = 60.0  # one real second = one simulated minute, as tests/quietfix/test_end_to_end.py


@pytest.fixture()
def empty_site(settings: Settings, db_url: str) -> Iterator[str]:
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM customers").fetchone()[0] == 0  # migrations only
        c.execute("INSERT INTO users (username, password_hash, role) VALUES ('admin', %s, 'admin')",
                  (hash_password(DEMO_PASSWORD),))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name="uvicorn-e2e", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_onboard_from_empty_database_to_an_assigned_incident(empty_site: str, browser, settings: Settings,
                                                            db_url: str) -> None:
    device_id = f"e2e-onb-{uuid.uuid4().hex[:6]}"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_in(page, f"{empty_site}/admin", "admin")
    save(page, "Customers", {"code": "VDL", "name": "Van der Laan Koeltechniek", "tier": "gold",
                             "language": "nl", "timezone": "Europe/Amsterdam"})
    expect(page.locator("[data-panel='customers'] tr[data-key='VDL']")).to_be_visible()
    save(page, "Sites", {"code": "VDL-DH", "customer_code": "VDL", "name": "Den Haag", "lat": "52.07",
                         "lon": "4.30", "access_hours": "24x7"})
    expect(page.locator("[data-panel='sites'] tr[data-key='VDL-DH']")).to_be_visible()
    save(page, "Assets", {"serial": "SN-E2E-1", "site_code": "VDL-DH", "equipment_type": "pump",
                          "model": "Grundfos CR 10", "installed_on": "2022-09-01", "device_id": device_id})
    expect(page.locator("[data-panel='assets'] tr[data-key='SN-E2E-1']")).to_be_visible()
    save(page, "Contracts", {"code": "K-VDL", "customer_code": "VDL", "tier": "gold", "coverage": "24x7",
                             "response_min": "10", "onsite_min": "90", "repair_h": "12", "starts_on": "2025-01-01"})
    expect(page.locator("[data-panel='contracts'] tr[data-key='K-VDL']")).to_be_visible()
    save(page, "Technicians", {"code": "T-E2E", "name": "Sanne Bakker", "skills": "mechanical;electrical",
                               "home_lat": "52.05", "home_lon": "4.32", "shift": "24x7",
                               "timezone": "Europe/Amsterdam"})
    expect(page.locator("[data-panel='technicians'] tr[data-key='T-E2E']")).to_be_visible()
    pattern = page.locator("[data-cal='pattern']")  # a calendar: every day, a 24-hour span with a short break
    pattern.locator("[name='code']").fill("T-E2E")
    for box in pattern.locator("[name='day']").all():
        box.check()
    pattern.locator("[name='start']").fill("00:00")
    pattern.locator("[name='end']").fill("23:59")
    pattern.locator("[name='break_start']").fill("03:00")
    pattern.locator("[name='break_minutes']").fill("15")
    pattern.get_by_role("button", name="Save working pattern").click()
    expect(pattern.locator(".msg")).to_contain_text("optimiser")
    page.get_by_role("tab", name="Devices").click()
    page.locator(f"[data-panel='devices'] tr[data-key='{device_id}']").get_by_role("button", name="Provision").click()
    secret = page.locator("#secret")
    expect(secret).to_contain_text("password")
    match = re.search(r"password (\S+) \(shown once", secret.inner_text())
    assert match, secret.inner_text()
    password = match.group(1)
    shot(page, "onboarding-credential")

    clock = ScaledClock(SPEED)
    db = lambda: connect(settings.database_url, autocommit=True)
    ingest = start_ingest(settings, clock)
    address = BrokerAddress.from_url(settings.mqtt_url)
    fleet = Fleet([DeviceSpec(device_id, "pump", device_id, password)], host=address.host, port=address.port,
                  clock=clock.now, seed=5, sample_interval_s=5.0, batch_interval_s=30.0,
                  fault_rate_per_device_hour=0.0)
    stop = threading.Event()
    loops = [threading.Thread(target=DiagnoseLoop(db, settings.diagnostics, clock).run, args=(stop,), daemon=True),
             threading.Thread(target=DispatchLoop(db, settings.dispatch, clock).run, args=(stop,), daemon=True)]
    try:
        with psycopg.connect(db_url, autocommit=True) as c:
            assert ingest.mqtt.connected.wait(10)
            fleet.start()
            for loop in loops:
                loop.start()
            wait_for(lambda: c.execute("SELECT count(*) FROM telemetry_latest WHERE device_id = %s",
                                       (device_id,)).fetchone()[0] > 0, timeout_s=30)
            fleet.inject_fault(device_id, "bearing_wear", develop_s=60.0)
            wait_for(lambda: c.execute("SELECT count(*) FROM work_orders WHERE technician_id IS NOT NULL"
                                       ).fetchone()[0] >= 1, timeout_s=90)
            row = c.execute("SELECT t.code, i.device_id, i.customer_id = cu.id, w.status FROM work_orders w "
                            "JOIN technicians t ON t.id = w.technician_id JOIN incidents i ON i.id = w.incident_id "
                            "JOIN customers cu ON cu.code = 'VDL' ORDER BY w.id LIMIT 1").fetchone()
    finally:
        stop.set()
        fleet.stop()
        ingest.stop()
        for loop in loops:
            loop.join(10)
        revoke(settings, [device_id])
    assert row == ("T-E2E", device_id, True, "assigned")
    board = context.new_page()
    board.goto(f"{empty_site}/board")
    item = board.locator("#queue > li[data-wo]").first
    expect(item).to_contain_text("tech T-E2E")
    expect(item).to_contain_text("Van der Laan Koeltechniek")
    shot(board, "onboarding-assigned")
    # The customer's own account (made by the admin), on the portal: the ETA in the customer's zone, named, whatever
    # the zone of the browser (this one runs in UTC).
    token = board.evaluate("localStorage.getItem('qf-token')")
    made = board.request.post(f"{empty_site}/api/admin/users", headers={"Authorization": "Bearer " + token},
                              data={"username": "vdl-ops", "role": "customer", "customer_code": "VDL",
                                    "password": "vdl-ops-password-1", "timezone": "Europe/Amsterdam"})
    assert made.status == 201, made.text()
    portal = browser.new_context(viewport={"width": 390, "height": 844}, timezone_id="UTC", locale="en")
    portal.set_default_timeout(15_000)
    page = portal.new_page()
    page.goto(f"{empty_site}/portal")
    page.locator("input[name=username]").fill("vdl-ops")
    page.locator("input[name=password]").fill("vdl-ops-password-1")
    page.locator("#login-form button[type=submit]").click()
    offset_h = int(datetime.now(ZoneInfo("Europe/Amsterdam")).utcoffset().total_seconds() // 3600)
    expect(page.locator("#main")).to_contain_text(f"GMT+{offset_h}")  # CET or CEST, as the incident's ETA carries
    portal.close()
    context.close()
