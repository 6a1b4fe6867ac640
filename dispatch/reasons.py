"""Why a job is not planned, as a catalogue term: the reasons stay plain English strings in plans (logs, the
board's tooltips, tests compare them), and a timeline event carries them as a nested message so the customer's
and the dispatcher's pages show them in their language (i18n ``dropReason.*``)."""

from __future__ import annotations

from typing import Any

from dispatch import preventive as pv
from dispatch.appointments import REASON_APPOINTMENT_LATER
from dispatch.baseline import REASON_NONE_FREE, REASON_WINDOW_LATER
from dispatch.encoding import (
    REASON_CAPACITY,
    REASON_NO_SHIFT,
    REASON_NO_SKILL,
    REASON_PARTS,
    REASON_PIN,
    REASON_SHIFT_TIME,
    REASON_WINDOW,
)

KEYS: dict[str, str] = {
    REASON_NO_SKILL: "noSkill",
    REASON_NO_SHIFT: "noShift",
    REASON_PIN: "pin",
    REASON_WINDOW: "window",
    REASON_SHIFT_TIME: "shiftTime",
    REASON_PARTS: "parts",
    REASON_CAPACITY: "capacity",
    REASON_NONE_FREE: "noneFree",
    REASON_WINDOW_LATER: "windowLater",
    REASON_APPOINTMENT_LATER: "appointmentLater",
    pv.REASON_PREVENTIVE_LOAD: "preventiveLoad",
    pv.REASON_PREVENTIVE_LATER: "preventiveLater",
    pv.REASON_PREVENTIVE_PREEMPTED: "preventivePreempted",
    pv.REASON_PREVENTIVE_SKILL: "preventiveSkill",
}


def reason_term(reason: str) -> dict[str, Any]:
    """A nested message parameter: the reason's catalogue key, and its English text for a reason not (yet) in
    the catalogue (a new one shows in English rather than as a key)."""
    return {"key": f"dropReason.{KEYS.get(reason, 'other')}", "text": reason}
