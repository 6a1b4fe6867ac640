"""Spares domain errors: one base class so the API layer can map them to HTTP codes in one handler."""

from __future__ import annotations


class SparesError(Exception):
    """Base of every spares error."""


class InsufficientStock(SparesError):
    """A movement would take stock (on hand, reserved or in transit) below zero or over-reserve it.

    Raised by the pure ledger rules and by the repository when its conditional UPDATE matched no row, so the
    caller sees the same error whether the rule was enforced in memory or by PostgreSQL.
    """


class InvalidMovement(SparesError):
    """A movement that makes no sense on its own (non-positive quantity, wrong shipment status step)."""


class NotFound(SparesError):
    """A part, location, reservation or shipment that does not exist."""


class OrderStateError(SparesError):
    """A replenishment order asked to do what its status forbids (approve twice, receive a rejected one)."""
