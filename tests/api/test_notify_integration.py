"""The notification sender against a real SMTP server (aiosmtpd) and a real HTTP receiver, on the real database."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import psycopg
import pytest
from aiosmtpd.controller import Controller

from api.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, Notifier, NotifyConfig, run_notifier, verify
from api.notify.policy import backoff_s
from core.clock import ManualClock, to_datetime
from core.events import queue_notification
from core.settings import Settings
from quietfix.seed import seed
from tests.services import free_port

pytestmark = pytest.mark.integration
SECRET = "whsec-test-1"


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture()
def smtp() -> Iterator[tuple[_Inbox, int]]:
    inbox, port = _Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


class _Receiver(BaseHTTPRequestHandler):
    fail_next = 0
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_next > 0:
            _Receiver.fail_next -= 1
            self.send_response(503)
        else:
            _Receiver.received.append((dict(self.headers), body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture()
def receiver() -> Iterator[str]:
    _Receiver.fail_next, _Receiver.received = 0, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/quietfix"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def outbox(conn: psycopg.Connection, receiver: str) -> dict[str, int]:
    devices = seed(conn, devices=6, technicians=1, users=False)
    c1, c2 = devices[0].customer_id, devices[1].customer_id
    conn.execute("INSERT INTO webhook_endpoints (customer_id, url, secret) VALUES (%s, %s, %s)", (c1, receiver, SECRET))
    conn.execute("INSERT INTO notification_preferences VALUES (%s, 'technician_assigned', 'email', false)", (c2,))
    at = to_datetime(ManualClock().now())
    ids = {
        "c1": queue_notification(conn, customer_id=c1, device_id=devices[0].device_id, at=at,
                                 kind="incident_detected", subject="We detected a problem", body="Details"),
        "c2_muted": queue_notification(conn, customer_id=c2, at=at, kind="technician_assigned",
                                       subject="On the way", body="ETA 10:30"),
        "c2": queue_notification(conn, customer_id=c2, at=at, kind="work_completed", subject="Repaired",
                                 body="Done"),
    }
    conn.commit()
    return ids


def _row(db_url: str, nid: int) -> tuple:
    with psycopg.connect(db_url) as c:
        return c.execute("SELECT sent_at IS NOT NULL, attempts, next_attempt_at, last_error FROM notifications "
                         "WHERE id = %s", (nid,)).fetchone()


def test_sends_mail_and_signed_webhook_honouring_preferences(db_url, smtp, receiver, outbox) -> None:
    inbox, port = smtp
    clock = ManualClock()
    notifier = Notifier(NotifyConfig(smtp_port=port, timeout_s=5), clock)
    with psycopg.connect(db_url, autocommit=True) as c:
        assert notifier.tick(c) == 3
        assert notifier.tick(c) == 0  # nothing left: no second mail, no second hook
    assert sorted(rcpt[0] for rcpt, _ in inbox.messages) == ["ops001@customer.example", "ops002@customer.example"]
    mail = message_from_bytes(next(m for r, m in inbox.messages if r == ["ops001@customer.example"]))
    assert mail["Subject"] == "We detected a problem" and mail["Message-ID"] == f"<quietfix-notification-{outbox['c1']}@quietfix>"
    assert [json.loads(b)["id"] for _, b in _Receiver.received] == [outbox["c1"]]
    headers, body = _Receiver.received[0]
    assert verify(SECRET, int(headers[TIMESTAMP_HEADER]), body, headers[SIGNATURE_HEADER], now=clock.now())
    assert headers["Idempotency-Key"] == f"quietfix-notification-{outbox['c1']}"
    sent, attempts, _, note = _row(db_url, outbox["c2_muted"])
    assert sent and attempts == 1 and note == "no enabled channel"  # the customer turned this kind off


def test_failed_webhook_is_retried_after_backoff_without_resending_mail(db_url, smtp, receiver, outbox) -> None:
    inbox, port = smtp
    _Receiver.fail_next = 1
    clock = ManualClock()
    notifier = Notifier(NotifyConfig(smtp_port=port, timeout_s=5), clock)
    with psycopg.connect(db_url, autocommit=True) as c:
        assert notifier.tick(c) == 2
        sent, attempts, next_at, error = _row(db_url, outbox["c1"])
        assert not sent and attempts == 1 and "HTTP 503" in error
        assert next_at == to_datetime(clock.now() + backoff_s(1))
        assert notifier.tick(c) == 0  # not due yet
        clock.advance(backoff_s(1))
        assert notifier.tick(c) == 1
    assert _row(db_url, outbox["c1"])[:2] == (True, 2)
    mails_to_c1 = [m for r, m in inbox.messages if r == ["ops001@customer.example"]]
    assert len(mails_to_c1) == 1  # e-mail went out on the first try and is not repeated
    assert len(_Receiver.received) == 1


def test_unreachable_smtp_gives_up_after_max_attempts(db_url, receiver, outbox) -> None:
    clock = ManualClock()
    notifier = Notifier(NotifyConfig(smtp_port=free_port(), timeout_s=2, max_attempts=2), clock)
    with psycopg.connect(db_url, autocommit=True) as c:
        notifier.tick(c)
        clock.advance(backoff_s(1))
        notifier.tick(c)
        clock.advance(backoff_s(2))
        assert notifier.tick(c) == 0
    sent, attempts, next_at, error = _row(db_url, outbox["c2"])
    assert not sent and attempts == 2 and next_at is None and error.startswith("gave up: email")


def test_run_notifier_drains_until_stopped(settings: Settings, smtp, outbox) -> None:
    inbox, port = smtp
    stop = threading.Event()
    result: list[Notifier] = []
    thread = threading.Thread(target=lambda: result.append(
        run_notifier(settings, ManualClock(), stop, NotifyConfig(smtp_port=port, poll_interval_s=0.05))))
    thread.start()
    try:
        with psycopg.connect(settings.database_url, autocommit=True) as c:
            for _ in range(200):
                if c.execute("SELECT count(*) FROM notifications WHERE sent_at IS NULL").fetchone()[0] == 0:
                    break
                stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert result and result[0].sent == 3 and len(inbox.messages) == 2
