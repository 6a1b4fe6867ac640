"""The three faces in a real browser: board with live updates, technician at phone size, customer portal NPS."""

from __future__ import annotations

import psycopg
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import World, shot, sign_in

pytestmark = pytest.mark.integration

# The accessibility probe run on each page: every form control has a label, text contrast meets WCAG AA.
A11Y_JS = """() => {
  const problems = [];
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
    if (!named) problems.push('unlabelled ' + el.outerHTML.slice(0, 80));
  }
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bg = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3); } return [255, 255, 255]; };
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('.leaflet-container, svg, [hidden]') || !el.offsetParent) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const cs = getComputedStyle(el);
    if (parseFloat(cs.opacity) < 1 || el.closest('.completed')) continue;
    const a = lum(rgb(cs.color).slice(0, 3)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const large = parseFloat(cs.fontSize) >= 18.66 && parseInt(cs.fontWeight) >= 700 || parseFloat(cs.fontSize) >= 24;
    if (ratio < (large ? 3 : 4.5)) problems.push(`contrast ${ratio.toFixed(2)} ${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 30)}"`);
  }
  return problems;
}"""


def assert_accessible(page) -> None:
    assert page.evaluate(A11Y_JS) == []


def assert_keyboard_focus_visible(page) -> None:
    """Tab reaches a control and its focus ring shows. A live redraw may replace the list in the instant between
    the key press and the read (the page then puts the focus back, tech.js captureUi): read again once settled."""
    page.keyboard.press("Tab")
    read = "() => [document.activeElement.tagName, getComputedStyle(document.activeElement).outlineStyle]"
    outline = page.evaluate(read)
    if outline[0] == "BODY":
        page.wait_for_timeout(300)
        outline = page.evaluate(read)
    assert outline[0] != "BODY" and outline[1] != "none", outline


def test_board_shows_queue_map_kpis_and_updates_live(world: World, context) -> None:
    page = context.new_page()
    sign_in(page, f"{world.url}/board", "dispatcher")
    queue = page.locator("#queue > li[data-wo]")
    expect(queue).to_have_count(3)
    expect(queue.first).to_have_class("late")  # an ETA past the on-site deadline is the biggest risk
    expect(queue.nth(1)).to_have_attribute("data-wo", str(world.unassigned_wo))  # then the response clock
    # incl. parts in transit (GET /api/spares/in-transit) and open escalations (GET /api/planning/escalations)
    expect(page.locator("#kpi-strip .kpi")).to_have_count(9)
    expect(page.locator("#kpi-escalations")).to_contain_text("0escalations open")
    assert page.get_by_role("link", name="Planning").get_attribute("href") == "/planning"
    expect(page.locator("#kpi-strip")).to_contain_text("incidents today")
    assert page.locator("#map path.leaflet-interactive").count() >= 3 + 4  # jobs, technicians, assignment lines
    expect(page.locator("#lanes .lane")).to_have_count(4)
    expect(page.locator("#live")).to_have_text("live")
    clocks = page.locator(f'#queue li[data-wo="{world.unassigned_wo}"] .clock')
    expect(clocks).to_have_count(2)  # unassigned: both the response and the on-site clock run
    first = clocks.first.text_content()
    page.wait_for_function("([sel, t]) => document.querySelector(sel).textContent !== t",
                           arg=[f'#queue li[data-wo="{world.unassigned_wo}"] .clock', first])
    assert_accessible(page)

    # Phone intake: a new incident in the same queue.
    page.get_by_label("Asset").fill("pump-0010")
    page.get_by_label("Reported by").select_option("phone")
    page.get_by_label("What is wrong").fill("Pump trips on start-up")
    page.get_by_role("button", name="Create incident").click()
    expect(page.locator("#intake-msg")).to_contain_text("created")
    expect(queue).to_have_count(4)
    # Manual assignment of the unassigned phone incident.
    item = page.locator(f'#queue li[data-wo="{world.unassigned_wo}"]')
    item.get_by_label(f"Technician for work order {world.unassigned_wo}").select_option(label=None, index=3)
    item.get_by_role("button", name="Assign").click()
    expect(page.locator(f'#queue li[data-wo="{world.unassigned_wo}"]')).to_contain_text("T04")
    # Something changes elsewhere (the field app, another dispatcher): the board follows without a reload.
    with psycopg.connect(world.db_url, autocommit=True) as c:
        c.execute("UPDATE work_orders SET status = 'on_site', arrived_at = now() WHERE id = %s", (world.assigned_wo,))
        c.execute("INSERT INTO timeline_events (customer_id, at, kind, summary, work_order_id) "
                  "SELECT customer_id, now(), 'technician_arrived', 'on site', id FROM work_orders WHERE id = %s",
                  (world.assigned_wo,))
    expect(page.locator(f'#queue li[data-wo="{world.assigned_wo}"]')).to_contain_text("on site since")
    shot(page, "board")


