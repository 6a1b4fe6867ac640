"""Why a value was refused, as catalogue messages (``admin.reason.*`` in both catalogues), so the admin page and
the portal show the reason in the reader's language. The English rendering stays beside it: the API's
``reason``, CSV import reports and logs read it, and tests compare it.

Apart from ``validation.py`` because the import, the account and report services and the API raise the same
reasons without needing the rules."""

from __future__ import annotations

from typing import Any

from administration.models import FieldError
from i18n import Message, translate


def reason(key: str, /, **params: Any) -> Message:
    """A rule's reason as a catalogue message (``admin.reason.<key>``), so the admin page and the portal show it
    in the reader's language; the English text stays beside it (``FieldError.message``, CSV import reports)."""
    return Message(f"admin.reason.{key}", params)


def english(said: Message) -> str:
    return translate(said.key, "en", "UTC", **said.params)


def field_error(name: str, key: str, /, **params: Any) -> FieldError:
    said = reason(key, **params)
    return FieldError(name, english(said), said)


class Invalid(Exception):
    """A value that failed one rule; the message says what was expected (English; ``said`` as a message)."""

    def __init__(self, key: str, /, **params: Any) -> None:
        self.said = reason(key, **params)
        super().__init__(english(self.said))
