"""Whose language and zone a signed-in person sees.

The rule (issue #21, #15 item 4): a choice the person made themselves wins; otherwise a customer's account
reads in its customer's language and zone (the portal's ETA in the customer's zone) and a technician's in the
technician's (the phone's day in theirs); staff get what an administrator set, else their browser's.
``None`` means "the browser decides".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# What migration 0800 writes when nobody said anything: not a choice.
UNSET_LANGUAGE, UNSET_ZONE = "en", "UTC"


@dataclass(frozen=True)
class LocaleChoice:
    language: str | None
    timezone: str | None


def resolve_locale(*, user_language: str | None, user_timezone: str | None, chosen_at: datetime | None,
                   linked_language: str | None = None, linked_timezone: str | None = None) -> LocaleChoice:
    """``linked_*`` are the account's customer's or technician's values (None for staff)."""
    if chosen_at is not None:
        return LocaleChoice(user_language or linked_language, user_timezone or linked_timezone)
    language = linked_language or (user_language if user_language and user_language != UNSET_LANGUAGE else None)
    zone = linked_timezone or (user_timezone if user_timezone and user_timezone != UNSET_ZONE else None)
    return LocaleChoice(language, zone)