def test_technician_completes_a_job_offline_at_phone_size(world: World, phone) -> None:
    page = phone.new_page()
    sign_in(page, f"{world.url}/tech", "tech01")
    job = page.locator(f'li.job[data-wo="{world.assigned_wo}"]')
    expect(job).to_contain_text("Customer 001")
    expect(job).to_contain_text("vibration_mm_s above 7.1")
    expect(job.locator("svg.chart polyline")).to_have_count(1)  # the signal around the fault
    assert job.get_by_role("link", name="Navigate").get_attribute("href").startswith("geo:")
    assert page.evaluate("() => navigator.serviceWorker.ready.then((r) => r.scope)").endswith("/tech")
    assert_accessible(page)
    assert_keyboard_focus_visible(page)
    shot(page, "tech")

    job.get_by_role("button", name="On my way").click()
    expect(page.locator("#sync")).to_be_hidden()
    phone.set_offline(True)  # a basement without signal
    job.get_by_role("button", name="Arrived").click()
    job.get_by_label("Fault found").select_option("bearing_wear")  # structured outcome (#16 item 6)
    job.get_by_label("Fix", exact=True).select_option("bearing_replaced")
    job.get_by_label("Other parts used").fill("6204-2RS bearing, grease")
    job.get_by_role("button", name="Job done").click()
    expect(page.locator("#sync")).to_contain_text("2 actions waiting to sync")
    shot(page, "tech-offline")
    # Replays of the same actions (a flaky network sends twice) must not apply twice.
    queued = page.evaluate("() => JSON.parse(localStorage.getItem('qf-tech-queue'))")
    phone.set_offline(False)
    expect(page.locator("#sync")).to_be_hidden(timeout=20_000)
    for item in queued:
        r = page.request.post(f"{world.url}/api/tech/jobs/{item['work_order_id']}/actions", data=item["body"],
                              headers={"Authorization": "Bearer " + page.evaluate("localStorage.getItem('qf-token')")})
        assert r.ok and r.json()["duplicate"] is True
    expect(job).to_contain_text("Fixed: Bearing replaced")
    with psycopg.connect(world.db_url) as c:
        status, notes = c.execute("SELECT status, notes FROM work_orders WHERE id = %s",
                                  (world.assigned_wo,)).fetchone()
        actions = c.execute("SELECT action FROM technician_actions ORDER BY received_at").fetchall()
        kinds = [k for (k,) in c.execute("SELECT kind FROM timeline_events WHERE work_order_id = %s ORDER BY id",
                                         (world.assigned_wo,))]
    assert status == "completed" and "6204-2RS bearing" in notes
    assert [a for (a,) in actions] == ["en_route", "arrived", "completed"]
    assert kinds == ["incident_opened", "technician_en_route", "technician_arrived", "work_completed"]
    shot(page, "tech-done")


