"""E-mail over SMTP (smtplib). The Message-ID is derived from the notification id: a resend after a crash
carries the same id, so mail systems and readers can recognise the duplicate."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from api.notify.config import NotifyConfig


class SmtpSender:
    def __init__(self, config: NotifyConfig) -> None:
        self._config = config

    def send(self, *, to: str, subject: str, body: str, idempotency_key: str, at: float) -> None:
        msg = EmailMessage()
        msg["From"] = self._config.smtp_from
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(at, usegmt=True)
        msg["Message-ID"] = f"<{idempotency_key}@quietfix>"
        msg["X-Quietfix-Idempotency-Key"] = idempotency_key
        msg.set_content(body)
        c = self._config
        with smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=c.timeout_s) as smtp:
            if c.smtp_starttls:
                smtp.starttls()
            if c.smtp_username:
                smtp.login(c.smtp_username, c.smtp_password or "")
            smtp.send_message(msg)
