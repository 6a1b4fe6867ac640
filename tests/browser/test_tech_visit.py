"""The technician's visit steps on the phone at 390×844 (issue #15 item 3, #16 item 6): a structured completion
and the customer's drawn sign-off taken offline and replayed once; a return visit that says why the first
failed, on the phone and on the board; unused parts taken back to a depot, offline too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from playwright.sync_api import expect

from dispatch import complete_unfixed, depart, mark_arrived
from quietfix.seed import seed_spares
from spares.repository import SparesRepository
from tests.browser.conftest import World, shot, sign_in
from tests.browser.test_pages import assert_accessible
from tests.helpers import wait_for

pytestmark = pytest.mark.integration


def sign(page, job) -> None:
    """Draw a signature on the pad with the pointer, as a finger would."""
    pad = job.locator("canvas.sign-pad")
    box = pad.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] * 0.7)
    page.mouse.down()
    for i in range(1, 12):
        page.mouse.move(box["x"] + 20 + i * 25, box["y"] + box["height"] * (0.7 - 0.4 * (i % 2)))
    page.mouse.up()


def on_site(world: World, phone):  # type: ignore[no-untyped-def]
    """tech01's phone with the assigned job set off and arrived, both taps acknowledged by the server."""
    page = phone.new_page()
    sign_in(page, f"{world.url}/tech", "tech01")
    job = page.locator(f'li.job[data-wo="{world.assigned_wo}"]')
    job.get_by_role("button", name="On my way").click()
    job.get_by_role("button", name="Arrived").click()
    expect(page.locator("#sync")).to_be_hidden()
    return page, job


