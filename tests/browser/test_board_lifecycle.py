"""The board's work-order lifecycle on the real API: cancel with a reason, reschedule with the window picker, hold
(paused badge) and resume, each through the dialog a dispatcher uses; the database says what happened."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import World, shot, sign_in
from tests.browser.test_pages import assert_accessible

pytestmark = pytest.mark.integration


def _row(db_url: str, sql: str, *args: object) -> tuple:
    with psycopg.connect(db_url) as c:
        return c.execute(sql, args).fetchone()


def test_dispatcher_cancels_a_job_with_a_reason(world: World, context) -> None:
    page = context.new_page()
    sign_in(page, f"{world.url}/board", "dispatcher")
    item = page.locator(f'#queue li[data-wo="{world.unassigned_wo}"]')
    item.get_by_role("button", name=f"Cancel… work order {world.unassigned_wo}").click()
    dialog = page.locator("#lc-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Reason").select_option("other")
    dialog.get_by_role("button", name="Cancel work order").click()
    expect(dialog.locator("[data-lc-error]")).to_contain_text("say why")  # 'other' needs a note: 422 shown
    dialog.get_by_label("Reason").select_option("customer_withdrew")
    assert_accessible(page)
    dialog.get_by_role("button", name="Cancel work order").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#board-msg")).to_contain_text("cancelled; incident closed")
    expect(item).to_have_count(0)  # gone from the queue
    assert _row(world.db_url, "SELECT w.status, w.cancel_reason, i.status FROM work_orders w JOIN incidents i "
                              "ON i.id = w.incident_id WHERE w.id = %s", world.unassigned_wo) == (
        "cancelled", "customer_withdrew", "closed")


def test_dispatcher_reschedules_to_the_customers_window(world: World, context) -> None:
    page = context.new_page()
    sign_in(page, f"{world.url}/board", "dispatcher")
    wo = world.assigned_wo
    page.locator(f'#queue li[data-wo="{wo}"]').get_by_role("button", name=f"Reschedule… work order {wo}").click()
    dialog = page.locator("#lc-dialog")
    # the picker speaks the viewer's local time; the browser's zone here is the machine's
    start = (datetime.now() + timedelta(hours=4)).replace(second=0, microsecond=0)
    dialog.get_by_label("Earliest start (your time)").fill(start.strftime("%Y-%m-%dT%H:%M"))
    dialog.get_by_label("Latest start (your time)").fill((start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    dialog.get_by_role("button", name="Reschedule").click()
    expect(dialog.locator("[data-lc-error]")).to_contain_text("latest_start")  # before the start: 422 shown
    dialog.get_by_label("Latest start (your time)").fill((start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    dialog.get_by_role("button", name="Reschedule").click()
    expect(page.locator("#board-msg")).to_contain_text(f"Work order #{wo} rescheduled")
    item = page.locator(f'#queue li[data-wo="{wo}"]')
    expect(item.locator("[data-window]")).to_contain_text("customer window")
    expect(item).to_contain_text("on site (customer window) in")  # no response clock: the customer has a time
    status, tech, a_start, a_end = _row(world.db_url, "SELECT status, technician_id, appointment_start, "
                                                      "appointment_end FROM work_orders WHERE id = %s", wo)
    assert (status, tech) == ("open", None)
    assert a_start == start.astimezone() and a_end - a_start == timedelta(hours=2)
    shot(page, "board-rescheduled")


def test_dispatcher_holds_a_job_sees_the_paused_clock_and_resumes(world: World, context) -> None:
    wo = world.unassigned_wo
    with psycopg.connect(world.db_url) as c:  # a standard contract: waiting for a part pauses the clock
        c.execute("UPDATE customers SET tier = 'standard' WHERE id = (SELECT customer_id FROM work_orders "
                  "WHERE id = %s)", (wo,))
        c.execute("UPDATE contracts SET sla_tier = 'standard' WHERE customer_id = (SELECT customer_id FROM "
                  "work_orders WHERE id = %s)", (wo,))
    page = context.new_page()
    sign_in(page, f"{world.url}/board", "dispatcher")
    item = page.locator(f'#queue li[data-wo="{wo}"]')
    item.get_by_role("button", name=f"Hold… work order {wo}").click()
    dialog = page.locator("#lc-dialog")
    dialog.get_by_label("Awaiting parts").check()
    dialog.get_by_label("Note").fill("compressor valve on order")
    dialog.get_by_role("button", name="Put on hold").click()
    expect(page.locator("#board-msg")).to_contain_text("awaiting parts; SLA clock paused")
    expect(item.locator("[data-hold]")).to_have_text("awaiting parts")
    paused = item.locator('[data-sla="paused"]')
    expect(paused).to_contain_text("SLA clock paused")
    frozen = paused.inner_text()
    page.wait_for_timeout(1100)  # the board ticks every second: a paused clock does not move
    assert paused.inner_text() == frozen
    expect(item.locator("form.assign")).to_have_count(0)  # nothing to assign while held
    assert _row(world.db_url, "SELECT status FROM work_orders WHERE id = %s", wo) == ("on_hold",)
    item.get_by_role("button", name=f"Resume work order {wo}").click()
    expect(page.locator("#board-msg")).to_contain_text(f"Work order #{wo} back in the queue")
    expect(item.locator("[data-hold]")).to_have_count(0)
    expect(item.locator("form.assign")).to_have_count(1)
    assert _row(world.db_url, "SELECT status FROM work_orders WHERE id = %s", wo) == ("open",)
