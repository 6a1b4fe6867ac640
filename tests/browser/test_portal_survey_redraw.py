"""The portal's satisfaction survey survives a live re-draw (found as a whole-suite flake of
test_pages.py::test_customer_sees_health_and_answers_nps_once): a refresh already on its way when the customer
picked a score re-drew the survey empty, and "Send answer" then did nothing (the score is required).

Deterministic here: the refresh's request for pending surveys is held until the customer has answered, then let
through, so the re-draw lands between the choice and the tap, as it did under load."""

from __future__ import annotations

import psycopg
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import World, sign_in

pytestmark = pytest.mark.integration
PENDING = "**/api/portal/surveys/pending"


def test_a_refresh_on_its_way_keeps_the_customers_score_and_comment_and_the_thanks(world: World, context) -> None:
    page = context.new_page()
    sign_in(page, f"{world.url}/portal", "customer001")
    form = page.locator(f'form.survey[data-wo="{world.completed_wo}"]')
    expect(form.get_by_role("button", name="Send answer")).to_be_visible()
    held: list = []
    page.route(PENDING, lambda route: held.append(route))  # the next refresh's read of pending surveys waits here
    with psycopg.connect(world.db_url) as c:  # a change in this customer's scope: the live stream announces it
        device, customer = c.execute("SELECT device_id, customer_id FROM work_orders WHERE id = %s",
                                     (world.completed_wo,)).fetchone()
        c.execute("INSERT INTO timeline_events (device_id, customer_id, at, kind, summary) "
                  "VALUES (%s, %s, now(), 'note', 'a change elsewhere on the asset')", (device, customer))
    for _ in range(200):  # route handlers run while Playwright waits
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the live change did not start a refresh"

    form.locator("label", has_text="9").last.click()  # the customer answers while that refresh is on its way
    form.get_by_label("Anything to add?").fill("Quick and friendly")
    page.evaluate("() => { document.querySelector('#survey-list').firstElementChild.dataset.drawn = 'before'; }")
    held[0].continue_()
    page.unroute(PENDING)  # (after: unroute lets a held request through itself)
    page.wait_for_function("() => !document.querySelector('#survey-list').firstElementChild.dataset.drawn")

    expect(form.locator('input[name="score"][value="9"]')).to_be_checked()  # the re-draw kept the answer
    expect(form.get_by_label("Anything to add?")).to_have_value("Quick and friendly")
    form.get_by_role("button", name="Send answer").click()
    expect(page.locator("#surveys")).to_contain_text("Thank you")
    with psycopg.connect(world.db_url) as c:
        assert c.execute("SELECT score, comment FROM nps_surveys WHERE work_order_id = %s",
                         (world.completed_wo,)).fetchall() == [(9, "Quick and friendly")]
