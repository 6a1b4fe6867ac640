"""A small ICU MessageFormat reader: the subset the catalogues use, the same one ``api/static/i18n.js`` reads.

Supported: ``{name}``; ``{name, number}``; ``{name, time|date|datetime}`` (formatted in the reader's zone, with
the zone shown); ``{n, plural, =0 {…} one {…} other {…}}`` with ``#``; ``{x, select, a {…} other {…}}``;
``''`` for an apostrophe and ``'{…}'`` for literal braces. A parameter may itself be a message,
``{"key": …, "params": …, "text": fallback}`` (a fault's name inside an e-mail), rendered in the same language. Anything else is a ``MessageError`` when the
catalogue is loaded (tests load every message), not a surprise in front of a customer.
Why not a full ICU library: none is kept up for Python; the subset is ~100 lines and both sides test it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from babel import Locale

from i18n.formatting import format_date, format_datetime, format_number, format_time

FORMAT_TYPES = ("number", "time", "date", "datetime")


class MessageError(ValueError):
    """A catalogue message that does not parse, or a message key that is not in the catalogue."""


@dataclass(frozen=True)
class Message:
    """A catalogue key and its parameters, stored (e.g. in the notification outbox) to be rendered later in
    the reader's language and zone. Datetime parameters are stored as ISO strings."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "params": {k: v.isoformat() if isinstance(v, datetime) else v
                                            for k, v in self.params.items()}}


def term(group: str, value: str) -> dict[str, str]:
    """A catalogue name (``group.value``: a fault mode, a device event kind) as a nested message parameter, with
    its English label (underscores as spaces) for readers whose catalogue lacks it. Why: the value comes from data
    (a knowledge base, a device), so a name nobody has translated yet must still read as something."""
    return {"key": f"{group}.{value}", "text": value.replace("_", " ")}


def phrase(group: str, text: str) -> dict[str, str]:
    """A sentence from data (a knowledge-base cause) as a nested message parameter keyed by its English wording,
    ``group.<text>``, shown as written where no catalogue has it. Why the wording and not an id: the knowledge
    base learns its causes from technicians' reports, so a cause is its text; a learned one nobody has
    translated yet still reads as the technician wrote it."""
    return {"key": f"{group}.{text}", "text": text}


# Parsed form: a list of parts; a part is a str or a tuple (name, type, style/options).
Part = str | tuple[str, str, Any]


def parse(text: str) -> list[Part]:
    parts, i = _parse(text, 0, in_plural=False)
    if i != len(text):
        raise MessageError(f"unbalanced '}}' at {i} in {text!r}")
    return parts


def _parse(text: str, i: int, in_plural: bool) -> tuple[list[Part], int]:
    parts: list[Part] = []
    buf: list[str] = []
    while i < len(text):
        c = text[i]
        if c == "'":
            if text.startswith("''", i):
                buf.append("'")
                i += 2
                continue
            if i + 1 < len(text) and text[i + 1] in "{}#":
                j = text.find("'", i + 1)
                if j < 0:
                    raise MessageError(f"unterminated quote in {text!r}")
                buf.append(text[i + 1:j])
                i = j + 1
                continue
            buf.append(c)
            i += 1
        elif c == "}":
            break
        elif c == "#" and in_plural:
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(("#", "#", None))
            i += 1
        elif c == "{":
            if buf:
                parts.append("".join(buf))
                buf = []
            arg, i = _argument(text, i + 1)
            parts.append(arg)
        else:
            buf.append(c)
            i += 1
    if buf:
        parts.append("".join(buf))
    return parts, i


def _argument(text: str, i: int) -> tuple[Part, int]:
    end = text.find("}", i)
    comma = text.find(",", i)
    if end < 0:
        raise MessageError(f"unterminated argument in {text!r}")
    if comma < 0 or comma > end:
        name = text[i:end].strip()
        _check_name(name, text)
        return (name, "", None), end + 1
    name = text[i:comma].strip()
    _check_name(name, text)
    j = text.find(",", comma + 1)
    kind = text[comma + 1:(j if 0 <= j < end else end)].strip()
    if kind in FORMAT_TYPES:
        return (name, kind, None), end + 1
    if kind not in ("plural", "select") or j < 0:
        raise MessageError(f"unsupported argument type {kind!r} in {text!r}")
    options: dict[str, list[Part]] = {}
    i = j + 1
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            raise MessageError(f"unterminated {kind} in {text!r}")
        if text[i] == "}":
            break
        k = text.find("{", i)
        if k < 0:
            raise MessageError(f"{kind} option without a message in {text!r}")
        selector = text[i:k].strip()
        body, i = _parse(text, k + 1, in_plural=kind == "plural")
        if i >= len(text) or text[i] != "}":
            raise MessageError(f"unterminated {kind} option {selector!r} in {text!r}")
        options[selector] = body
        i += 1
    if "other" not in options:
        raise MessageError(f"{kind} without an 'other' option in {text!r}")
    return (name, kind, options), i + 1


def _check_name(name: str, text: str) -> None:
    if not name or not all(ch.isalnum() or ch == "_" for ch in name):
        raise MessageError(f"bad argument name {name!r} in {text!r}")


def argument_names(parts: list[Part]) -> set[str]:
    """The parameter names a parsed message reads (tests check both languages read the same ones)."""
    names: set[str] = set()
    for p in parts:
        if isinstance(p, tuple) and p[0] != "#":
            names.add(p[0])
            if p[1] in ("plural", "select"):
                for body in p[2].values():
                    names |= argument_names(body)
    return names


def render_message(parts: list[Part], params: dict[str, Any], locale: str, zone: str | None,
                   _n: float | None = None) -> str:
    out: list[str] = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
            continue
        name, kind, options = p
        if kind == "#":
            out.append(format_number(_n or 0, locale))
            continue
        v = params.get(name)
        if kind == "" and isinstance(v, dict) and "key" in v:
            out.append(_nested(v, locale, zone))
        elif kind == "":
            out.append("" if v is None else str(v))
        elif kind == "number":
            out.append(format_number(v or 0, locale))
        elif kind in ("time", "date", "datetime"):
            out.append(_when(v, kind, locale, zone))
        elif kind == "plural":
            n = float(v or 0)
            exact = f"={int(n)}" if n == int(n) else ""
            form = Locale.parse(locale.replace("-", "_")).plural_form(n)
            body = options.get(exact) or options.get(form) or options["other"]
            out.append(render_message(body, params, locale, zone, n))
        else:  # select
            out.append(render_message(options.get(str(v)) or options["other"], params, locale, zone, _n))
    return "".join(out)


def _nested(v: dict[str, Any], locale: str, zone: str | None) -> str:
    """A parameter that is itself a message (``{"key": "fault.bearing_wear"}``), e.g. a fault's name inside an
    e-mail: rendered in the same language; its ``text`` (or the key) when no catalogue has the key."""
    from i18n.catalogue import translate  # the catalogue module imports this one

    try:
        return translate(str(v["key"]), locale, zone, **dict(v.get("params") or {}))
    except MessageError:
        return str(v.get("text") or v["key"])


def _when(v: Any, kind: str, locale: str, zone: str | None) -> str:
    if v is None or v == "":
        return "–"
    at = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
    fn = {"time": format_time, "date": format_date, "datetime": format_datetime}[kind]
    return fn(at, locale, zone)
