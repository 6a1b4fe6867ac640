"""planning: contracts and entitlements, workload forecast, capacity and coverage, preventive visits, escalation.

Sits above diagnostics and dispatch (uses their public surfaces) and below api. Pure logic modules plus the
database-backed use cases in service.py.
"""

from planning.entitlements import clock_start, covering, entitlement, in_coverage, next_inspection
from planning.models import Contract, Entitlement, InspectionDue

__all__ = [
    "Contract",
    "Entitlement",
    "InspectionDue",
    "clock_start",
    "covering",
    "entitlement",
    "in_coverage",
    "next_inspection",
]
