"""Screenshots of the three views at the demo's state, for the README: docs/screenshots/{board,tech,portal}.png.

    .venv/bin/python scripts/screenshots.py [--seconds 240] [--speed 120] [--out docs/screenshots]
    (or: make screenshots)

Runs ``quietfix demo`` on a scratch database (created here, dropped afterwards) with its web server on a free
port, waits until the demo has real work on the board (assigned work orders and a current optimiser plan, or
``--seconds`` run out), then signs in with Playwright driving Debian's Chromium and captures ``/board`` (desktop)
as the dispatcher in a Chinese (zh-CN, Asia/Shanghai) browser, ``/tech`` (phone viewport, 390×844, English)
as a technician who holds a job, and ``/portal`` as a customer with an open incident. Nothing is staged: whatever the demo produced is what the pictures show.
Progress goes to stderr; the last stdout line is one JSON object with the files and the demo state captured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.db import drop_database
from core.settings import load_settings
from quietfix.seed import DEMO_PASSWORD

CHROMIUM = "/usr/bin/chromium"
# Enough on the board for a meaningful picture: several assigned jobs across technicians.
WANT_ASSIGNED = 4


def log(message: str) -> None:
    print(f"[screenshots {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def state(url: str) -> dict[str, int]:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM work_orders WHERE status IN ('assigned', 'en_route', 'on_site')),"
                " (SELECT count(*) FROM work_orders WHERE status IN ('open', 'assigned', 'en_route', 'on_site')),"
                " (SELECT count(*) FROM plans WHERE is_current), (SELECT count(*) FROM incidents)").fetchone()
    except psycopg.Error:
        return {}
    assert row is not None
    return {"active_assigned": row[0], "active": row[1], "plans": row[2], "incidents": row[3]}


def users(url: str) -> tuple[str, str]:
    """A technician holding an active job and a customer with an open incident (fallbacks: the first ones)."""
    with psycopg.connect(url) as conn:
        tech = conn.execute(
            "SELECT u.username FROM users u JOIN work_orders w ON w.technician_id = u.technician_id "
            "WHERE w.status IN ('assigned', 'en_route', 'on_site') GROUP BY u.username "
            "ORDER BY count(*) DESC, u.username LIMIT 1").fetchone()
        customer = conn.execute(
            "SELECT u.username FROM users u JOIN work_orders w ON w.customer_id = u.customer_id "
            "WHERE w.status IN ('assigned', 'en_route', 'on_site') ORDER BY w.id LIMIT 1").fetchone()
    return (tech[0] if tech else "tech01"), (customer[0] if customer else "customer001")


def sign_in(page, url: str, user: str) -> None:
    page.goto(url)  # by field name: the form speaks the browser's language
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.locator("#login-form button[type=submit]").click()


def capture(base: str, out: Path, tech: str, customer: str) -> list[str]:
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    files = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            # The board as a dispatcher in Shanghai sees it (Chinese browser), the phone as an English-speaking
            # technician: both languages in the README, each in the viewer's zone.
            ctx = browser.new_context(viewport={"width": 1440, "height": 1100}, locale="zh-CN",
                                      timezone_id="Asia/Shanghai")
            ctx.set_default_timeout(20_000)
            page = ctx.new_page()
            sign_in(page, f"{base}/board", "dispatcher")
            expect(page.locator("#queue > li").first).to_be_visible()
            expect(page.locator("#kpi-strip .kpi").first).to_be_visible()
            expect(page.locator("#live")).to_have_class(re.compile(r"\bok\b"))
            page.wait_for_timeout(1500)  # map markers and fitted bounds settle
            page.screenshot(path=str(out / "board.png"), full_page=True)
            files.append("board.png")
            ctx.close()

            ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                      has_touch=True, locale="en-GB", timezone_id="Europe/London")
            ctx.set_default_timeout(20_000)
            page = ctx.new_page()
            sign_in(page, f"{base}/tech", tech)
            expect(page.locator("#jobs > li").first).to_be_visible()
            page.wait_for_timeout(1500)  # the signal chart loads after the list
            page.screenshot(path=str(out / "tech.png"))  # the phone's first screen, as the technician sees it
            files.append("tech.png")
            ctx.close()

            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            ctx.set_default_timeout(20_000)
            page = ctx.new_page()
            sign_in(page, f"{base}/portal", customer)
            expect(page.locator("article.asset").first).to_be_visible()
            page.wait_for_timeout(1000)
            page.screenshot(path=str(out / "portal.png"), full_page=True)
            files.append("portal.png")
            ctx.close()
        finally:
            browser.close()
    return files


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=240.0, help="longest the demo may run before capturing")
    p.add_argument("--speed", type=float, default=120.0, help="demo clock speed")
    p.add_argument("--fault-rate", type=float, default=0.1, help="faults per device per simulated hour")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    p.add_argument("--database", default=f"quietfix_screens_{os.getpid()}")
    args = p.parse_args(argv)
    url = psycopg.conninfo.make_conninfo(load_settings().database_url, dbname=args.database)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "QUIETFIX_DATABASE_URL": url, "QUIETFIX_API__PORT": str(port),
           "QUIETFIX_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "quietfix.cli", "demo", "--for", str(args.seconds + 60), "--speed", str(args.speed),
           "--fault-rate", str(args.fault_rate)]
    log(f"demo on {args.database}, web on {base}: {' '.join(cmd[1:])}")
    demo = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        started = time.monotonic()
        seen: dict[str, int] = {}
        while time.monotonic() - started < args.seconds:
            if demo.poll() is not None:
                raise RuntimeError(f"demo exited with {demo.returncode}")
            seen = state(url)
            if seen.get("active_assigned", 0) >= WANT_ASSIGNED and seen.get("plans"):
                break
            time.sleep(3)
        log(f"demo state after {time.monotonic() - started:.0f} s: {seen}")
        tech, customer = users(url)
        files = capture(base, args.out, tech, customer)
        log(f"wrote {', '.join(files)} to {args.out}")
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        drop_database(url)
    print(json.dumps({"files": files, "out": str(args.out), "state": seen, "technician": tech, "customer": customer,
                      "elapsed_s": round(time.monotonic() - started, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
