"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>" with the customer's own secret.

Signing the timestamp with the body lets a receiver refuse replays older than a few minutes; comparing in
constant time keeps the secret from leaking through timing.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Quietfix-Signature"
TIMESTAMP_HEADER = "X-Quietfix-Timestamp"
# Receivers should refuse a signature older than this; five minutes tolerates ordinary clock skew.
DEFAULT_TOLERANCE_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: int, body: bytes, signature: str, now: float,
           tolerance_s: float = DEFAULT_TOLERANCE_S) -> bool:
    """What a receiver does: recompute, compare in constant time, and refuse stale timestamps."""
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
