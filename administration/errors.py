"""Domain errors of administration; the API maps Rejected -> 422 (with field and reason), NotFound -> 404,
Conflict -> 409."""

from __future__ import annotations

from administration.models import FieldError


class AdminError(Exception):
    pass


class Rejected(AdminError):
    """The input broke a rule; ``errors`` names every field and why."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class NotFound(AdminError):
    pass


class Conflict(AdminError):
    pass
