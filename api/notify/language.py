"""A notification in its reader's words: the customer's language and time zone, decided at send time.

Why at send time and not when queued: the customer may change language or zone between the event and the
delivery (or the outbox may wait out an SMTP outage), and the ETA must read in the zone they are in now.
"""

from __future__ import annotations

import logging
from typing import Any

from i18n import MessageError, negotiate, translate

log = logging.getLogger(__name__)


def localised(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` (an outbox row with the customer's ``language``/``timezone``) with ``subject``, ``body`` and
    ``language`` as they go out. A row without a catalogue message keeps its stored (English) text."""
    message = row.get("message")
    if not message:
        return row | {"language": "en"}
    locale = negotiate(row.get("language"))
    params = dict(message.get("params") or {})
    try:
        subject = translate(f"{message['key']}.subject", locale, row.get("timezone"), **params)
        body = translate(f"{message['key']}.body", locale, row.get("timezone"), **params)
    except (MessageError, KeyError, ValueError) as exc:  # a key renamed since the row was queued
        log.warning("notification message not rendered; sending stored text",
                    extra={"notification_id": row.get("id"), "error": str(exc)[:200]})
        return row | {"language": "en"}
    return row | {"subject": subject, "body": body, "language": locale}
