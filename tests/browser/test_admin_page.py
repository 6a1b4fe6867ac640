"""The admin pages in a real browser: onboarding by form (names in any script), field errors shown where the
field is, a device credential shown once, a technician's calendar, the CSV upload, and the dispatcher's view."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import expect

from core.provision import revoke
from core.settings import Settings
from quietfix.seed import DEMO_PASSWORD
from tests.administration.onboarding import write
from tests.browser.conftest import World, shot, sign_in
from tests.browser.test_pages import assert_accessible

pytestmark = pytest.mark.integration


def save(page, tab: str, values: dict[str, str]) -> None:
    page.get_by_role("tab", name=tab).click()
    form = page.locator(f"[data-form='{tab.lower()}']")
    form.get_by_role("button", name="Clear").click()
    for name, value in values.items():
        field = form.locator(f"[name='{name}']")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.get_by_role("button", name="Save").click()


def test_admin_onboards_by_form_and_sees_field_errors(world: World, context, settings: Settings,
                                                      tmp_path: Path) -> None:
    device_id = f"ui-{uuid.uuid4().hex[:8]}"
    page = context.new_page()
    sign_in(page, f"{world.url}/admin", "admin")
    expect(page.get_by_role("tab", name="Customers")).to_be_visible()
    save(page, "Customers", {"code": "HUA", "name": "华东制冷有限公司", "tier": "key", "language": "zh-Hans",
                             "timezone": "Mars/Base"})
    form = page.locator("[data-form='customers']")
    expect(form.locator("#customers-timezone-err")).to_contain_text("IANA")
    expect(form.locator("[name='timezone']")).to_have_attribute("aria-invalid", "true")
    form.locator("[name='timezone']").fill("Asia/Shanghai")
    form.get_by_role("button", name="Save").click()
    expect(page.locator("[data-panel='customers'] .msg").first).to_contain_text("Created: HUA")
    expect(page.locator("[data-panel='customers'] tr[data-key='HUA']")).to_contain_text("华东制冷有限公司")
    save(page, "Sites", {"code": "HUA-SH1", "customer_code": "HUA", "name": "上海一厂", "lat": "31.22",
                         "lon": "121.54", "access_hours": "Mon-Fri 08:00-18:00"})
    expect(page.locator("[data-panel='sites'] tr[data-key='HUA-SH1']")).to_be_visible()
    save(page, "Assets", {"serial": "SN-UI-1", "site_code": "HUA-SH1", "equipment_type": "chiller",
                          "installed_on": "2020-05-01", "device_id": device_id})
    expect(page.locator("[data-panel='assets'] tr[data-key='SN-UI-1']")).to_contain_text(device_id)
    page.get_by_role("tab", name="Devices").click()
    row = page.locator(f"[data-panel='devices'] tr[data-key='{device_id}']")
    try:
        row.get_by_role("button", name="Provision").click()
        expect(page.locator("#secret")).to_contain_text(f"Device {device_id}: user name {device_id}, password ")
    finally:
        revoke(settings, [device_id])
    save(page, "Technicians", {"code": "T-CN1", "name": "王伟", "skills": "refrigeration", "home_lat": "31.23",
                               "home_lon": "121.47", "shift": "Mon-Fri 08:00-17:00", "timezone": "Asia/Shanghai"})
    expect(page.locator("[data-panel='technicians'] tr[data-key='T-CN1']")).to_contain_text("王伟")
    # A row fills the form with what is stored; saving it again changes nothing.
    page.locator("[data-panel='technicians'] tr[data-key='T-CN1'] td").first.click()
    tform = page.locator("[data-form='technicians']")
    expect(tform.locator("[name='shift']")).to_have_value("Mon,Tue,Wed,Thu,Fri 08:00-17:00")
    tform.get_by_role("button", name="Save").click()
    expect(page.locator("[data-panel='technicians'] .msg").first).to_contain_text("Unchanged: T-CN1")
    cal = page.locator("[data-cal='absence']")
    cal.locator("[name='code']").fill("T-CN1")
    cal.locator("[name='starts_at']").fill("2026-12-24T08:00")
    cal.locator("[name='ends_at']").fill("2026-12-27T08:00")
    cal.get_by_role("button", name="Add absence").click()
    expect(cal.locator(".msg")).to_contain_text("optimiser")
    save(page, "Contracts", {"code": "K-HUA", "customer_code": "HUA", "tier": "key", "coverage": "24x7",
                             "onsite_min": "60", "response_min": "120", "starts_on": "2026-01-01"})
    expect(page.locator("#contracts-onsite_min-err")).to_contain_text("shorter than the response")
    assert_accessible(page)
    shot(page, "admin-contract-error")
    with psycopg.connect(world.db_url) as c:
        assert c.execute("SELECT name, timezone FROM customers WHERE code = 'HUA'").fetchone() == (
            "华东制冷有限公司", "Asia/Shanghai")
        assert c.execute("SELECT count(*) FROM technician_absences a JOIN technicians t ON t.id = a.technician_id "
                         "WHERE t.code = 'T-CN1'").fetchone()[0] == 1
        assert c.execute("SELECT count(*) FROM contracts WHERE code = 'K-HUA'").fetchone()[0] == 0

    # The same files as `quietfix import`, uploaded: an error is listed with its line and nothing is written.
    folder = write(tmp_path / "bad", prefix="ui-imp-", sites_csv="code,customer_code,name,address,lat,lon,access_hours\n"
                   "ACME-RTM,ACME,Rotterdam,,51.9,4.4,sometimes\n")
    page.get_by_role("tab", name="Import").click()
    page.locator("#import-form [name='files']").set_input_files(sorted(str(p) for p in folder.iterdir()))
    page.locator("#import-form").get_by_role("button", name="Import").click()
    expect(page.locator("#import-report")).to_contain_text("access_hours")
    expect(page.locator("#import-report tbody tr")).to_have_count(1)
    expect(page.locator("[data-panel='import'] .msg")).to_contain_text("nothing was written")
    good = write(tmp_path / "good", prefix="ui-imp-")
    page.locator("#import-form [name='files']").set_input_files(sorted(str(p) for p in good.iterdir()))
    page.locator("#import-form").get_by_role("button", name="Import").click()
    # HUA, its site and T-CN1 were entered by form above: the import updates them and creates the rest.
    expect(page.locator("[data-panel='import'] .msg")).to_contain_text(
        "created customers 1, sites 1, assets 2, technicians 1, contracts 2; updated customers 1, sites 1")
    shot(page, "admin-import")


def test_dispatcher_edits_calendars_only(world: World, context) -> None:
    page = context.new_page()
    sign_in(page, f"{world.url}/admin", "dispatcher")
    expect(page.get_by_role("tab")).to_have_count(1)
    expect(page.get_by_role("tab", name="Technicians")).to_be_visible()
    expect(page.locator("[data-form='technicians']")).to_have_count(0)  # no master-data form
    pattern = page.locator("[data-cal='pattern']")
    pattern.locator("[name='code']").fill("T01")
    pattern.get_by_role("button", name="Save working pattern").click()
    expect(pattern.locator(".msg")).to_contain_text("optimiser")
    expect(page.locator("[data-panel='technicians'] tr[data-key='T01']")).to_contain_text("08:00:00")
    assert_accessible(page)


def test_customer_reports_a_problem_from_the_portal(world: World, context, tmp_path: Path) -> None:
    photo = tmp_path / "leak.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    page = context.new_page()
    sign_in(page, f"{world.url}/portal", "customer001")
    form = page.locator("#report-form")
    expect(form.locator("select[name='asset'] option").first).to_be_attached()
    asset = form.locator("select[name='asset']").input_value()
    form.locator("textarea[name='summary']").fill("x")
    form.evaluate("f => f.noValidate = true")  # let the server's validation answer, as for a scripted client
    form.get_by_role("button", name="Send report").click()
    expect(page.locator("#report-summary-err")).to_contain_text("3 to 1000 characters")
    form.locator("textarea[name='summary']").fill("Oil on the floor under the pump, it smells burnt")
    form.locator("input[name='photo']").set_input_files(str(photo))
    form.get_by_role("button", name="Send report").click()
    expect(page.locator("#report-msg")).to_contain_text("is in our queue")
    assert_accessible(page)
    with psycopg.connect(world.db_url) as c:
        row = c.execute("SELECT i.source, i.status, w.status, (SELECT count(*) FROM incident_photos p "
                        "WHERE p.incident_id = i.id) FROM incidents i JOIN work_orders w ON w.incident_id = i.id "
                        "WHERE i.device_id = %s AND i.fault_mode = 'customer_report'", (asset,)).fetchone()
    assert row == ("portal", "work_order", "open", 1)


def test_admin_edits_sla_pause_rules_per_tier_and_per_contract(world: World, context, browser) -> None:
    """Tier defaults in their card, a contract's own rules in its form; the list says what each contract's clock
    does (its rule, or its tier's default); a refused value is shown at its field; the card in Chinese too."""
    page = context.new_page()
    sign_in(page, f"{world.url}/admin", "admin")
    save(page, "Customers", {"code": "PAU", "name": "Pause Test BV", "tier": "gold", "timezone": "Europe/Amsterdam"})
    expect(page.locator("[data-panel='customers'] tr[data-key='PAU']")).to_be_visible()
    page.get_by_role("tab", name="Contracts").click()
    gold = page.locator("#tier-pauses tr[data-tier='gold']")
    expect(gold.locator("select[name='on_hold']")).to_have_value("yes")
    expect(gold.locator("select[name='awaiting_parts']")).to_have_value("no")
    try:
        gold.locator("select[name='on_hold']").select_option("no")
        gold.get_by_role("button", name="Save gold").click()
        expect(page.locator("#pause-msg")).to_have_text("Updated: gold")
        with psycopg.connect(world.db_url) as c:
            assert c.execute("SELECT pauses_sla FROM sla_pause_rules WHERE tier = 'gold' AND kind = 'on_hold'"
                             ).fetchone() == (False,)
        save(page, "Contracts", {"code": "K-PAU", "customer_code": "PAU", "tier": "gold", "coverage": "24x7",
                                 "starts_on": "2026-01-01", "pause_awaiting_parts": "yes"})
        row = page.locator("[data-panel='contracts'] tr[data-key='K-PAU']")
        expect(row.locator("td[data-col='pause_awaiting_parts']")).to_have_text("Stops the clock")
        expect(row.locator("td[data-col='pause_on_hold']")).to_have_text("Tier default: Clock runs")
        expect(row.locator("td[data-col='pause_customer_window']")).to_have_text("Tier default: Stops the clock")
        # The stored rules fill the form; a value the server refuses is shown at its field, nothing written.
        row.locator("td").first.click()
        form = page.locator("[data-form='contracts']")
        expect(form.locator("[name='pause_awaiting_parts']")).to_have_value("yes")
        expect(form.locator("[name='pause_on_hold']")).to_have_value("default")
        form.locator("[name='pause_on_hold']").evaluate("s => s.add(new Option('maybe', 'maybe', true, true))")
        form.get_by_role("button", name="Save").click()
        expect(form.locator("#contracts-pause_on_hold-err")).to_contain_text("yes (the clock stops), no (it runs)")
        expect(form.locator("[name='pause_on_hold']")).to_have_attribute("aria-invalid", "true")
        assert_accessible(page)
        shot(page, "admin-pause-rules")
        with psycopg.connect(world.db_url) as c:
            assert dict(c.execute("SELECT kind, pauses_sla FROM sla_pause_rules WHERE contract_code = 'K-PAU'"
                                  ).fetchall()) == {"awaiting_parts": True}
            assert [r[0] for r in c.execute("SELECT target_type FROM audit_log WHERE action = "
                                            "'admin.sla_pause_rules.updated' ORDER BY id")] == ["tier", "contract"]
        zh = browser.new_context(locale="zh-CN")
        try:
            p2 = zh.new_page()
            sign_in_zh(p2, f"{world.url}/admin#contracts")
            card = p2.locator("#tier-pauses")
            expect(card).to_contain_text("客户暂停时停止计时")
            expect(p2.locator("[data-panel='contracts'] tr[data-key='K-PAU'] td[data-col='pause_on_hold']")
                   ).to_have_text("按等级默认：继续计时")
            expect(p2.locator("#pause-h")).to_have_text("SLA 计时暂停：各等级默认规则")
            # A refused value's reason in the reader's language (admin.reason.*), not the server's English.
            p2.locator("[data-panel='contracts'] tr[data-key='K-PAU'] td").first.click()
            f2 = p2.locator("[data-form='contracts']")
            f2.locator("[name='pause_on_hold']").evaluate("s => s.add(new Option('maybe', 'maybe', true, true))")
            f2.locator("button[type=submit]").click()
            expect(f2.locator("#contracts-pause_on_hold-err")).to_have_text(
                "'maybe' 不是暂停规则：yes（计时暂停）、no（计时继续）或 default（沿用等级的规则）")
        finally:
            zh.close()
    finally:
        with psycopg.connect(world.db_url) as c:  # the browser tests share one world: put gold's default back
            c.execute("UPDATE sla_pause_rules SET pauses_sla = true WHERE tier = 'gold' AND kind = 'on_hold'")


def sign_in_zh(page, url: str) -> None:
    page.goto(url)
    page.locator("input[name=username]").fill("admin")
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.locator("#login-form button[type=submit]").click()
