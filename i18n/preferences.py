"""Whose language and zone a signed-in person sees.

The rule (issue #21, #15 item 4): a choice the person made themselves wins; otherwise a customer's account
reads in its customer's language and zone (the portal's ETA in the customer's zone) and a technician's in the
technician's (the phone's day in theirs); staff get what an administrator set, else their browser's.
``None`` means "the browser decides".
"""

from __future__ import annotations

from dataclasses import dataclass

# What migration 0800 writes when nobody said anything: not a choice.
UNSET_LANGUAGE, UNSET_ZONE = "en", "UTC"


@dataclass(frozen=True)
class LocaleChoice:
    language: str | None
    timezone: str | None


def resolve_locale(*, user_language: str | None, user_timezone: str | None, language_chosen: bool = False,
                   timezone_chosen: bool = False, linked_language: str | None = None,
                   linked_timezone: str | None = None) -> LocaleChoice:
    """``*_chosen``: the user set that value themselves; ``linked_*``: the account's customer's or technician's
    values (None for staff)."""
    return LocaleChoice(_pick(user_language, language_chosen, linked_language, UNSET_LANGUAGE),
                        _pick(user_timezone, timezone_chosen, linked_timezone, UNSET_ZONE))


def _pick(own: str | None, chosen: bool, linked: str | None, unset: str) -> str | None:
    if chosen and own:
        return own
    return linked or (own if own and own != unset else None)
