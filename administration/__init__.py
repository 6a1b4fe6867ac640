"""administration: the master data a service organisation enters itself (customers, sites, assets, devices,
technicians and their calendars, contracts, users), bulk onboarding from CSV files, and problems customers
report from the portal. Every write is validated (administration.validation) and audited in its own
transaction; planning-relevant changes wake the dispatch loop through its change counter."""

from administration import accounts, csv_import, reports, service, validation
from administration.errors import AdminError, Conflict, NotFound, Rejected
from administration.models import PAUSE_KINDS, TIERS, Actor, FieldError, ImportReport, RowError

__all__ = [
    "PAUSE_KINDS",
    "TIERS",
    "Actor",
    "AdminError",
    "Conflict",
    "FieldError",
    "ImportReport",
    "NotFound",
    "Rejected",
    "RowError",
    "accounts",
    "csv_import",
    "reports",
    "service",
    "validation",
]
