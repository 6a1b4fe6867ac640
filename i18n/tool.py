"""Catalogue upkeep: ``python -m i18n.tool sort`` rewrites both catalogues sorted by key;
``python -m i18n.tool add KEY "English" "中文"`` adds (or replaces) one message in both.
Why a tool: several people add keys in parallel; sorted files with one key a line merge cleanly."""

from __future__ import annotations

import json
import sys

from i18n.catalogue import CATALOGUES, SUPPORTED_LOCALES


def _write(locale: str, messages: dict[str, str]) -> None:
    text = json.dumps(dict(sorted(messages.items())), ensure_ascii=False, indent=1)
    (CATALOGUES / f"{locale}.json").write_text(text + "\n", encoding="utf-8")


def _read(locale: str) -> dict[str, str]:
    return json.loads((CATALOGUES / f"{locale}.json").read_text(encoding="utf-8"))


def main(argv: list[str]) -> int:
    if argv[:1] == ["sort"]:
        for loc in SUPPORTED_LOCALES:
            _write(loc, _read(loc))
        return 0
    if argv[:1] == ["add"] and len(argv) == 1 + 1 + len(SUPPORTED_LOCALES):
        for loc, text in zip(SUPPORTED_LOCALES, argv[2:], strict=True):
            _write(loc, _read(loc) | {argv[1]: text})
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
