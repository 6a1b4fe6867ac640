"""A dispatcher approves the roster proposal on the planning page; the shifts are stored, audited, and shown
(issue #16 item 4)."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from playwright.sync_api import expect

from quietfix.seed import SeededDevice
from tests.browser.conftest import World, sign_in
from tests.planning.test_planning_api_integration import history

pytestmark = pytest.mark.integration


def test_dispatcher_approves_the_roster_proposal(world: World, context) -> None:
    with psycopg.connect(world.db_url, autocommit=True) as c:
        devices = [SeededDevice(r[0], "pump", r[1], 0.0, 0.0)
                   for r in c.execute("SELECT id, customer_id FROM devices ORDER BY id")]
        history(c, devices, datetime.now(UTC))
    page = context.new_page()
    page.set_default_timeout(30_000)  # the page fits a forecast: allow for a loaded machine
    sign_in(page, f"{world.url}/planning", "dispatcher")
    expect(page.locator("#roster tbody tr")).to_have_count(3)
    expect(page.locator("#roster-proposed")).to_contain_text("T0")
    approve = page.locator("#roster-approve")
    expect(approve).to_be_enabled()
    approve.click()
    expect(page.locator("#roster-approve-msg")).to_contain_text("approved")
    expect(page.locator("#roster-approved li").first).to_be_visible()
    with psycopg.connect(world.db_url) as c:
        shifts = c.execute("SELECT count(*) FROM roster_shifts").fetchone()[0]
        actor = c.execute("SELECT actor FROM audit_log WHERE action = 'planning.roster.approved'").fetchone()
    assert shifts > 0 and actor == ("dispatcher",)
    expect(page.locator("#roster-approved li")).to_have_count(shifts + 1)  # a title line, then one per shift
