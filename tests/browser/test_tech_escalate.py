"""Escalation from the phone: the technician hands a job to remote support with a photo, notes and a telemetry
window, offline too (queued with its key, sent once when the signal is back); the staff queue (board KPI) and
remote support's desk (planning page) show it; support's answer comes back to the phone."""

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

    phone.set_offline(True)  # queued with its escalation key, like the job steps
    page.wait_for_function("() => !navigator.onLine")  # the emulation reaches the page asynchronously
    form.get_by_role("button", name="Send escalation").click()
    sent = job.locator(".escalations")
    expect(sent).to_contain_text("Noise persists after regreasing")
    expect(sent).to_contain_text("queued: sends when you have signal")
    expect(page.locator("#sync")).to_contain_text("1 action waiting to sync")
    expect(job.locator("details.escalate")).not_to_have_attribute("open", "")  # the form is emptied and closed
    assert job.get_by_label("Reason").input_value() == ""
    shot(page, "tech-escalation-queued")

    def escalations() -> list[tuple]:
        with psycopg.connect(world.db_url) as c:
            return c.execute("SELECT tier, raised_by, evidence, client_key FROM escalations WHERE work_order_id = %s",
                             (world.assigned_wo,)).fetchall()

    assert escalations() == []  # nothing left the phone
    phone.set_offline(False)  # the page's "online" handler replays the queue
    expect(sent).to_contain_text("waiting for an answer")
    expect(page.locator("#sync")).to_be_hidden()
    shot(page, "tech-escalated")
    [(tier, raised_by, evidence, key)] = escalations()
    assert (tier, raised_by) == (2, "tech01") and key is not None
    assert evidence["telemetry_minutes"] == 90 and evidence["notes"] == "Shaft play at the drive end"
    [photo] = evidence["photos"]
    assert photo["media_type"] == "image/jpeg"  # scaled on the phone, stored apart from the evidence
    with psycopg.connect(world.db_url) as c:
        data = c.execute("SELECT data FROM escalation_photos WHERE id = %s", (photo["id"],)).fetchone()[0]
    assert bytes(data[:2]) == b"\xff\xd8" and len(data) == photo["bytes"]
    # A replay of the same request (an answer lost in a dead zone) is answered with the first escalation.
    replay = page.evaluate("""async ([wo, key]) => {
        const r = await fetch(`/api/planning/work-orders/${wo}/escalate`, { method: "POST",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${localStorage.getItem("qf-token")}` },
          body: JSON.stringify({ reason: "Noise persists after regreasing", escalation_key: key }) });
        return [r.status, (await r.json()).duplicate]; }""", [world.assigned_wo, str(key)])
    assert replay == [200, True] and len(escalations()) == 1

    staff = context.new_page()
    sign_in(staff, f"{world.url}/board", "dispatcher")
    expect(staff.locator("#kpi-escalations")).to_contain_text("1escalations open")
    staff.evaluate("() => localStorage.clear()")  # the same browser profile signs in as someone else next
    staff.close()

    desk = context.new_page()  # remote technical support: its queue only, no planning views
    sign_in(desk, f"{world.url}/", "support")
    desk.wait_for_url("**/planning")
    tier2 = desk.locator(".queue-tier").first
    expect(tier2).to_contain_text("Noise persists after regreasing")
    expect(tier2).to_contain_text("1 photo,")
    assert desk.locator("#forecast").count() == 0 and desk.locator(".queue-tier").count() == 1
    tier2.get_by_role("button", name="Photo 1").click()
    expect(tier2.locator("img.esc-photo")).to_be_visible()
    assert desk.evaluate("() => document.querySelector('img.esc-photo').naturalWidth") == 2
    assert_accessible(desk)
    answers = chain(["Replace the coupling insert", "worn coupling", "coupling insert replaced"], repeat(""))
    desk.on("dialog", lambda d: d.accept(next(answers)))
    tier2.get_by_role("button", name="Resolve…").click()
    expect(desk.locator("#esc-msg")).to_contain_text("resolved")
    shot(desk, "support-desk")

    page.reload()
    expect(job.locator(".escalations")).to_contain_text("Answer: Replace the coupling insert")
    expect(job.locator(".escalations")).to_contain_text("answered")
