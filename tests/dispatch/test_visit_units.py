"""Pure parts of the visit steps: the signature check (dispatch/signoff.py) and per-visit durations
(dispatch/visit_history.py)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from dispatch.signoff import MAX_BYTES, SignoffError, clean_name, parse_signature
from dispatch.visit_history import durations, minutes_between
from tests.api.test_field_steps_integration import png


def url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def test_a_real_png_passes_with_its_size() -> None:
    sig = parse_signature(url(png(600, 200)))
    assert (sig.width, sig.height) == (600, 200) and sig.png.startswith(b"\x89PNG")


@pytest.mark.parametrize(("value", "reason"), [
    ("data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=", "PNG data URL"),  # SVG can carry script: refused
    ("data:image/png;base64,@@@@", "base64"),
    (url(b"GIF89a" + b"\x00" * 80), "not a PNG"),
    (url(png(2000, 100)), "at most"),
    (url(png()[:-12]), "truncated"),
    ("data:image/png;base64," + "A" * (MAX_BYTES * 2), "larger than"),
])
def test_bad_signatures_are_refused_with_the_reason(value: str, reason: str) -> None:
    with pytest.raises(SignoffError) as err:
        parse_signature(value)
    assert err.value.field == "signature" and reason in err.value.reason


def test_names_are_trimmed_and_bounded() -> None:
    assert clean_name("  王  芳 ") == "王 芳"
    for bad in ("", "   ", None, "x" * 121):
        with pytest.raises(SignoffError):
            clean_name(bad)


def test_durations_per_visit() -> None:
    t0 = datetime(2026, 1, 1, 10, tzinfo=UTC)
    now = t0 + timedelta(hours=2)
    done = {"status": "completed", "departed_at": t0, "arrived_at": t0 + timedelta(minutes=35),
            "completed_at": t0 + timedelta(minutes=95)}
    assert durations(done, now) == {"travel_min": 35.0, "onsite_min": 60.0}
    on_site = {**done, "status": "on_site", "completed_at": None}
    assert durations(on_site, now)["onsite_min"] == 85.0  # still there: counted to now
    driving = {"status": "en_route", "departed_at": t0, "arrived_at": None, "completed_at": None}
    assert durations(driving, now) == {"travel_min": 120.0, "onsite_min": None}
    assert minutes_between(t0, t0 - timedelta(minutes=1)) is None  # out of order: unknown, never negative
