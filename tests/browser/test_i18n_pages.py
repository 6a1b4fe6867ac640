"""Every page in Chinese and in English at phone size (issue #21 item 2): no raw catalogue key and, in zh-CN, no
English catalogue text left in what the page shows; times carry the viewer's zone; the language switch saves
the choice (audited) and the page follows it.

One test per language visits every page (sign-in, board, phone, portal, planning, KPIs, admin, audit) so the
world and the browser are set up once per language.
"""

from __future__ import annotations

import json
import re

import psycopg
import pytest
from playwright.sync_api import expect

from i18n.catalogue import CATALOGUES
from quietfix.seed import DEMO_PASSWORD
from tests.browser.conftest import World

pytestmark = pytest.mark.integration

EN = json.loads((CATALOGUES / "en.json").read_text(encoding="utf-8"))
ZH = json.loads((CATALOGUES / "zh-CN.json").read_text(encoding="utf-8"))
NAMESPACES = sorted({k.split(".", 1)[0] for k in EN})
RAW_KEY = re.compile(r"\b(?:" + "|".join(NAMESPACES) + r")\.[a-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*\b")
# Data-labelling namespaces (fault names, skills, equipment) also occur inside data the server wrote in English
# (incident summaries like "bearing wear suspected"): not page text, so not checked.
DATA_LABELS = ("fault.", "common.skill.", "common.equipment.", "common.tier.", "common.source.", "common.role.")


def _english_fragments() -> list[str]:
    """Literal runs of the English messages (between arguments) long enough to be unmistakable, that differ
    from the Chinese: if one shows on a zh-CN page, a string escaped translation."""
    out = set()
    for key, text in EN.items():
        if key.startswith(DATA_LABELS) or ZH.get(key) == text:
            continue
        for frag in re.split(r"\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", text):
            frag = frag.strip(" .,;:()–-")
            if len(frag) >= 12 and re.search(r"[a-z]{3}", frag) and frag not in ZH.get(key, ""):
                out.add(frag)
    return sorted(out)


FRAGMENTS = _english_fragments()
# (path, user, what must be drawn before the page is read: its last asynchronous parts)
PAGES = [("/board", "dispatcher", ("#queue li", "#kpi-strip .kpi", "#lanes .lane")),
         ("/planning", "dispatcher", ("#roster tr", "#contracts tbody tr", "#preventive tbody tr", "#escalations li")),
         ("/kpis", "dispatcher", ("#summary .kpi", "#table tr")),
         ("/admin", "admin", ("#tabs button", "[data-panel] tbody tr")),
         ("/audit", "admin", ("#rows tbody tr",)),
         ("/tech", "tech01", ("li.job dt",)),
         ("/portal", "customer001", ("article.asset", "#prefs tr", "#report-form option"))]


def _visible_text(page) -> str:
    return page.evaluate("() => document.body.innerText")


def _check(page, locale: str, where: str) -> None:
    text = _visible_text(page)
    # t() shows the key itself when no catalogue has it (a key added to neither file); audit action codes
    # ("auth.login") look alike but are data, so only real catalogue keys count.
    keys = [k for k in RAW_KEY.findall(text) if k in EN]
    assert not keys, f"{where}: raw catalogue keys on the page: {keys[:5]}"
    if locale == "zh-CN":
        left = [f for f in FRAGMENTS if f in text]
        assert not left, f"{where}: English left on the zh-CN page: {left[:5]}"
        assert re.search(r"[\u4e00-\u9fff]", text), f"{where}: no Chinese on the zh-CN page"
    assert page.evaluate("() => document.documentElement.lang") == locale, where


def _sign_in(page, url: str, user: str) -> None:
    page.goto(url)
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.locator("#login-form button[type=submit]").click()


@pytest.mark.parametrize("locale,zone,label", [("zh-CN", "Asia/Shanghai", "GMT+8"), ("en", "Europe/London", "GMT")])
def test_every_page_in_both_languages_at_phone_size(world: World, browser, locale: str, zone: str,
                                                    label: str) -> None:
    with psycopg.connect(world.db_url, autocommit=True) as c:
        # The technician's and the customer's records carry their language and zone; staff follow the browser.
        c.execute("UPDATE technicians SET language = %s, timezone = %s WHERE code = 'T01'", (locale, zone))
        c.execute("UPDATE customers SET language = %s, timezone = %s WHERE id = "
                  "(SELECT customer_id FROM users WHERE username = 'customer001')", (locale, zone))
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True,
                              has_touch=True, locale=locale, timezone_id=zone)
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{world.url}/")
        expect(page.locator("#login-form button[type=submit]")).to_be_visible()
        _check(page, locale, "sign-in")
        for path, user, ready in PAGES:
            page.evaluate("() => localStorage.clear()")
            _sign_in(page, f"{world.url}{path}", user)
            for selector in ready:
                expect(page.locator(selector).first).to_be_attached()
            _check(page, locale, path)
            if path in ("/board", "/tech", "/portal"):  # ETAs in the viewer's zone, the zone named
                expect(page.locator("#main")).to_contain_text(label)
        assert not errors, errors
    finally:
        ctx.close()


def test_language_switch_saves_the_choice_and_is_audited(world: World, browser) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="en", timezone_id="UTC")
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        _sign_in(page, f"{world.url}/board", "dispatcher")
        expect(page.locator("#app")).to_be_visible()  # signed in
        expect(page.locator("h1")).to_have_text("Route board")
        with page.expect_navigation():
            page.locator(".who [data-lang-switch] select").select_option("zh-CN")
        expect(page.locator("h1")).to_have_text("调度看板")
        # The choice belongs to the user, not the device: another browser in English opens in Chinese.
        other = browser.new_context(locale="en")
        try:
            p2 = other.new_page()
            _sign_in(p2, f"{world.url}/board", "dispatcher")
            expect(p2.locator("#app")).to_be_visible()
            expect(p2.locator("h1")).to_have_text("调度看板")
        finally:
            other.close()
    finally:
        ctx.close()
    with psycopg.connect(world.db_url) as c:
        lang, chosen = c.execute("SELECT language, language_chosen_at IS NOT NULL FROM users "
                                 "WHERE username = 'dispatcher'").fetchone()
        audited = c.execute("SELECT details FROM audit_log WHERE action = 'auth.locale_changed' "
                            "AND actor = 'dispatcher'").fetchall()
    assert (lang, chosen) == ("zh-CN", True)
    assert [a[0]["after"]["language"] for a in audited] == ["zh-CN"]
