"""The planning page in a real browser: forecast chart, roster, coverage map with what-if, escalations, contracts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from playwright.sync_api import expect

from quietfix.seed import SeededDevice
from tests.browser.conftest import World, shot, sign_in
from tests.browser.test_pages import assert_accessible
from tests.planning.test_planning_api_integration import history

pytestmark = pytest.mark.integration


def test_planning_page_shows_forecast_roster_coverage_escalations_and_contracts(world: World, context) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(world.db_url, autocommit=True) as c:
        devices = [SeededDevice(r[0], "pump", r[1], 0.0, 0.0)
                   for r in c.execute("SELECT id, customer_id FROM devices ORDER BY id")]
        history(c, devices, now)
        c.execute("INSERT INTO escalations (work_order_id, incident_id, device_id, tier, raised_by, reason, evidence,"
                  " opened_at, respond_due) SELECT id, incident_id, device_id, 2, 'tech01', 'noise persists',"
                  " '{\"photos\": [{\"ref\": \"p1\"}], \"notes\": \"shaft play\"}', %s, %s FROM work_orders WHERE id = %s",
                  (now, now + timedelta(minutes=30), world.assigned_wo))
    page = context.new_page()
    # Four of the page's calls fit a forecast or compute a 24-hour coverage map: allow for a machine under load.
    page.set_default_timeout(30_000)
    sign_in(page, f"{world.url}/planning", "dispatcher")
    expect(page.locator("#forecast svg")).to_have_count(1)
    kpi = page.locator("#load-kpi")  # forecast vs actual load, roster coverage and escalations in one line
    expect(kpi).to_contain_text("Today so far:")
    expect(kpi).to_contain_text("forecast")
    expect(kpi).to_contain_text("next day")
    expect(kpi).to_contain_text("1 escalation open")
    expect(page.locator("#roster tbody tr")).to_have_count(3)
    expect(page.locator("#contracts tbody tr")).to_have_count(3)
    expect(page.locator("#contracts")).to_contain_text("SC-")
    expect(page.locator("#cov-summary")).to_contain_text("sites covered")
    expect(page.locator("#prev-summary")).to_contain_text("slotted")
    assert page.locator("#map path.leaflet-interactive").count() == 12
    tier2 = page.locator(".queue-tier").first
    expect(tier2).to_contain_text("noise persists")
    assert_accessible(page)
    tier2.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#esc-msg")).to_contain_text("acknowledged")
    page.get_by_role("button", name="Show effect").click()
    expect(page.locator("#whatif-msg")).to_contain_text("site-hours covered")
    shot(page, "planning")
    page.get_by_role("link", name="Route board").click()  # the board's KPI strip carries the same load line
    expect(page.locator("#kpi-load")).to_contain_text("incidents today vs forecast")
    expect(page.locator("#kpi-escalations")).to_contain_text("escalations open")
