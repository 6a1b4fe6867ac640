"""Escalation tiers: field technician (1) -> remote technical support (2) -> engineering (3).

Each hand-over is one escalation at one tier with its own response clock; the tier acknowledges, then either
resolves (the resolution goes back to the technician and into the knowledge base through the work order's
cause/fix) or escalates to the next tier, which opens a new escalation there. Pure rules; service.py stores.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import Any

TIER_NAMES = {1: "field technician", 2: "remote technical support", 3: "engineering"}
# Minutes for the tier to respond (acknowledge): remote support answers a technician on site within half an
# hour (the technician waits at the asset); engineering within a working half-day.
RESPONSE_MIN = {2: 30, 3: 240}
# Key and gold contracts buy faster escalation answers, in line with their tighter on-site SLA.
PRIORITY_FACTOR = {"key": 0.5, "gold": 0.5}
DUE_SOON_MIN = 10  # the queue flags a clock this close to its deadline
TELEMETRY_WINDOW_MAX_ROWS = 2000  # evidence attached to an escalation stays a readable size

# Who works and who sees which tier's queue, by API role. Remote technical support answers tier 2 and hands on to
# engineering; engineering answers tier 3 and reads tier 2 (the history of what support tried). Dispatchers and
# admins oversee both. Anyone else (technicians, customers) sees an escalation only through their own job.
ROLE_TIERS: dict[str, dict[str, frozenset[int]]] = {
    "admin": {"works": frozenset({2, 3}), "sees": frozenset({2, 3})},
    "dispatcher": {"works": frozenset({2, 3}), "sees": frozenset({2, 3})},
    "support": {"works": frozenset({2}), "sees": frozenset({2})},
    "engineering": {"works": frozenset({3}), "sees": frozenset({2, 3})},
}
# Photos the phone sends: a data: URL of an image (stored apart from the evidence) or a reference string.
PHOTO_MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
PHOTO_MAX_BYTES = 2_000_000  # a phone photo scaled to 1024 px is ~100-300 kB; this bounds a forged one

ACTIONS = {"acknowledge": ("open",), "resolve": ("open", "acknowledged"), "escalate": ("open", "acknowledged")}


class InvalidEscalation(ValueError):
    """An action not allowed in the escalation's state or tier."""


class InvalidPhoto(ValueError):
    """A photo that is neither a reference nor an image data: URL the API accepts."""


def tiers_seen(role: str) -> frozenset[int]:
    return ROLE_TIERS.get(role, {}).get("sees", frozenset())


def tiers_worked(role: str) -> frozenset[int]:
    return ROLE_TIERS.get(role, {}).get("works", frozenset())


def parse_photo(photo: str) -> tuple[str, bytes] | None:
    """``(media type, bytes)`` of a ``data:image/...;base64,`` URL; None for a plain reference (kept as text).
    Raises InvalidPhoto for a data URL that is not a readable image of an accepted type and size."""
    if not photo.startswith("data:"):
        return None
    head, sep, body = photo.partition(",")
    media_type = head[5:].removesuffix(";base64")
    if not sep or not head.endswith(";base64") or media_type not in PHOTO_MEDIA_TYPES:
        raise InvalidPhoto("photos must be base64 data: URLs of JPEG, PNG, WebP or GIF images")
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidPhoto("photo is not valid base64") from e
    if not raw or len(raw) > PHOTO_MAX_BYTES:
        raise InvalidPhoto(f"photo must be 1 byte to {PHOTO_MAX_BYTES // 1_000_000} MB")
    return media_type, raw


def respond_due(tier: int, opened_at: datetime, sla_tier: str = "standard") -> datetime:
    if tier not in RESPONSE_MIN:
        raise InvalidEscalation(f"no escalation tier {tier}")
    return opened_at + timedelta(minutes=RESPONSE_MIN[tier] * PRIORITY_FACTOR.get(sla_tier, 1.0))


def next_status(status: str, tier: int, action: str) -> str:
    """The status after ``action``; escalating from engineering (tier 3) is not possible."""
    allowed = ACTIONS.get(action)
    if allowed is None or status not in allowed:
        raise InvalidEscalation(f"cannot {action} an escalation that is {status}")
    if action == "escalate" and tier >= 3:
        raise InvalidEscalation("engineering is the last tier")
    return {"acknowledge": "acknowledged", "resolve": "resolved", "escalate": "escalated"}[action]


def clock(respond_due_at: datetime, acknowledged_at: datetime | None, now: datetime) -> dict[str, Any]:
    """State of the response clock: answered (in time or late), running, due soon or breached."""
    if acknowledged_at is not None:
        return {"state": "met" if acknowledged_at <= respond_due_at else "late", "minutes_left": None}
    left = (respond_due_at - now).total_seconds() / 60
    state = "breached" if left < 0 else "due_soon" if left <= DUE_SOON_MIN else "running"
    return {"state": state, "minutes_left": round(left, 1)}


def telemetry_evidence(rows: list[tuple[datetime, str, float]]) -> dict[str, list[list[Any]]]:
    """Telemetry rows as {signal: [[iso time, value], ...]}: compact, and what a chart wants."""
    out: dict[str, list[list[Any]]] = {}
    for ts, signal, value in rows[:TELEMETRY_WINDOW_MAX_ROWS]:
        out.setdefault(signal, []).append([ts.isoformat(), value])
    return out
