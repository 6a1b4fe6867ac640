"""spares: the right part on site in time, and stock planned from predicted failures.

Pure model and rules (models, ledger), sourcing per job (sourcing), stock planning (replenishment) and the
PostgreSQL repository (repository + queries.sql, migration core/migrations/0400_spares.sql).
"""

from spares.errors import InsufficientStock, InvalidMovement, NotFound, SparesError
from spares.ledger import Ledger, apply
from spares.models import (
                           EquipmentType,
                           GeoPoint,
                           LedgerEntry,
                           LocationKind,
                           Movement,
                           MovementKind,
                           Part,
                           Reservation,
                           ReservationStatus,
                           Shipment,
                           ShipmentStatus,
                           StockLevel,
                           StockLocation,
)
from spares.replenishment import (
                           FailureForecast,
                           PredictedFailure,
                           RestockLine,
                           StockAlert,
                           StockTarget,
                           Transfer,
                           cost_weighted_base_stock,
                           demand_pmf,
                           failure_probability_by,
                           forecast_demand,
                           horizon_demand_pmf,
                           out_of_stock_alerts,
                           plan_target,
                           suggest_transfers,
                           van_restock_list,
)
from spares.repository import SparesRepository
from spares.sourcing import (
                           CourierLane,
                           Job,
                           PartNeed,
                           SourceKind,
                           SourcingOption,
                           StockPoint,
                           TechnicianState,
                           best_source,
                           propose_sources,
)

__all__ = [
    "CourierLane", "EquipmentType", "FailureForecast", "GeoPoint", "InsufficientStock", "InvalidMovement", "Job", "Ledger",
    "LedgerEntry", "LocationKind", "Movement", "MovementKind", "NotFound", "Part", "PartNeed", "PredictedFailure",
    "Reservation", "ReservationStatus", "RestockLine", "Shipment", "ShipmentStatus", "SourceKind",
    "SourcingOption", "SparesError", "SparesRepository", "StockAlert", "StockLevel", "StockLocation",
    "StockPoint", "StockTarget", "TechnicianState", "Transfer", "apply", "best_source", "cost_weighted_base_stock",
    "demand_pmf", "failure_probability_by", "forecast_demand", "horizon_demand_pmf", "out_of_stock_alerts", "plan_target", "propose_sources", "suggest_transfers", "van_restock_list",
]
