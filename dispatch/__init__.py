"""dispatch: technician routing that reaches the site within 2 hours (pure logic; the DB loop lives in service)."""

from dispatch.baseline import nearest_free
from dispatch.feasibility import check_plan
from dispatch.models import Depot, Job, Location, Params, Plan, Problem, Stop, Technician
from dispatch.routing_model import RoutingData, build_model
from dispatch.solver import solve
from dispatch.travel import OsrmTableProvider, StraightLineProvider, TravelTimeProvider, haversine_km

__all__ = [
    "Depot",
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
    "haversine_km",
    "nearest_free",
    "solve",
]
