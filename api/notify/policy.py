"""Pure rules: which channels and targets a notification goes to, and when to retry a failed one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# First retry after 30 s, doubling each time (30 s, 1, 2, 4 ... min), capped at 2 h: a short SMTP hiccup is
# bridged quickly, a receiver down for the night is not hammered.
BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 2 * 3600.0


@dataclass(frozen=True)
class Target:
    channel: str  # "email" or "webhook"
    address: str  # e-mail address, or the webhook endpoint's id


def backoff_s(attempts: int) -> float:
    """Delay before the next try after ``attempts`` failed ones (attempts >= 1)."""
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))


def enabled(prefs: Mapping[tuple[str, str], bool], kind: str, channel: str) -> bool:
    """A specific (kind, channel) row wins over the customer's ('*', channel) row; no row means on."""
    if (kind, channel) in prefs:
        return prefs[(kind, channel)]
    return prefs.get(("*", channel), True)


def choose_targets(kind: str, email: str | None, webhook_ids: Sequence[int],
                   prefs: Mapping[tuple[str, str], bool]) -> list[Target]:
    targets: list[Target] = []
    if email and enabled(prefs, kind, "email"):
        targets.append(Target("email", email))
    if enabled(prefs, kind, "webhook"):
        targets.extend(Target("webhook", str(i)) for i in webhook_ids)
    return targets
