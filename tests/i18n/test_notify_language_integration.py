"""E-mails and webhooks in the customer's language and time zone (issue #21 item 2), through the real outbox,
the real sender, a real SMTP server and a real HTTP receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header

import psycopg
import pytest

from api.notify import Notifier, NotifyConfig
from core.clock import ManualClock, to_datetime
from core.events import queue_notification
from i18n import Message
from quietfix.seed import seed
from tests.api.test_notify_integration import SECRET, _Receiver, receiver, smtp  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration


def _text(mail) -> tuple[str, str]:
    subject = str(make_header(decode_header(mail["Subject"])))
    part = mail.get_payload(0) if mail.is_multipart() else mail
    return subject, part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8").rstrip()


def test_assignment_mail_and_hook_in_chinese_in_the_customers_zone(db_url, conn: psycopg.Connection, smtp,  # noqa: F811
                                                                   receiver) -> None:  # noqa: F811
    inbox, port = smtp
    devices = seed(conn, devices=6, technicians=1, users=False)
    zh = devices[0]
    en = next(d for d in devices if d.customer_id != zh.customer_id)
    conn.execute("UPDATE customers SET language = 'zh-CN', timezone = 'Asia/Shanghai' WHERE id = %s",
                 (zh.customer_id,))
    conn.execute("UPDATE customers SET language = 'en', timezone = 'Europe/London' WHERE id = %s",
                 (en.customer_id,))
    conn.execute("INSERT INTO webhook_endpoints (customer_id, url, secret) VALUES (%s, %s, %s)",
                 (zh.customer_id, receiver, SECRET))
    at = to_datetime(ManualClock().now())
    eta = datetime(2026, 12, 6, 6, 5, tzinfo=UTC)
    for d in (zh, en):
        queue_notification(conn, customer_id=d.customer_id, device_id=d.device_id, at=at, kind="technician_assigned",
                           message=Message("notify.assigned", {"technician": "王伟", "eta": eta, "device": "泵-3"}))
    queue_notification(conn, customer_id=zh.customer_id, at=at, kind="work_completed", subject="Plain", body="Old")
    stored = conn.execute("SELECT subject, body FROM notifications ORDER BY id LIMIT 1").fetchone()
    conn.commit()
    assert stored == ("Technician on the way to 泵-3", "王伟 will arrive at 06:05 UTC to fix 泵-3.")  # English, UTC

    with psycopg.connect(db_url, autocommit=True) as c:
        assert Notifier(NotifyConfig(smtp_port=port, timeout_s=5), ManualClock()).tick(c) == 3
    by_subject = dict(_text(message_from_bytes(m)) for _, m in inbox.messages)
    assert by_subject["技术员正在前往 泵-3"] == "王伟 将于 14:05 GMT+8 到达，维修 泵-3。"
    assert by_subject["Technician on the way to 泵-3"] == "王伟 will arrive at 06:05 GMT to fix 泵-3."
    assert by_subject["Plain"] == "Old"  # a row without a catalogue message goes out as stored
    hook = json.loads(_Receiver.received[0][1])
    assert hook["language"] == "zh-CN" and hook["body"] == "王伟 将于 14:05 GMT+8 到达，维修 泵-3。"
