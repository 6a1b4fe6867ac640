"""Notification sender: drains the ``notifications`` outbox to e-mail (SMTP) and signed webhooks.

At least once, per channel and target, with an idempotency key receivers can deduplicate on; customers'
preferences decide which channels carry which kind of message.
"""

from api.notify.config import NotifyConfig
from api.notify.policy import Target, backoff_s, choose_targets
from api.notify.service import Notifier, run_notifier
from api.notify.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "Notifier", "NotifyConfig", "Target", "backoff_s",
           "choose_targets", "run_notifier", "sign", "verify"]
