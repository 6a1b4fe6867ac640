"""Spares model: parts, stock locations, stock levels, reservations, shipments and ledger entries.

All frozen dataclasses, no I/O. Work orders, technicians and sites belong to other packages; they are referred
to by plain ids (``work_order_id``, ``technician_id``) and coordinates so this package stands on its own.
Times are epoch seconds (floats) taken from the injectable clock of the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class EquipmentType(StrEnum):
    PUMP = "pump"
    CHILLER = "chiller"
    COMPRESSOR = "compressor"


class LocationKind(StrEnum):
    WAREHOUSE = "warehouse"
    DEPOT = "depot"
    VAN = "van"


class ShipmentStatus(StrEnum):
    PLANNED = "planned"
    PICKED = "picked"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class ReservationStatus(StrEnum):
    ACTIVE = "active"
    RELEASED = "released"
    CONSUMED = "consumed"


class MovementKind(StrEnum):
    """Every change of stock is one of these; the deltas each applies are fixed in ``ledger.DELTAS``."""

    RECEIPT = "receipt"          # goods in from a supplier or the warehouse: on_hand +
    ADJUST_UP = "adjust_up"      # stock count found more: on_hand +
    ADJUST_DOWN = "adjust_down"  # stock count found less (or scrap): on_hand - (only unreserved units)
    RESERVE = "reserve"          # held for a work order: reserved +
    RELEASE = "release"          # hold dropped: reserved -
    CONSUME = "consume"          # a reserved unit fitted on a job: on_hand -, reserved -
    ISSUE = "issue"              # an unreserved unit fitted or handed over: on_hand -
    RETURN = "return"            # an unused part brought back: on_hand +
    SHIP_OUT = "ship_out"        # leaves this location on a shipment: on_hand - (only unreserved units)
    TRANSIT_IN = "transit_in"    # a shipment is on its way here: in_transit +
    DELIVER = "deliver"          # the shipment arrived here: in_transit -, on_hand +
    TRANSIT_CANCEL = "transit_cancel"  # an inbound shipment was cancelled or lost: in_transit -


# Shipments may only move forward along this graph; cancelled and delivered are final.
SHIPMENT_STEPS: dict[ShipmentStatus, frozenset[ShipmentStatus]] = {
    ShipmentStatus.PLANNED: frozenset({ShipmentStatus.PICKED, ShipmentStatus.CANCELLED}),
    ShipmentStatus.PICKED: frozenset({ShipmentStatus.IN_TRANSIT, ShipmentStatus.CANCELLED}),
    ShipmentStatus.IN_TRANSIT: frozenset({ShipmentStatus.DELIVERED, ShipmentStatus.CANCELLED}),
    ShipmentStatus.DELIVERED: frozenset(),
    ShipmentStatus.CANCELLED: frozenset(),
}


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lon: float


@dataclass(frozen=True)
class Part:
    sku: str
    description: str
    equipment_types: frozenset[EquipmentType]
    unit_cost: float  # currency units per piece
    weight_kg: float

    def __post_init__(self) -> None:
        if self.unit_cost < 0 or self.weight_kg < 0:
            raise ValueError("unit cost and weight must be non-negative")

    def fits(self, equipment_type: EquipmentType) -> bool:
        return equipment_type in self.equipment_types


@dataclass(frozen=True)
class StockLocation:
    """A warehouse, a depot, or a technician's van (which moves, so its point is only its base)."""

    id: int
    kind: LocationKind
    name: str
    point: GeoPoint
    technician_id: int | None = None

    def __post_init__(self) -> None:
        if (self.kind is LocationKind.VAN) != (self.technician_id is not None):
            raise ValueError("a van belongs to exactly one technician; other locations to none")


@dataclass(frozen=True)
class StockLevel:
    location_id: int
    sku: str
    on_hand: int = 0
    reserved: int = 0
    in_transit: int = 0

    @property
    def available(self) -> int:
        """Units that can still be reserved, issued or shipped."""
        return self.on_hand - self.reserved

    @property
    def position(self) -> int:
        """Inventory position for replenishment: what is here or coming, less what is promised."""
        return self.on_hand + self.in_transit - self.reserved


@dataclass(frozen=True)
class Reservation:
    id: int
    work_order_id: int
    location_id: int
    sku: str
    qty: int
    status: ReservationStatus = ReservationStatus.ACTIVE


@dataclass(frozen=True)
class Shipment:
    """Courier or transfer: from a stock location to another location, to a technician, or to a site."""

    id: int
    sku: str
    qty: int
    from_location_id: int
    status: ShipmentStatus
    shipped_at: float
    eta: float
    to_location_id: int | None = None
    to_technician_id: int | None = None
    to_site: GeoPoint | None = None
    work_order_id: int | None = None
    same_day: bool = False

    def __post_init__(self) -> None:
        targets = [self.to_location_id, self.to_technician_id, self.to_site]
        if sum(t is not None for t in targets) != 1:
            raise ValueError("a shipment goes to exactly one of: location, technician, site")
        if self.eta < self.shipped_at:
            raise ValueError("eta before shipping time")

    @property
    def lead_time_s(self) -> float:
        return self.eta - self.shipped_at


@dataclass(frozen=True)
class Movement:
    """A requested stock change, before the ledger rules accept it."""

    kind: MovementKind
    location_id: int
    sku: str
    qty: int
    at: float
    work_order_id: int | None = None
    shipment_id: int | None = None
    note: str = ""


@dataclass(frozen=True)
class LedgerEntry:
    """An accepted movement with the deltas it applied and the level it left behind (append-only)."""

    seq: int
    movement: Movement
    d_on_hand: int
    d_reserved: int
    d_in_transit: int
    after: StockLevel = field(compare=False)