def rows(db_url: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(db_url) as c:
        return c.execute(sql, args).fetchall()


def test_structured_completion_and_sign_off_offline_then_replayed(world: World, phone) -> None:
    page, job = on_site(world, phone)
    expect(job.locator(".visit-times")).to_contain_text("Travel 0 min")  # set off and arrived just now

    phone.set_offline(True)  # the plant room has no signal
    page.wait_for_function("() => !navigator.onLine")
    job.get_by_label("Fault found").select_option("seal_leak")  # not what was diagnosed (bearing wear)
    job.get_by_label("Fix", exact=True).select_option("seal_replaced")
    job.get_by_label("Notes", exact=True).fill("Seal weeping at the drive end")
    job.get_by_role("button", name="Job done").click()
    expect(job).to_contain_text("Fixed: Seal replaced")
    job.get_by_text("Customer sign-off").click()
    job.get_by_role("button", name="Save sign-off").click()
    expect(job.locator(".sign-msg")).to_contain_text("customer's name")  # nothing queued without a name
    job.get_by_label("Customer's name").fill("王芳")
    job.get_by_role("button", name="Save sign-off").click()
    expect(job.locator(".sign-msg")).to_contain_text("sign in the box")  # nor without a signature
    sign(page, job)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    assert_accessible(page)
    shot(page, "tech-signoff")
    job.get_by_role("button", name="Save sign-off").click()
    expect(job).to_contain_text("Signed off by 王芳")
    expect(page.locator("#sync")).to_contain_text("2 actions waiting to sync")
    assert rows(world.db_url, "SELECT * FROM work_order_signoffs") == []  # nothing left the phone
    queued = page.evaluate("() => JSON.parse(localStorage.getItem('qf-tech-queue'))")

    phone.set_offline(False)
    expect(page.locator("#sync")).to_be_hidden(timeout=20_000)
    token = page.evaluate("localStorage.getItem('qf-token')")
    for item in queued:  # a flaky network sends each again: answered, not applied
        r = page.request.post(f"{world.url}/api/tech/jobs/{item['work_order_id']}/actions", data=item["body"],
                              headers={"Authorization": "Bearer " + token})
        assert r.ok and r.json()["duplicate"] is True
    [(name, width, height, size)] = rows(world.db_url, "SELECT signer_name, width, height, octet_length(image) "
                                                       "FROM work_order_signoffs WHERE work_order_id = %s",
                                         world.assigned_wo)
    assert (name, width, height) == ("王芳", 600, 200) and 500 < size < 65536
    [(found, code, notes)] = rows(world.db_url, "SELECT found_fault_mode, fix_code, notes FROM work_orders "
                                                "WHERE id = %s", world.assigned_wo)
    assert (found, code) == ("seal_leak", "seal_replaced") and notes.startswith("Seal weeping")
    kinds = [k for (k,) in rows(world.db_url, "SELECT kind FROM timeline_events WHERE work_order_id = %s ORDER BY id",
                                world.assigned_wo)]
    assert kinds[-2:] == ["work_completed", "customer_signed_off"] and kinds.count("customer_signed_off") == 1
    audited = {a for (a,) in rows(world.db_url, "SELECT action FROM audit_log WHERE target_id = %s",
                                  str(world.assigned_wo))}
    assert {"work_order.completed", "work_order.signed_off"} <= audited
    page.reload()  # the server's view: the signature image comes back from the API
    img = job.locator("img.signature")
    expect(img).to_have_attribute("src", __import__("re").compile("^blob:"))
    page.wait_for_function("() => document.querySelector('img.signature').naturalWidth === 600")
    shot(page, "tech-signed")


def test_return_visit_explains_the_first_and_unused_parts_go_back_to_a_depot(world: World, phone, context) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(world.db_url) as c:
        tech = c.execute("SELECT id FROM technicians WHERE code = 'T01'").fetchone()[0]
        seed_spares(c, [r[0] for r in c.execute("SELECT id FROM technicians ORDER BY id")])
        depart(c, world.assigned_wo, now - timedelta(minutes=70))
        mark_arrived(c, world.assigned_wo, now - timedelta(minutes=40))
        back = complete_unfixed(c, world.assigned_wo, now - timedelta(minutes=10), outcome="wrong_part",
                                actor="tech01", notes="Coupling insert not on the van")
        c.execute("UPDATE work_orders SET technician_id = %s, status = 'assigned', assigned_at = %s, eta = %s "
                  "WHERE id = %s", (tech, now - timedelta(minutes=5), now + timedelta(minutes=30), back))
        depot, depot_name = c.execute("SELECT id, name FROM stock_locations WHERE kind = 'depot' ORDER BY id"
                                      ).fetchone()
        sku = c.execute("SELECT sku FROM stock_levels WHERE location_id = %s AND on_hand >= 3 ORDER BY sku",
                        (depot,)).fetchone()[0]
        hold = SparesRepository(c).reserve(back, depot, sku, 3, now.timestamp())  # collect 3 at the depot
        c.execute("UPDATE reservations SET source_kind = 'depot', technician_id = %s WHERE id = %s", (tech, hold.id))
        depot_before = SparesRepository(c).level(depot, sku).on_hand

    board = context.new_page()
    sign_in(board, f"{world.url}/board", "dispatcher")
    item = board.locator(f'#queue li[data-wo="{back}"]')
    expect(item.locator(".return-visit")).to_have_text("visit 2 · visit 1: part missing")
    board.close()

    page = phone.new_page()
    sign_in(page, f"{world.url}/tech", "tech01")
    job = page.locator(f'li.job[data-wo="{back}"]')
    expect(job.locator(".visit-no")).to_have_text("Visit 2 of 2 on this incident")
    expect(job.locator(".prev-visit")).to_contain_text("the part needed was not at hand")
    expect(job.locator(".prev-visit")).to_contain_text("Coupling insert not on the van")
    first = page.locator(f'li.job[data-wo="{world.assigned_wo}"]')
    expect(first.locator(".visit-times")).to_have_text("Travel 30 min · On site 30 min")
    assert_accessible(page)
    shot(page, "tech-return-visit")
    job.get_by_role("button", name="On my way").click()
    job.get_by_role("button", name="Arrived").click()
    job.get_by_label(f"Parts used: {sku}").fill("1")  # three collected, one fitted
    job.get_by_label("Fix", exact=True).select_option("bearing_replaced")
    job.get_by_role("button", name="Job done").click()
    form = job.locator("form.return-form")
    expect(form).to_contain_text(f"2 × {sku}", timeout=20_000)  # back in the van, from the server's view
    choice = form.get_by_label("Depot")
    assert choice.locator("option").first.get_attribute("value") != str(depot)  # not the nearest, offered first
    choice.select_option(str(depot))
    # A re-draw between the choice and the tap (a live update, or the phone losing signal as here) once put the
    # select back on the nearest depot, and the parts went there: the whole-suite flake of this test.
    page.evaluate("() => { document.querySelector('form.return-form').dataset.drawn = 'before'; }")
    phone.set_offline(True)
    page.wait_for_function("() => !navigator.onLine && !document.querySelector('form.return-form').dataset.drawn")
    expect(choice).to_have_value(str(depot))
    form.get_by_role("button", name="Return to depot").click()
    expect(job).to_contain_text("Returned to the depot.")
    expect(page.locator("#sync")).to_contain_text("1 action waiting to sync")
    assert rows(world.db_url, "SELECT * FROM technician_step_actions") == []
    phone.set_offline(False)
    expect(page.locator("#sync")).to_be_hidden(timeout=20_000)

    def depot_level() -> int:
        return rows(world.db_url, "SELECT on_hand FROM stock_levels WHERE location_id = %s AND sku = %s",
                    depot, sku)[0][0]

    assert wait_for(lambda: depot_level() == depot_before - 1)  # three out, one fitted, two back
    kinds = [k for (k,) in rows(world.db_url, "SELECT kind FROM timeline_events WHERE work_order_id = %s "
                                              "ORDER BY id", back)]
    assert kinds.count("parts_returned") == 2  # into the van at completion, then to the depot
    audits = rows(world.db_url, "SELECT details->>'to' FROM audit_log WHERE action = 'work_order.parts_returned' "
                                "AND target_id = %s ORDER BY id", str(back))
    assert [a for (a,) in audits] == ["van", "depot"]
    expect(job.locator("form.return-form")).to_have_count(0)
    assert depot_name


def test_a_redraw_between_selecting_a_count_and_typing_keeps_the_selection(world: World, phone) -> None:
    """A live update (here: the signal dropping) re-draws the list while the technician has selected the planned
    count to type over it. The re-drawn field gets the focus and the selection back, so the typed "1" replaces
    the "3"; a number input had no selection to restore, and "1" became "13" (fitted 13, none back in the van)."""
    with psycopg.connect(world.db_url) as c:
        c.execute("UPDATE work_orders SET required_parts = '{\"BRG-6205-2RS\": 3}' WHERE id = %s",
                  (world.assigned_wo,))
    page, job = on_site(world, phone)
    count = job.get_by_label("Parts used: BRG-6205-2RS")
    expect(count).to_have_value("3")
    # Select and mark in one step: a re-draw from the arrival's own sync could detach a handle taken earlier.
    page.evaluate("""() => {
        const el = document.querySelector('input[data-sku="BRG-6205-2RS"]');
        el.focus(); el.select(); el.form.dataset.drawn = 'before'; }""")
    phone.set_offline(True)
    page.wait_for_function("() => !navigator.onLine && !document.querySelector('form.done-form').dataset.drawn")
    page.keyboard.insert_text("1")
    expect(count).to_have_value("1")
    phone.set_offline(False)


def test_waiting_for_a_part_is_tapped_offline_and_reaches_the_board_once(world: World, phone) -> None:
    """The technician's "waiting for a part" (issue #15 item 3): tapped without signal, queued, replayed once the
    phone is back; the job leaves the phone's list, the SLA pause starts at the tap, and a replay changes nothing."""
    page = phone.new_page()
    sign_in(page, f"{world.url}/tech", "tech01")
    job = page.locator(f'li.job[data-wo="{world.assigned_wo}"]')
    expect(job).to_be_visible()
    phone.set_offline(True)
    page.wait_for_function("() => !navigator.onLine")
    job.get_by_role("button", name="Waiting for a part").click()
    expect(job.locator(".chip").first).to_contain_text("on hold")  # shown at once, before the server knows
    expect(page.locator("#sync")).to_contain_text("1 action")
    queued = page.evaluate("() => JSON.parse(localStorage.getItem('qf-tech-queue'))")
    assert [q["kind"] for q in queued] == ["hold"] and queued[0]["body"]["kind"] == "awaiting_parts"
    assert rows(world.db_url, "SELECT status FROM work_orders WHERE id = %s", world.assigned_wo) != [("on_hold",)]

    phone.set_offline(False)
    expect(page.locator("#sync")).to_be_hidden(timeout=20_000)
    expect(job).to_have_count(0)  # no longer this technician's until it is planned again
    [(status,)] = rows(world.db_url, "SELECT status FROM work_orders WHERE id = %s", world.assigned_wo)
    [(kind, started)] = rows(world.db_url, "SELECT kind, started_at FROM work_order_pauses WHERE work_order_id = %s",
                             world.assigned_wo)
    assert status == "on_hold" and kind == "awaiting_parts"
    tapped = datetime.fromisoformat(queued[0]["body"]["at"])
    assert abs((started - tapped).total_seconds()) < 1  # the pause starts at the tap, not at the replay

    token = page.evaluate("localStorage.getItem('qf-token')")
    r = page.request.post(f"{world.url}/api/work-orders/{world.assigned_wo}/hold", data=queued[0]["body"],
                          headers={"Authorization": "Bearer " + token})  # a flaky network sends it again
    assert r.ok and r.json()["changed"] is False
    assert len(rows(world.db_url, "SELECT 1 FROM work_order_pauses WHERE work_order_id = %s", world.assigned_wo)) == 1
    audited = [a for (a,) in rows(world.db_url, "SELECT action FROM audit_log WHERE target_id = %s",
                                  str(world.assigned_wo)) if a == "work_order.awaiting_parts"]
    assert audited == ["work_order.awaiting_parts"]


def test_why_not_fixed_survives_a_redraw_and_is_what_the_server_records(world: World, phone) -> None:
    """The phone re-draws its list on every live update and when the signal drops; a reason chosen in the
    "could not fix it" form must not fall back to the first one (as the return depot once did)."""
    page, job = on_site(world, phone)
    job.get_by_text("Could not fix it on this visit?").click()
    why = job.get_by_label("Why")
    why.select_option("wrong_diagnosis")  # not the first option
    page.evaluate("() => { document.querySelector('form.done-form').dataset.drawn = 'before'; }")
    phone.set_offline(True)  # the phone re-draws its list when the signal drops
    page.wait_for_function("() => !navigator.onLine && !document.querySelector('form.done-form').dataset.drawn")
    expect(why).to_have_value("wrong_diagnosis")
    phone.set_offline(False)
    job.get_by_role("button", name="Not fixed – return visit needed").click()

    def outcome() -> list[tuple]:
        return rows(world.db_url, "SELECT outcome FROM work_orders WHERE id = %s", world.assigned_wo)

    assert wait_for(lambda: outcome() == [("wrong_diagnosis",)])
