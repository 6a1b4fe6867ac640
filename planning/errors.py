"""Planning's domain errors (the API maps them to HTTP codes)."""

from planning.escalation import InvalidEscalation, InvalidPhoto


class NotFound(LookupError):
    """The work order or escalation does not exist (or is not the caller's)."""


class Forbidden(PermissionError):
    """The caller may see the escalation but not act on it (another tier's queue)."""


class StaleProposal(ValueError):
    """The roster proposal a dispatcher approves is not the current one (another day, or nothing to approve)."""


__all__ = ["Forbidden", "InvalidEscalation", "InvalidPhoto", "NotFound", "StaleProposal"]
