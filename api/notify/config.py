"""The sender's own settings (``QUIETFIX_NOTIFY_*``), kept beside it until the integrator folds them into core."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifyConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUIETFIX_NOTIFY_", extra="ignore")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "quietfix <service@quietfix.invalid>"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    # An SMTP or webhook peer that does not answer in 10 s is treated as down and retried later.
    timeout_s: float = 10.0
    # Outbox rows are few per minute even in a busy region; a 2 s poll keeps "customer told" well under a minute.
    poll_interval_s: float = 2.0
    # Rows claimed per pass; each is sent in its own transaction, so this only bounds one pass's length.
    batch: int = 50
    # With the back-off below, 8 attempts span about 4 hours; after that a human should look (last_error says why).
    max_attempts: int = 8
