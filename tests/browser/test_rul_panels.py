"""Remaining useful life where people look (issue #16 item 2): the board's asset panel and the customer portal.

The estimates are stored rows (as the diagnose loop writes them; the pipeline itself is tested in
tests/diagnostics/test_learning_integration.py): one learned, one from the trend, so each page shows which.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import World, shot, sign_in
from tests.browser.test_pages import assert_accessible

pytestmark = pytest.mark.integration

INSERT = ("INSERT INTO rul_estimates (device_id, estimated_at, status, signal, direction, rul_s, rul_low_s, "
          "rul_high_s, failure_at, fault_mode, method) VALUES (%s, %s, %s, %s, 'up', %s, %s, %s, %s, %s, %s)")


def _estimates(world: World) -> tuple[str, str]:
    """A learned estimate on the assigned job's asset (customer001's), a trend one on another of its assets."""
    now = datetime.now(UTC)
    with psycopg.connect(world.db_url) as c:
        learned = c.execute("SELECT device_id FROM work_orders WHERE id = %s", (world.assigned_wo,)).fetchone()[0]
        trend = c.execute("SELECT id FROM devices WHERE customer_id = (SELECT customer_id FROM devices WHERE id = %s)"
                          " AND id <> %s ORDER BY id LIMIT 1", (learned, learned)).fetchone()[0]
        c.execute(INSERT, (learned, now, "degrading", "vibration_mm_s", 5 * 3600, 3 * 3600, 8 * 3600,
                           now + timedelta(hours=5), "bearing_wear", "learned"))
        c.execute(INSERT, (trend, now, "healthy", None, None, None, None, None, None, "trend"))
    return learned, trend


def test_board_asset_panel_shows_rul_with_its_interval_and_method(world: World, context) -> None:
    learned, _ = _estimates(world)
    page = context.new_page()
    sign_in(page, f"{world.url}/board", "dispatcher")
    page.locator(f'#queue [data-asset="{learned}"]').click()
    panel = page.locator("#asset-panel")
    expect(panel).to_be_visible()
    rul = panel.locator(".rul")
    expect(rul).to_have_attribute("data-rul-method", "learned")
    expect(rul).to_contain_text("About 5.0 h until a likely failure (between 3.0 h and 8.0 h)")
    expect(rul).to_contain_text("Likely: bearing wear")
    expect(rul).to_contain_text("learned from this fleet's own repaired failures")
    assert_accessible(page)
    shot(page, "board-asset-rul")
    panel.get_by_role("button", name="Close").click()
    expect(panel).to_be_hidden()


def test_portal_shows_each_assets_rul_and_how_it_was_estimated(world: World, context) -> None:
    learned, trend = _estimates(world)
    page = context.new_page()
    sign_in(page, f"{world.url}/portal", "customer001")
    card = page.locator("article.asset", has=page.locator(f'[id="asset-{learned}"]'))
    expect(card.locator(".rul")).to_contain_text("About 5.0 h until a likely failure (between 3.0 h and 8.0 h)")
    other = page.locator("article.asset", has=page.locator(f'[id="asset-{trend}"]')).locator(".rul")
    expect(other).to_contain_text("No failure in sight.")
    expect(other).to_contain_text("trend of a wear signal towards its limit")
    expect(page.locator('.rul[data-rul-status="none"]')).to_have_count(1)  # the third asset: no estimate yet
    assert_accessible(page)
    shot(page, "portal-rul")
