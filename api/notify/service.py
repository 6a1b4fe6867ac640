"""The drain loop: claim one due outbox row, deliver it to every enabled target not yet served, record.

Each row is handled in its own transaction holding its row lock, so several senders can run side by side. A
target's delivery is recorded only after the peer accepted it; a crash in between means the peer sees the same
idempotency key twice (at least once), never zero times.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

import psycopg

from api.notify import repository as repo
from api.notify.config import NotifyConfig
from api.notify.language import localised
from api.notify.policy import backoff_s, choose_targets
from api.notify.smtp import SmtpSender
from api.notify.webhook import WebhookSender
from core.clock import Clock, to_datetime
from core.settings import Settings

log = logging.getLogger(__name__)


class EmailSender(Protocol):
    def send(self, *, to: str, subject: str, body: str, idempotency_key: str, at: float) -> None: ...


class HookSender(Protocol):
    def send(self, *, url: str, secret: str, payload: dict[str, Any], idempotency_key: str, at: float) -> None: ...


class Notifier:
    def __init__(self, config: NotifyConfig, clock: Clock, *, email: EmailSender | None = None,
                 webhook: HookSender | None = None) -> None:
        self._config = config
        self._clock = clock
        self._email = email or SmtpSender(config)
        self._webhook = webhook or WebhookSender(config.timeout_s)
        self.sent = 0
        self.failed = 0

    def tick(self, conn: psycopg.Connection) -> int:
        """Handle up to ``batch`` due rows; returns how many were completely delivered."""
        done = 0
        for _ in range(self._config.batch):
            with conn.transaction():
                row = repo.claim_due(conn, to_datetime(self._clock.now()), self._config.max_attempts)
                if row is None:
                    break
                done += self._deliver(conn, row)
        return done

    def _deliver(self, conn: psycopg.Connection, row: dict[str, Any]) -> int:
        key = f"quietfix-notification-{row['id']}"
        row = localised(row)
        endpoints = repo.webhook_endpoints(conn, row["customer_id"])
        targets = choose_targets(row["kind"], row["email"], list(endpoints),
                                 repo.preferences(conn, row["customer_id"]))
        already = repo.delivered_targets(conn, row["id"])
        errors: list[str] = []
        payload = {"id": row["id"], "kind": row["kind"], "subject": row["subject"], "body": row["body"],
                   "language": row["language"],
                   "customer_id": row["customer_id"], "device_id": row["device_id"],
                   "incident_id": row["incident_id"], "created_at": row["created_at"].isoformat()}
        for target in targets:
            if (target.channel, target.address) in already:
                continue
            now = self._clock.now()
            try:
                if target.channel == "email":
                    self._email.send(to=target.address, subject=row["subject"], body=row["body"],
                                     idempotency_key=key, at=now)
                else:
                    url, secret = endpoints[int(target.address)]
                    self._webhook.send(url=url, secret=secret, payload=payload, idempotency_key=key, at=now)
            except Exception as exc:  # noqa: BLE001 - any peer failure is retried later, never fatal to the loop
                errors.append(f"{target.channel} {target.address}: {type(exc).__name__}: {exc}")
                continue
            repo.record_delivery(conn, row["id"], target.channel, target.address, to_datetime(now))
        at = to_datetime(self._clock.now())
        if not errors:
            repo.mark_sent(conn, row["id"], at, None if targets else "no enabled channel")
            self.sent += 1
            return 1
        attempts = int(row["attempts"]) + 1
        retry = attempts < self._config.max_attempts
        repo.mark_failed(conn, row["id"], at + timedelta(seconds=backoff_s(attempts)) if retry else None,
                         ("" if retry else "gave up: ") + "; ".join(errors))
        self.failed += 1
        log.warning("notification not delivered", extra={"notification_id": row["id"], "attempts": attempts,
                                                          "retry": retry, "error": errors[0][:200]})
        return 0

    def run(self, connect: Callable[[], psycopg.Connection], stop: threading.Event) -> None:
        conn: psycopg.Connection | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = connect()
                self.tick(conn)
            except psycopg.Error as exc:
                log.warning("notify pass failed; retrying", extra={"error": str(exc).strip()[:200]})
                if conn is not None:
                    conn.close()
                conn = None
            stop.wait(self._config.poll_interval_s)
        if conn is not None:
            conn.close()


def run_notifier(settings: Settings, clock: Clock, stop: threading.Event,
                 config: NotifyConfig | None = None) -> Notifier:
    """Entry point for ``quietfix notify`` (wired by the integrator): drain the outbox until ``stop`` is set."""
    notifier = Notifier(config or settings.notify, clock)
    notifier.run(lambda: psycopg.connect(settings.database_url, autocommit=True), stop)
    return notifier
