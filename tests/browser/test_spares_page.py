"""The spares page (/spares, issue #16 item 4): a dispatcher proposes orders from the replenishment advice,
approves a transfer and receives it; the stock moves in the ledger. Other roles are sent home."""

from __future__ import annotations

import psycopg
import pytest
from playwright.sync_api import expect

from quietfix.seed import seed_spares
from spares.repository import SparesRepository
from tests.browser.conftest import World, shot, sign_in
from tests.browser.test_pages import assert_accessible
from tests.spares.test_orders_integration import short_depot

pytestmark = pytest.mark.integration


def test_dispatcher_approves_and_receives_a_transfer_on_the_spares_page(world: World, context, browser) -> None:
    with psycopg.connect(world.db_url) as conn:
        seed_spares(conn, [r[0] for r in conn.execute("SELECT id FROM technicians ORDER BY id")])
        w = short_depot(conn)
        conn.commit()
    page = context.new_page()
    sign_in(page, f"{world.url}/spares", "dispatcher")
    page.get_by_role("button", name="Propose from current advice").click()
    expect(page.locator("#msg")).to_contain_text("new orders proposed")
    row = page.locator("#orders tbody tr", has_text="Depot South").filter(has_text=w["a"]).first
    expect(row).to_contain_text("Transfer")
    order_id = row.get_attribute("data-order")
    assert_accessible(page)
    shot(page, "spares")
    row.get_by_role("button", name="Approve").click()
    expect(page.locator("#msg")).to_contain_text(f"#{order_id}: approved")
    page.get_by_label("Show").select_option("approved")
    mine = page.locator(f'#orders tbody tr[data-order="{order_id}"]')
    mine.get_by_role("button", name="Receive").click()
    expect(page.locator("#msg")).to_contain_text(f"#{order_id}: received")
    with psycopg.connect(world.db_url) as conn:
        assert SparesRepository(conn).level(w["zuid"], w["a"]).on_hand == 0
        kinds = [k for (k,) in conn.execute(
            "SELECT l.kind FROM stock_ledger l JOIN replenishment_orders o ON o.shipment_id = l.shipment_id "
            "WHERE o.id = %s ORDER BY l.id", (int(order_id),))]
    assert kinds == ["ship_out", "transit_in", "deliver"]

    fresh = browser.new_context()
    try:
        other = fresh.new_page()
        sign_in(other, f"{world.url}/spares", "tech01")
        expect(other).not_to_have_url(f"{world.url}/spares")
    finally:
        fresh.close()
