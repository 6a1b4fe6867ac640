"""Request bodies of the spares API (api/routes/spares.py); responses are the service's read models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Sku = str
SKU_FIELD = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


class PartIn(BaseModel):
    sku: str = SKU_FIELD
    description: str = Field(min_length=1, max_length=200)
    equipment_types: list[Literal["pump", "chiller", "compressor"]] = Field(default_factory=list, max_length=3)
    unit_cost: float = Field(ge=0, le=1e9)
    weight_kg: float = Field(ge=0, le=1e5)


class LocationIn(BaseModel):
    kind: Literal["warehouse", "depot", "van"]
    name: str = Field(min_length=1, max_length=120)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    technician_id: int | None = None


class ReceiptIn(BaseModel):
    """Goods in at a location (supplier delivery, restock, or a count that found more)."""
    location_id: int
    sku: str = SKU_FIELD
    qty: int = Field(gt=0, le=100_000)
    note: str = Field("", max_length=300)


class ReservationIn(BaseModel):
    work_order_id: int
    location_id: int
    sku: str = SKU_FIELD
    qty: int = Field(gt=0, le=10_000)


class Site(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class ShipmentIn(BaseModel):
    """A courier or transfer shipment; exactly one destination. ``eta`` defaults to the courier lane's."""
    sku: str = SKU_FIELD
    qty: int = Field(gt=0, le=10_000)
    from_location_id: int
    to_location_id: int | None = None
    to_technician_id: int | None = None
    to_site: Site | None = None
    work_order_id: int | None = None
    eta: datetime | None = None


class ShipmentStatusIn(BaseModel):
    status: Literal["picked", "in_transit", "delivered", "cancelled"]
