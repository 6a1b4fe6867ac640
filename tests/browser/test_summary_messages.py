"""Timeline and incident summaries in the viewer's language (migration 0821): the customer portal in Chinese
shows an event written as a message in Chinese, in the customer's zone, and an event written before the
migration (English text only) as it was written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from playwright.sync_api import expect
from psycopg.types.json import Jsonb

from core.contracts import EventMessage
from core.events import record_timeline
from i18n import Message
from ingest.events import store_events
from tests.browser.conftest import World, sign_in
from tests.browser.test_pages import assert_accessible

pytestmark = pytest.mark.integration


def test_portal_timeline_and_incident_in_the_customers_language(world: World, context) -> None:
    at = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(world.db_url) as c:
        device, customer, language, zone = c.execute(
            "SELECT d.id, c.id, c.language, c.timezone FROM devices d JOIN customers c ON c.id = d.customer_id "
            "JOIN users u ON u.customer_id = c.id WHERE u.username = 'customer001' ORDER BY d.id LIMIT 1").fetchone()
        record_timeline(c, customer_id=customer, device_id=device, at=at, kind="survey_answered",
                        message=Message("summary.rated", {"score": 9}))
        record_timeline(c, customer_id=customer, device_id=device, at=at + timedelta(seconds=1), kind="note_legacy",
                        summary="Old note, written in English")
        # A device event as ingest writes it (ingest/events.py): its line is a message too.
        seq = 1 + (c.execute("SELECT max(seq) FROM device_events WHERE device_id = %s", (device,)).fetchone()[0] or 0)
        store_events(c, [EventMessage(device, seq, int(at.timestamp() * 1000) + 2000, "alarm_raised",
                                      {"signal": "flow_lpm", "value": 3.5})], at)
        incident = c.execute(
            "INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, summary, "
            "summary_message, opened_at, response_due, onsite_due, repair_due) VALUES (%s, %s, 'seal_leak', "
            "'test', 2, 'detected', 'seal leak suspected on it', %s, %s, %s, %s, %s) RETURNING id",
            (device, customer, Jsonb(Message("summary.reportedPortal", {"text": "漏水"}).to_json()),
             at, at, at + timedelta(hours=2), at + timedelta(hours=24))).fetchone()[0]
        # The customer's record carries the language the portal uses (staff pages follow the browser).
        c.execute("UPDATE customers SET language = 'zh-CN', timezone = 'Asia/Shanghai' WHERE id = %s", (customer,))
    try:
        page = context.new_page()
        sign_in(page, f"{world.url}/portal", "customer001")
        card = page.locator("article.asset", has=page.locator(f'[id="asset-{device}"]'))
        expect(card.locator(".incident").first).to_be_attached()
        expect(card).to_contain_text("经客户门户报告：漏水")
        card.locator(f'[data-timeline="{device}"]').click()
        timeline = page.locator(f'[id="tl-{device}"]')
        expect(timeline).to_contain_text("客户为本次上门打分 9/10")
        expect(timeline).to_contain_text("Old note, written in English")  # a row from before: as written
        expect(timeline).not_to_contain_text("Customer rated the visit")
        expect(timeline).to_contain_text(f"{device}：flow_lpm 报警（3.5）")
        expect(timeline).not_to_contain_text("alarm on flow_lpm")
        assert_accessible(page)
    finally:
        with psycopg.connect(world.db_url) as c:  # the browser tests share one world
            c.execute("UPDATE customers SET language = %s, timezone = %s WHERE id = %s", (language, zone, customer))
            c.execute("UPDATE incidents SET status = 'closed', closed_at = now() WHERE id = %s", (incident,))
