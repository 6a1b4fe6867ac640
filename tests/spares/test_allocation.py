"""Pure rules of the live flow: reading the technician's parts report and what a plan asks of spares."""

from __future__ import annotations

from dispatch.models import Plan, Stop
from dispatch.planner import OrderRow, parts_plan
from spares.allocation import km, missing, nearest_with_stock, parse_parts_used
from spares.models import GeoPoint


def test_parts_report_reads_sku_and_counts() -> None:
    assert parse_parts_used(["BRG-6204", "BRG-6204 x2", "2x SEAL-1", "FAN:3", "PCB 2"]) == {
        "BRG-6204": 3, "SEAL-1": 2, "FAN": 3, "PCB": 2}
    assert parse_parts_used(["replaced the bearing", "", "  "]) == {}
    assert parse_parts_used(["0x BRG"]) == {}


def test_missing_and_nearest_within_reach() -> None:
    assert missing({"A": 2, "B": 1}, {"A": 1, "B": 3}) == {"A": 1}
    site = GeoPoint(51.92, 4.48)
    points = [(1, GeoPoint(51.95, 4.45), 1), (2, GeoPoint(51.93, 4.49), 5), (3, GeoPoint(53.2, 6.5), 9)]
    assert nearest_with_stock(site, points, 1, 150.0) == 2
    assert nearest_with_stock(site, points, 6, 150.0) is None  # only the far one has 9, out of reach
    assert nearest_with_stock(site, points, 6, 500.0) == 3
    assert 180 < km(site, GeoPoint(53.2, 6.5)) < 200


def _order(i: int, status: str = "open", tech: int | None = None, parts: dict[str, int] | None = None) -> OrderRow:
    return OrderRow(id=i, status=status, lat=51.9, lon=4.4, required_skills=(), estimated_minutes=30,
                    tier="standard", severity=2, created_at=0.0, onsite_due=7200.0, technician_id=tech,
                    required_parts=parts)


def _stop(kind: str, job: str, depot: str | None, eta: float) -> Stop:
    return Stop(kind, job, depot, (), eta, eta, eta + 60)  # type: ignore[arg-type]


def test_parts_plan_reads_pickups_vans_drops_and_commitment() -> None:
    plan = Plan({"7": (_stop("job", "1", None, 100.0), _stop("pickup", "2", "40", 200.0),
                       _stop("job", "2", None, 300.0)),
                 "8": (_stop("job", "3", None, 50.0),)}, {"4": "no qualified technician"})
    orders = [_order(1, "assigned", 7, {"A": 1}), _order(2, parts={"B": 2}), _order(3, "assigned", 9, {"A": 1}),
              _order(4, parts={"C": 1}), _order(5, parts={"D": 0})]
    got = {p.work_order_id: p for p in parts_plan(plan, orders)}
    assert (got[1].technician_id, got[1].source, got[1].committed, got[1].arrival) == (7, "van", True, 100.0)
    assert (got[2].source, got[2].depot_location_id, got[2].needs, got[2].committed) == ("depot", 40, {"B": 2},
                                                                                        False)
    assert (got[3].technician_id, got[3].committed) == (8, False)  # moved to another technician: re-sourced
    assert got[4].source is None and got[4].needs == {"C": 1}  # dropped: keeps what it holds
    assert got[5].needs == {} and got[5].source is None
