"""Pure rules of the notification sender: signatures, back-off, and which targets a message goes to."""

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from api.notify import Target, backoff_s, choose_targets, sign, verify
from api.notify.policy import BACKOFF_BASE_S, BACKOFF_CAP_S


def test_signature_is_hmac_sha256_over_timestamp_and_body() -> None:
    body = b'{"id":1}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", 1_700_000_000, body) == f"sha256={expected}"


@given(st.binary(max_size=200), st.integers(0, 2**31), st.text(min_size=1, max_size=20))
def test_verify_accepts_own_signature_and_rejects_tampering(body: bytes, ts: int, secret: str) -> None:
    sig = sign(secret, ts, body)
    assert verify(secret, ts, body, sig, now=ts)
    assert not verify(secret, ts, body + b"x", sig, now=ts)
    assert not verify(secret + "x", ts, body, sig, now=ts)
    assert not verify(secret, ts, body, sig, now=ts + 301)  # stale: a replayed request


def test_backoff_doubles_from_base_and_is_capped() -> None:
    assert [backoff_s(n) for n in (1, 2, 3)] == [BACKOFF_BASE_S, 2 * BACKOFF_BASE_S, 4 * BACKOFF_BASE_S]
    assert backoff_s(50) == BACKOFF_CAP_S


@given(st.integers(1, 100))
def test_backoff_never_shrinks(n: int) -> None:
    assert backoff_s(n + 1) >= backoff_s(n) > 0


def test_targets_follow_preferences_specific_kind_beats_wildcard() -> None:
    everything = choose_targets("incident_detected", "a@x.example", [3, 4], {})
    assert everything == [Target("email", "a@x.example"), Target("webhook", "3"), Target("webhook", "4")]
    no_mail = {("*", "email"): False, ("work_completed", "email"): True}
    assert choose_targets("incident_detected", "a@x.example", [], no_mail) == []
    assert choose_targets("work_completed", "a@x.example", [], no_mail) == [Target("email", "a@x.example")]
    assert choose_targets("x", None, [7], {("x", "webhook"): False}) == []
