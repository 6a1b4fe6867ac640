"""dispatch: technician routing that reaches the site within 2 hours.

Pure logic (models, travel, routing model, solver, checker, baseline) plus the database loop and visit lifecycle.
"""

from dispatch.baseline import nearest_free
from dispatch.feasibility import check_plan
from dispatch.models import Depot, Job, Location, Params, Plan, Problem, Stop, Technician
from dispatch.routing_model import RoutingData, build_model
from dispatch.service import DispatchLoop, FreeTechnician, nearest_qualified
from dispatch.solver import solve
from dispatch.travel import OsrmTableProvider, StraightLineProvider, TravelTimeProvider, haversine_km
from dispatch.visits import (
    UNFIXED_OUTCOMES,
    complete,
    complete_unfixed,
    depart,
    due_arrivals,
    due_completions,
    mark_arrived,
)

__all__ = [
    "UNFIXED_OUTCOMES",
    "Depot",
    "DispatchLoop",
    "FreeTechnician",
    "Job",
    "Location",
    "OsrmTableProvider",
    "Params",
    "Plan",
    "Problem",
    "RoutingData",
    "Stop",
    "StraightLineProvider",
    "Technician",
    "TravelTimeProvider",
    "build_model",
    "check_plan",
    "complete",
    "complete_unfixed",
    "depart",
    "due_arrivals",
    "due_completions",
    "haversine_km",
    "mark_arrived",
    "nearest_free",
    "nearest_qualified",
    "solve",
]
