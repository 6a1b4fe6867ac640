"""Escalation from the phone: the technician hands a job to remote support with a photo, notes and a telemetry
window; the staff queue (board KPI, planning page) shows it; the answer comes back to the phone."""

from __future__ import annotations

import base64
from itertools import chain, repeat

import psycopg
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import World, shot, sign_in
from tests.browser.test_pages import assert_accessible

pytestmark = pytest.mark.integration

# A 2×2 red PNG: small enough to keep in the test, a real image for the page's canvas downscaling.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==")


def test_technician_escalates_from_the_phone_and_staff_answer(world: World, phone, context) -> None:
    page = phone.new_page()
    sign_in(page, f"{world.url}/tech", "tech01")
    job = page.locator(f'li.job[data-wo="{world.assigned_wo}"]')
    expect(job).to_contain_text("Customer 001")
    summary = job.locator("details.escalate summary")
    summary.focus()
    page.keyboard.press("Enter")  # keyboard-usable: the disclosure opens without a pointer
    form = job.locator("form.esc-form")
    expect(form).to_be_visible()
    assert_accessible(page)
    form.get_by_label("Reason").fill("Noise persists after regreasing")
    form.get_by_label("Notes for support").fill("Shaft play at the drive end")
    form.get_by_label("Photo (optional)").set_input_files({"name": "bearing.png", "mimeType": "image/png",
                                                           "buffer": PNG})
    expect(form).to_contain_text("Photo attached: bearing.png")
    form.get_by_label("Telemetry window").fill("90")

    phone.set_offline(True)  # not queued: the endpoint has no client id to deduplicate a replay
    page.wait_for_function("() => !navigator.onLine")  # the emulation reaches the page asynchronously
    form.get_by_role("button", name="Send escalation").click()
    expect(form.locator(".esc-msg")).to_contain_text("Offline")
    phone.set_offline(False)
    page.wait_for_function("() => navigator.onLine")
    form.get_by_role("button", name="Send escalation").click()
    sent = job.locator(".escalations")
    expect(sent).to_contain_text("Noise persists after regreasing")
    expect(sent).to_contain_text("waiting for an answer")
    shot(page, "tech-escalated")
    with psycopg.connect(world.db_url) as c:
        tier, raised_by, evidence = c.execute("SELECT tier, raised_by, evidence FROM escalations WHERE work_order_id = %s",
                                              (world.assigned_wo,)).fetchone()
    assert (tier, raised_by) == (2, "tech01")
    assert evidence["telemetry_minutes"] == 90 and evidence["notes"] == "Shaft play at the drive end"
    assert len(evidence["photos"]) == 1 and evidence["photos"][0].startswith("data:image/jpeg;base64,")

    staff = context.new_page()
    sign_in(staff, f"{world.url}/board", "dispatcher")
    expect(staff.locator("#kpi-escalations")).to_contain_text("1escalations open")
    staff.set_default_timeout(30_000)  # the planning page fits forecasts: allow for a machine under load
    staff.locator("#kpi-escalations").click()
    tier2 = staff.locator(".queue-tier").first
    expect(tier2).to_contain_text("Noise persists after regreasing")
    expect(tier2).to_contain_text("1 photo(s)")
    answers = chain(["Replace the coupling insert", "worn coupling", "coupling insert replaced"], repeat(""))
    staff.on("dialog", lambda d: d.accept(next(answers)))
    tier2.get_by_role("button", name="Resolve…").click()
    expect(staff.locator("#esc-msg")).to_contain_text("resolved")

    page.reload()
    expect(job.locator(".escalations")).to_contain_text("Answer: Replace the coupling insert")
    expect(job.locator(".escalations")).to_contain_text("answered")
