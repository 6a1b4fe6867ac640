"""Languages for people: one ICU MessageFormat catalogue per language, shared by the pages and the server.

The catalogues (``i18n/catalogues/<locale>.json``, flat ``{"page.section.item": "message"}``) are the only
place visible words live. The browser reads the same files (served at ``/i18n/<locale>.json``) and formats
with ``Intl``; Python reads them here and formats dates and numbers with Babel, always in a named time zone
and always showing that zone, because the people reading are in China and the servers are in UTC.

This is a lowest-layer package (beside ``core``): any domain may import it; it imports nothing of quietfix.
"""

from i18n.catalogue import (
    DEFAULT_LOCALE,
    SUPPORTED_LOCALES,
    Catalogue,
    MessageError,
    catalogue,
    negotiate,
    render,
    translate,
)
from i18n.formatting import format_date, format_datetime, format_number, format_time, zone_or_utc
from i18n.message import Message, phrase, term
from i18n.preferences import LocaleChoice, resolve_locale

__all__ = [
    "DEFAULT_LOCALE", "SUPPORTED_LOCALES", "Catalogue", "LocaleChoice", "Message", "MessageError", "catalogue",
    "format_date", "format_datetime", "format_number", "format_time", "negotiate", "phrase", "render",
    "resolve_locale", "term", "translate", "zone_or_utc",
]
