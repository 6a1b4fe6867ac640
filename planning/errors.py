"""Planning's domain errors (the API maps them to HTTP codes)."""

from planning.escalation import InvalidEscalation, InvalidPhoto


class NotFound(LookupError):
    """The work order or escalation does not exist (or is not the caller's)."""


class Forbidden(PermissionError):
    """The caller may see the escalation but not act on it (another tier's queue)."""


__all__ = ["Forbidden", "InvalidEscalation", "InvalidPhoto", "NotFound"]
