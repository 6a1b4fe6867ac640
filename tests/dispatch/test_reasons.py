"""Every reason a plan gives for an unplanned job reads in each language, and in English as the plan says it."""

from __future__ import annotations

import dispatch.appointments
import dispatch.baseline
import dispatch.encoding
import dispatch.preventive
from dispatch.reasons import KEYS, reason_term
from i18n import translate


def _all_reasons() -> set[str]:
    modules = (dispatch.encoding, dispatch.baseline, dispatch.appointments, dispatch.preventive)
    return {v for m in modules for k, v in vars(m).items() if k.startswith("REASON_") and isinstance(v, str)}


def test_every_reason_has_a_catalogue_key() -> None:
    assert _all_reasons() == set(KEYS)


def test_the_timeline_summary_reads_in_english_and_chinese() -> None:
    for reason in _all_reasons():
        assert translate("summary.notPlanned", "en", "UTC", reason=reason_term(reason)) == f"Not planned yet: {reason}"
        zh = translate("summary.notPlanned", "zh-CN", "UTC", reason=reason_term(reason))
        assert zh.startswith("暂未安排：") and reason not in zh


def test_a_reason_not_in_the_catalogue_still_reads_as_its_text() -> None:
    assert translate("summary.notPlanned", "zh-CN", "UTC", reason=reason_term("a new reason")) == "暂未安排：a new reason"
