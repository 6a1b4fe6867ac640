"""The route board's "Detection" strip (issue #19): stalled devices and clock faults, shown only when present."""

from __future__ import annotations

import time

import psycopg
import pytest
from playwright.sync_api import expect

from core.clock import to_datetime
from core.contracts import Sample, TelemetryBatch
from ingest.repository import write_batches
from tests.browser.conftest import World, sign_in

pytestmark = pytest.mark.integration


def test_board_lists_devices_whose_data_waits_for_detection_and_clock_faults(world: World, context) -> None:
    page = context.new_page()
    sign_in(page, f"{world.url}/board", "dispatcher")
    expect(page.locator("#queue > li[data-wo]")).to_have_count(3)
    expect(page.locator("#detection")).to_be_hidden()  # nothing wrong: no strip
    now = time.time()
    with psycopg.connect(world.db_url) as c:
        waiting, skewed = (r[0] for r in c.execute("SELECT id FROM devices ORDER BY id LIMIT 2"))
        # Diagnose is not running: this batch has waited 20 minutes; the other device's clock is a day ahead.
        write_batches(c, [TelemetryBatch(waiting, 1, (Sample(round((now - 1210) * 1000), (("flow_lpm", 1.0),)),))],
                      to_datetime(now - 1200), clock_skew_max_s=300)
        write_batches(c, [TelemetryBatch(skewed, 1, (Sample(round((now + 23 * 3600) * 1000), (("flow_lpm", 1.0),)),))],
                      to_datetime(now), clock_skew_max_s=300)
    page.reload()
    strip = page.locator("#detection")
    expect(strip).to_be_visible()
    expect(page.locator("#detection-msg")).to_contain_text("Detection stalled for 1 device")
    expect(strip).to_contain_text(waiting)
    expect(strip).to_contain_text("clock fault, 23.0 h ahead")