def test_a_job_assigned_elsewhere_reaches_the_open_phone_without_a_reload(world: World, phone) -> None:
    """The phone's live stream wakes on the database's NOTIFY (api/live.py; the safety poll is 20 s away)."""
    page = phone.new_page()
    sign_in(page, f"{world.url}/tech", "tech01")
    expect(page.locator(f'li.job[data-wo="{world.assigned_wo}"]')).to_be_visible()
    expect(page.locator(f'li.job[data-wo="{world.unassigned_wo}"]')).to_have_count(0)
    with psycopg.connect(world.db_url) as c:  # a dispatcher assigns it on another API process: one transaction
        c.execute("UPDATE work_orders SET status = 'assigned', assigned_at = now(), eta = now() + interval '1 hour', "
                  "technician_id = (SELECT technician_id FROM work_orders WHERE id = %s) WHERE id = %s",
                  (world.assigned_wo, world.unassigned_wo))
        c.execute("INSERT INTO timeline_events (customer_id, at, kind, summary, work_order_id) "
                  "SELECT customer_id, now(), 'technician_assigned', 'T01', id FROM work_orders WHERE id = %s",
                  (world.unassigned_wo,))
    expect(page.locator(f'li.job[data-wo="{world.unassigned_wo}"]')).to_be_visible()


def test_a_visit_completed_elsewhere_reaches_the_open_portal_without_a_reload(world: World, context) -> None:
    """The portal's live stream wakes on NOTIFY too: the finished visit's survey appears by itself."""
    page = context.new_page()
    sign_in(page, f"{world.url}/portal", "customer001")
    expect(page.locator(f'form.survey[data-wo="{world.completed_wo}"]')).to_be_visible()
    expect(page.locator(f'form.survey[data-wo="{world.assigned_wo}"]')).to_have_count(0)
    with psycopg.connect(world.db_url) as c:  # the technician's phone completes the job (another process)
        c.execute("UPDATE work_orders SET status = 'completed', arrived_at = now(), completed_at = now(), "
                  "actual_fix = 'bearing replaced' WHERE id = %s", (world.assigned_wo,))
        c.execute("INSERT INTO timeline_events (customer_id, at, kind, summary, work_order_id) "
                  "SELECT customer_id, now(), 'completed', 'bearing replaced', id FROM work_orders WHERE id = %s",
                  (world.assigned_wo,))
    expect(page.locator(f'form.survey[data-wo="{world.assigned_wo}"]')).to_be_visible()


def test_customer_sees_health_and_answers_nps_once(world: World, context) -> None:
    page = context.new_page()
    sign_in(page, f"{world.url}/portal", "customer001")
    assets = page.locator("article.asset")
    expect(assets).to_have_count(3)  # customer001's assets only
    expect(page.locator(".incident")).to_contain_text("Technician expected at")
    expect(page.locator("article.asset .contract").first).to_contain_text("Contract")  # covering contract shown
    page.locator("article.asset").first.get_by_role("button", name="Show timeline").click()
    expect(page.locator("ol.timeline").first).to_contain_text("seal leak suspected")  # its finished visit
    assert_accessible(page)
    form = page.locator(f'form.survey[data-wo="{world.completed_wo}"]')
    form.locator("label", has_text="9").last.click()
    form.get_by_label("Anything to add?").fill("Quick and friendly")
    shot(page, "portal-survey")
    form.get_by_role("button", name="Send answer").click()
    expect(page.locator("#surveys")).to_contain_text("Thank you")
    with psycopg.connect(world.db_url) as c:
        assert c.execute("SELECT work_order_id, score FROM nps_surveys").fetchall() == [(world.completed_wo, 9)]
    page.reload()
    expect(page.locator("article.asset")).to_have_count(3)
    expect(page.locator("#surveys")).to_be_hidden()  # asked once per work order
    page.get_by_label("E-mail: A technician is on the way").uncheck()
    expect(page.locator("#prefs-msg")).to_have_text("Saved.")
    with psycopg.connect(world.db_url) as c:
        assert c.execute("SELECT kind, channel, enabled FROM notification_preferences").fetchall() == [
            ("technician_assigned", "email", False)]
    shot(page, "portal")
