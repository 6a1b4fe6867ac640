"""Planning's domain errors (the API maps them to HTTP codes)."""

from planning.escalation import InvalidEscalation


class NotFound(LookupError):
    """The work order or escalation does not exist (or is not the caller's)."""


__all__ = ["InvalidEscalation", "NotFound"]
