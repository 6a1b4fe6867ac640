"""The KPI page in a real browser (trend charts, table, slices, CSV download, customer scope) and the board's
strip showing the 2-h promise, the contract figure and idle-while-waiting as separate, labelled cells."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import World, shot, sign_in
from tests.browser.test_pages import assert_accessible
from tests.helpers import wait_for

pytestmark = pytest.mark.integration


def test_kpi_page_draws_trends_table_slices_and_exports_csv(world: World, context) -> None:
    page = context.new_page()
    sign_in(page, f"{world.url}/kpis", "dispatcher")
    # The finished visit arrived 60 min after its incident opened: the only on-site outcome judged so far.
    expect(page.locator('#summary [data-kpi="onsite_2h_rate"] b')).to_have_text("100%")
    expect(page.locator('#summary [data-kpi="onsite_2h_rate"]')).to_contain_text("On site ≤ 2 h from incident open")
    expect(page.locator('#summary [data-kpi="onsite_contract_rate"]')).to_contain_text("contract deadline")
    expect(page.locator("#charts canvas")).to_have_count(10)
    assert page.evaluate("() => Object.keys(Chart.instances).length") == 10  # chart.js drew every trend
    expect(page.locator("#table tr")).to_have_count(31)  # header + 30 days
    expect(page.locator("#promise")).to_contain_text("on site 2 h")
    expect(page.locator("#trend-h")).to_have_text(re.compile(r"^Per day \([A-Za-z_/]+\)$"))  # the org's zone, named
    assert_accessible(page)
    page.locator("select[name=by]").select_option("tier")
    expect(page.locator("#table tr td:nth-child(2)").filter(has_text="all")).to_have_count(0)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert download.value.suggested_filename.endswith("-tier.csv")
    first = Path(download.value.path()).read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("day,region,tier,customer_id,incidents")
    shot(page, "kpis")


def test_customer_sees_only_their_own_kpis_and_technician_is_sent_home(world: World, context, browser) -> None:
    page = context.new_page()
    sign_in(page, f"{world.url}/kpis", "customer001")
    expect(page.locator("#table tr").nth(1)).to_contain_text("customer")
    expect(page.locator("select[name=by]")).to_be_disabled()
    expect(page.locator('#summary [data-kpi="idle_while_waiting_min_per_technician"] b')).to_have_text("–")
    other = browser.new_context()  # its own storage: not signed in as the customer
    try:
        tech = other.new_page()
        sign_in(tech, f"{world.url}/kpis", "tech01")
        expect(tech).to_have_url(f"{world.url}/tech")
    finally:
        other.close()


def test_board_strip_labels_the_promise_contract_and_idle_while_waiting(world: World, context) -> None:
    page = context.new_page()
    sign_in(page, f"{world.url}/board", "dispatcher")
    expect(page.locator("#kpi-onsite-promise")).to_contain_text("on site ≤ 2 h from incident open (promise)")
    expect(page.locator("#kpi-onsite-contract")).to_contain_text("on site by contract deadline")
    expect(page.locator("#kpi-ftf")).to_contain_text("first-time fix")
    # One job waits unassigned while two technicians are free: idle-while-waiting is more than zero.
    idle = page.locator("#kpi-idle b")
    expect(idle).not_to_have_text("–")
    assert float(idle.inner_text()) > 0
    page.get_by_role("link", name="KPIs").click()
    expect(page.locator("#charts canvas")).to_have_count(10)


def test_technician_ends_a_visit_unfixed_from_the_phone(world: World, phone) -> None:
    page = phone.new_page()
    sign_in(page, f"{world.url}/tech", "tech01")
    job = page.locator(f'li.job[data-wo="{world.assigned_wo}"]')
    job.get_by_role("button", name="On my way").click()
    job.get_by_role("button", name="Arrived").click()
    job.get_by_text("Could not fix it on this visit?").click()
    job.get_by_label("Why").select_option("wrong_part")
    job.get_by_role("button", name="Not fixed – return visit needed").click()
    expected = [(1, "completed", "wrong_part"), (2, "open", None)]

    def visits() -> list[tuple]:
        with psycopg.connect(world.db_url) as c:
            return c.execute("SELECT visit_no, status, outcome FROM work_orders WHERE incident_id = "
                             "(SELECT incident_id FROM work_orders WHERE id = %s) ORDER BY id",
                             (world.assigned_wo,)).fetchall()

    assert wait_for(lambda: visits() == expected)  # the phone sends its queued taps in the background
