"""The browser's reader (api/static/i18n.js) and Python's (i18n/message.py) render every catalogue message the
same: one ICU subset, two implementations, so they are compared on every message in both languages (node runs
the page's own file with the catalogues; messages with date/time arguments are left out: Intl and Babel word
those differently on purpose, each is tested on its side)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from i18n import SUPPORTED_LOCALES, catalogue
from i18n.message import argument_names

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")
RUNNER = r"""
const fs = require("fs"), vm = require("vm");
const [js, dir, locale, cases] = process.argv.slice(1);  // node -e CODE ARGS: the args follow argv[0]
const ctx = { Intl, console, localStorage: { getItem: () => null, setItem() {} }, navigator: { languages: [locale] },
  document: { documentElement: {}, querySelectorAll: () => [], querySelector: () => null },
  fetch: async (url) => ({ ok: true, json: async () => JSON.parse(fs.readFileSync(`${dir}/${url.split("/").pop()}`, "utf8")) }) };
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(js, "utf8") + "\nthis.I18N = I18N;", ctx);
ctx.I18N.load(locale).then(() => {
  const out = JSON.parse(fs.readFileSync(cases, "utf8")).map(([key, params]) => ctx.I18N.t(key, params));
  process.stdout.write(JSON.stringify(out));
});
"""


def _timeless(locale: str) -> list[str]:
    cat = catalogue(locale)
    return [k for k, text in cat.messages.items() if not re.search(r",\s*(?:time|date|datetime)\s*\}", text)]


def _kinds(parts: list) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in parts:
        if isinstance(p, tuple) and p[0] != "#":
            if p[1] in ("plural", "number") or p[0] not in out:
                out[p[0]] = p[1]
            if p[1] in ("plural", "select"):
                for body in p[2].values():
                    out = _kinds(body) | out
    return out


@pytest.mark.skipif(NODE is None, reason="node is not installed (scripts/setup-web.sh installs npm and node)")
@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_browser_and_python_render_every_message_alike(locale: str, tmp_path: Path) -> None:
    cat = catalogue(locale)
    cases = []
    for key in _timeless(locale):
        names = argument_names(cat.parsed(key))
        for n in (1, 3):  # plural forms "one" and "other"; a select on a number takes "other"
            cases.append((key, {a: n for a in names}))
        if names:  # the select branches named "yes" (and text in simple arguments), numbers where counted
            kinds = _kinds(cat.parsed(key))
            cases.append((key, {a: 2 if kinds.get(a) in ("plural", "number") else "yes" for a in names}))
    file = tmp_path / "cases.json"
    file.write_text(json.dumps(cases, ensure_ascii=False), encoding="utf-8")
    run = subprocess.run([NODE, "-e", RUNNER, str(ROOT / "api/static/i18n.js"), str(ROOT / "i18n/catalogues"),
                          locale, str(file)], capture_output=True, text=True, timeout=60, check=True)
    browser = json.loads(run.stdout)
    python = [cat.render(k, p, "UTC") for k, p in cases]
    diff = [(c[0], b, p) for c, b, p in zip(cases, browser, python, strict=True) if b != p]
    assert not diff, diff[:5]
    assert len(cases) > 300
