"""The catalogues are complete and every key the code uses exists (issue #21).

Fails when: a key is in one catalogue and not the other; a message does not parse (ICU subset) or reads other
parameters in one language than in the other; a key the pages (data-i18n, t("…")) or the Python code
(Message("…"), translate("…")) use is in neither catalogue; a catalogue is not sorted by key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from i18n import SUPPORTED_LOCALES, catalogue
from i18n.catalogue import CATALOGUES
from i18n.message import argument_names

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "api" / "static"
# Where the pages name keys: t("k") / QF.t("k") / I18N.t("k"), data-i18n="k", data-i18n-attr="attr:k;attr:k".
JS_CALL = re.compile(r"""\bt\(\s*(["'`])([A-Za-z0-9_.${}\-]+)\1""")
DATA_ATTR = re.compile(r"""data-i18n=["']([^"']+)["']""")
DATA_ATTRS = re.compile(r"""data-i18n-attr=["']([^"']+)["']""")
PY_CALL = re.compile(r"""\b(?:Message|translate)\(\s*["']([A-Za-z0-9_.\-]+)["']""")
PY_DIRS = ("core", "diagnostics", "dispatch", "spares", "planning", "kpis", "administration", "api", "quietfix", "i18n")


def _raw(locale: str) -> dict[str, str]:
    return json.loads((CATALOGUES / f"{locale}.json").read_text(encoding="utf-8"))


def test_both_catalogues_have_the_same_keys() -> None:
    keys = {loc: set(_raw(loc)) for loc in SUPPORTED_LOCALES}
    en = keys["en"]
    for loc, ks in keys.items():
        assert not en - ks, f"missing in {loc}.json: {sorted(en - ks)}"
        assert not ks - en, f"missing in en.json: {sorted(ks - en)}"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_catalogue_is_sorted_and_non_empty(locale: str) -> None:
    raw = _raw(locale)
    assert list(raw) == sorted(raw), f"{locale}.json is not sorted by key (python -m i18n.tool sort)"
    assert all(isinstance(v, str) and v.strip() for v in raw.values()), "an empty message"


def test_messages_parse_and_read_the_same_parameters_in_every_language() -> None:
    cats = {loc: catalogue(loc) for loc in SUPPORTED_LOCALES}  # parses every message or raises
    for key in cats["en"].messages:
        names = {loc: argument_names(c.parsed(key)) for loc, c in cats.items()}
        assert len({frozenset(n) for n in names.values()}) == 1, f"{key}: parameters differ {names}"


def test_chinese_catalogue_is_chinese() -> None:
    """A message copied over untranslated is the commonest slip: zh-CN messages with Latin words and no Chinese
    are allowed only where the word is the same in both (names, units, symbols) and listed here."""
    same = {"common.product", "common.none", "common.language.en", "common.language.zh-CN"}
    zh, en = _raw("zh-CN"), _raw("en")
    copied = [k for k, v in zh.items() if k not in same and v == en[k] and re.search(r"[a-z]{3}", v)]
    assert not copied, f"zh-CN.json repeats the English for {copied}"


def _keys_used_in_pages() -> set[str]:
    used: set[str] = set()
    for path in [*STATIC.glob("*.js"), *STATIC.glob("*.html")]:
        text = path.read_text(encoding="utf-8")
        used |= {m.group(2) for m in JS_CALL.finditer(text)}
        used |= set(DATA_ATTR.findall(text))
        for spec in DATA_ATTRS.findall(text):
            used |= {pair.split(":", 1)[1].strip() for pair in spec.split(";") if ":" in pair}
    return used


def _keys_used_in_python() -> set[str]:
    used: set[str] = set()
    for d in PY_DIRS:
        for path in (ROOT / d).rglob("*.py"):
            used |= set(PY_CALL.findall(path.read_text(encoding="utf-8")))
    return used


def test_every_key_the_code_uses_is_in_the_catalogues() -> None:
    keys = set(_raw("en"))
    missing = []
    for key in sorted(_keys_used_in_pages() | _keys_used_in_python()):
        if "${" in key:  # a key built at run time: some key must share its fixed start
            prefix = key.split("${", 1)[0]
            if not any(k.startswith(prefix) for k in keys):
                missing.append(key)
        elif key not in keys and not {f"{key}.subject", f"{key}.body"} <= keys:  # a notification: both halves
            missing.append(key)
    assert not missing, f"keys used in code but in no catalogue: {missing}"


def test_the_scanner_sees_keys() -> None:
    """Guards the test above against a regex that silently matches nothing."""
    assert "auth.signIn.title" in _keys_used_in_pages()


# A fixed error detail an API route raises: HTTPException(status.HTTP_…, "text") (qf.js shows apiError.<text>).
HTTP_DETAIL = re.compile(r"""HTTPException\(\s*status\.HTTP_[0-9A-Z_]+,\s*"([^"{}]+)"\s*[,)]""")


def test_every_fixed_api_error_detail_reads_in_every_language() -> None:
    details = {m for f in (ROOT / "api").rglob("*.py") for m in HTTP_DETAIL.findall(f.read_text(encoding="utf-8"))}
    assert "part not found" in details  # the scanner sees them
    for locale in SUPPORTED_LOCALES:
        missing = sorted(d for d in details if f"apiError.{d}" not in _raw(locale))
        assert not missing, f"{locale}: API error details with no apiError.* message: {missing}"


def test_every_knowledge_base_cause_reads_in_every_language() -> None:
    """The seeded knowledge base's causes go into incident summaries (``phrase("knowledgeCause", …)``): a zh-CN
    reader saw English causes inside Chinese sentences. A learned cause nobody translated reads as written."""
    from diagnostics.knowledge import load_knowledge
    from i18n import Message, phrase, render

    causes = {e.probable_cause for e in load_knowledge().values()}
    assert "Mechanical seal leak" in causes
    for locale in SUPPORTED_LOCALES:
        missing = sorted(c for c in causes if f"knowledgeCause.{c}" not in _raw(locale))
        assert not missing, f"{locale}: knowledge-base causes with no knowledgeCause.* message: {missing}"
    said = Message("summary.incidentSuspected", {"mode": "seal_leak", "device": "P-1", "pct": 80, "hasCause": "yes",
                                                 "cause": phrase("knowledgeCause", "Mechanical seal leak")})
    assert render(said, "zh-CN", None).endswith("：机械密封泄漏")
    assert render(said, "en", None).endswith(": Mechanical seal leak")
    learned = {**said.params, "cause": phrase("knowledgeCause", "叶轮被异物卡住")}  # a technician's own words
    assert render(Message(said.key, learned), "en", None).endswith(": 叶轮被异物卡住")
