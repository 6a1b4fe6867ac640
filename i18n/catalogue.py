"""Loading the catalogues and choosing a language.

Each catalogue is a flat JSON object sorted by key; keys are ``namespace.section.item`` with the page (or
``common``, ``auth``, ``notify``) as namespace. English is the fallback for a key that a new page added to
``en.json`` only: a missing key shows English, never a raw key, and the completeness test fails the build.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from i18n.message import Message, MessageError, Part, parse, render_message

CATALOGUES = Path(__file__).with_name("catalogues")
SUPPORTED_LOCALES = ("en", "zh-CN")
DEFAULT_LOCALE = "en"


class Catalogue:
    """One language's messages, parsed once."""

    def __init__(self, locale: str, messages: dict[str, str]) -> None:
        self.locale = locale
        self.messages = messages
        self._parsed: dict[str, list[Part]] = {}
        for key, text in messages.items():
            try:
                self._parsed[key] = parse(text)
            except MessageError as exc:
                raise MessageError(f"{locale}.json {key}: {exc}") from exc

    def __contains__(self, key: str) -> bool:
        return key in self.messages

    def parsed(self, key: str) -> list[Part]:
        return self._parsed[key]

    def render(self, key: str, params: dict[str, Any], zone: str | None) -> str:
        if key in self._parsed:
            return render_message(self._parsed[key], params, self.locale, zone)
        if self.locale != DEFAULT_LOCALE:
            return catalogue(DEFAULT_LOCALE).render(key, params, zone)
        raise MessageError(f"no message {key!r} in the catalogues")


@lru_cache(maxsize=len(SUPPORTED_LOCALES))
def catalogue(locale: str) -> Catalogue:
    tag = negotiate(locale)
    return Catalogue(tag, json.loads((CATALOGUES / f"{tag}.json").read_text(encoding="utf-8")))


def negotiate(*wanted: str | None) -> str:
    """The first supported locale among ``wanted`` (``zh``, ``zh-Hans``, ``zh_CN`` all mean zh-CN), else English."""
    for w in wanted:
        if not w:
            continue
        tag = w.strip().replace("_", "-").lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE


def translate(key: str, locale: str | None = None, zone: str | None = None, **params: Any) -> str:
    """The message ``key`` in ``locale`` with ``params`` filled in; times in ``zone`` (IANA name)."""
    return catalogue(negotiate(locale)).render(key, params, zone)


def render(message: Message | dict[str, Any], locale: str | None, zone: str | None) -> str:
    """A stored message (``Message`` or its JSON form, e.g. from the notification outbox) in ``locale``."""
    if isinstance(message, Message):
        return translate(message.key, locale, zone, **message.params)
    return translate(str(message["key"]), locale, zone, **dict(message.get("params") or {}))
