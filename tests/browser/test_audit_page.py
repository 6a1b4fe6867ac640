"""The admin's audit page (/audit): signs in, lists the log newest first, filters it; other roles are sent home."""

from __future__ import annotations

import psycopg
import pytest
from playwright.sync_api import expect

from core import audit
from tests.browser.conftest import World, shot, sign_in
from tests.browser.test_pages import assert_accessible

pytestmark = pytest.mark.integration


def test_admin_reads_and_filters_the_audit_log(world: World, context, browser) -> None:
    with psycopg.connect(world.db_url) as conn:
        audit.record(conn, audit.Actor("process:dispatch"), "dispatch.assign", "work_order", "42", {"technician": "T01"})
        audit.record(conn, audit.Actor("cli:ops"), "device.revoke", "device", "dev-9")
    page = context.new_page()
    sign_in(page, f"{world.url}/audit", "admin")
    rows = page.locator("#rows tbody tr")
    expect(rows.first).to_be_visible()
    expect(page.locator("#rows")).to_contain_text("device.revoke")
    expect(page.locator("#rows")).to_contain_text("auth.login")
    page.get_by_label("Action").fill("dispatch.")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("work_order 42")
    assert_accessible(page)
    shot(page, "audit")

    fresh = browser.new_context()  # another profile: no admin token in its storage
    try:
        other = fresh.new_page()
        sign_in(other, f"{world.url}/audit", "dispatcher")
        expect(other).to_have_url(f"{world.url}/board")
    finally:
        fresh.close()
