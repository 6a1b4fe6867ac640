"""Remaining useful life where people look (issue #16 item 2): the board's asset panel and the customer portal.

The estimates are stored rows (as the diagnose loop writes them; the pipeline itself is tested in
tests/diagnostics/test_learning_integration.py): one learned, one from the trend, so each page shows which.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from playwright.sync_api import expect

from quietfix.seed import DEMO_PASSWORD
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


def test_rul_says_so_when_a_detector_suspects_a_fault_the_estimate_does_not_see(world: World, context,
                                                                                  browser) -> None:
    """A wear trend says "no failure in sight" while a detector has bearing wear open on the same asset: both
    pages show the open incident first and say the estimate does not cover it, and which estimate it is."""
    now = datetime.now(UTC)
    with psycopg.connect(world.db_url) as c:
        device, customer = c.execute(
            "SELECT d.id, d.customer_id FROM devices d JOIN users u ON u.customer_id = d.customer_id "
            "WHERE u.username = 'customer001' AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.device_id = d.id) "
            "ORDER BY d.id DESC LIMIT 1").fetchone()
        c.execute(INSERT, (device, now, "healthy", "vibration_mm_s", None, None, None, None, None, "trend"))
        incident = c.execute(
            "INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, summary, "
            "opened_at, response_due, onsite_due, repair_due) VALUES (%s, %s, 'bearing_wear', 'shift', 2, "
            "'detected', 'bearing wear suspected', %s, %s, %s, %s) RETURNING id",
            (device, customer, now - timedelta(minutes=12), now, now + timedelta(hours=2),
             now + timedelta(hours=24))).fetchone()[0]
    try:
        page = context.new_page()
        sign_in(page, f"{world.url}/portal", "customer001")
        rul = page.locator("article.asset", has=page.locator(f'[id="asset-{device}"]')).locator(".rul")
        expect(rul.locator('[data-rul-open="bearing_wear"]')).to_contain_text(
            "Open incident: a detector suspects bearing wear (since ")
        expect(rul.locator('[data-rul-relation="not-covered"]')).to_have_text(
            "The wear trend sees no failure coming, but it does not cover the open incident: go by the incident "
            "until it is closed.")
        expect(rul).not_to_contain_text("No failure in sight")
        expect(rul).to_contain_text("trend of a wear signal towards its limit · from vibration_mm_s · as of ")
        assert_accessible(page)
        shot(page, "portal-rul-open-incident")

        # Another profile for the dispatcher: in the customer's context /board redirects to /portal on its own,
        # and that redirect raced the sign-in's navigation (a whole-suite flake).
        staff = browser.new_context(viewport={"width": 1400, "height": 1000})
        board = staff.new_page()
        sign_in(board, f"{world.url}/board", "dispatcher")
        board.locator("#asset-open [name='device_id']").fill(device)
        board.locator("#asset-open [name='device_id']").press("Enter")
        panel = board.locator("#asset-panel .rul")
        expect(panel.locator('[data-rul-open="bearing_wear"]')).to_be_visible()
        expect(panel.locator('[data-rul-relation="not-covered"]')).to_be_visible()
        assert_accessible(board)
        staff.close()

        zh = browser.new_context(locale="zh-CN")
        try:
            p2 = zh.new_page()  # staff pages follow the browser's language (the customer's follow their record)
            sign_in_zh(p2, f"{world.url}/board", "dispatcher")
            p2.locator("#asset-open [name='device_id']").fill(device)
            p2.locator("#asset-open [name='device_id']").press("Enter")
            card = p2.locator("#asset-panel .rul")
            expect(card.locator('[data-rul-open="bearing_wear"]')).to_contain_text("未结事件：检测器怀疑")
            expect(card.locator('[data-rul-relation="not-covered"]')).to_have_text(
                "磨损趋势未预见故障，但它不涵盖未结事件：在事件关闭前以事件为准。")
        finally:
            zh.close()
    finally:
        with psycopg.connect(world.db_url) as c:  # the browser tests share one world
            c.execute("UPDATE incidents SET status = 'closed', closed_at = now() WHERE id = %s", (incident,))


def sign_in_zh(page, url: str, user: str) -> None:
    page.goto(url)
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.locator("#login-form button[type=submit]").click()
