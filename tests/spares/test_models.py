from __future__ import annotations

import pytest

from spares.models import (
    SHIPMENT_STEPS,
    EquipmentType,
    GeoPoint,
    LocationKind,
    Part,
    Shipment,
    ShipmentStatus,
    StockLevel,
    StockLocation,
)

P = GeoPoint(52.0, 4.0)


def test_van_needs_technician_and_depot_must_not_have_one() -> None:
    StockLocation(1, LocationKind.VAN, "van 1", P, technician_id=5)
    with pytest.raises(ValueError):
        StockLocation(1, LocationKind.VAN, "van 1", P)
    with pytest.raises(ValueError):
        StockLocation(2, LocationKind.DEPOT, "d", P, technician_id=5)


def test_part_fits_equipment() -> None:
    part = Part("BRG-1", "bearing", frozenset({EquipmentType.PUMP}), 40.0, 0.5)
    assert part.fits(EquipmentType.PUMP) and not part.fits(EquipmentType.CHILLER)
    with pytest.raises(ValueError):
        Part("X", "x", frozenset(), -1.0, 0.0)


def test_shipment_has_exactly_one_destination() -> None:
    Shipment(1, "S", 1, 3, ShipmentStatus.PLANNED, 0.0, 3600.0, to_site=P)
    with pytest.raises(ValueError):
        Shipment(1, "S", 1, 3, ShipmentStatus.PLANNED, 0.0, 3600.0)
    with pytest.raises(ValueError):
        Shipment(1, "S", 1, 3, ShipmentStatus.PLANNED, 0.0, 3600.0, to_site=P, to_technician_id=4)
    with pytest.raises(ValueError):
        Shipment(1, "S", 1, 3, ShipmentStatus.PLANNED, 100.0, 50.0, to_location_id=2)


def test_shipment_steps_are_forward_only() -> None:
    assert ShipmentStatus.DELIVERED in SHIPMENT_STEPS[ShipmentStatus.IN_TRANSIT]
    assert ShipmentStatus.PLANNED not in SHIPMENT_STEPS[ShipmentStatus.PICKED]
    assert not SHIPMENT_STEPS[ShipmentStatus.CANCELLED] and not SHIPMENT_STEPS[ShipmentStatus.DELIVERED]


def test_level_available_and_position() -> None:
    lv = StockLevel(1, "S", on_hand=5, reserved=2, in_transit=3)
    assert lv.available == 3 and lv.position == 6
