"""Named SQL queries loaded from ``queries.sql`` files that sit beside each repository module.

SQL stays SQL (readable, greppable, testable with EXPLAIN); Python refers to it by name. A block starts with
``-- name: <identifier>`` and runs to the next such line.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_NAME_RE = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


@cache
def load_queries(path: str) -> dict[str, str]:
    text = Path(path).read_text()
    names = list(_NAME_RE.finditer(text))
    if not names:
        raise ValueError(f"{path}: no '-- name:' blocks")
    queries: dict[str, str] = {}
    for i, match in enumerate(names):
        end = names[i + 1].start() if i + 1 < len(names) else len(text)
        body = text[match.end():end].strip()
        if match.group(1) in queries:
            raise ValueError(f"{path}: duplicate query {match.group(1)!r}")
        queries[match.group(1)] = body
    return queries


class Queries:
    """Attribute access to the named queries of one file: ``Q = Queries(__file__)``; ``Q.insert_incident``."""

    def __init__(self, module_file: str, filename: str = "queries.sql") -> None:
        self._path = str(Path(module_file).with_name(filename))

    def __getattr__(self, name: str) -> str:
        try:
            return load_queries(self._path)[name]
        except KeyError:
            raise AttributeError(f"no query {name!r} in {self._path}") from None
