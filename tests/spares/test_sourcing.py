from __future__ import annotations

import math

from spares.models import GeoPoint
from spares.sourcing import (
    DAY_S,
    DEPOT_PICK_S,
    CourierLane,
    Job,
    PartNeed,
    SourceKind,
    StockPoint,
    TechnicianState,
    best_source,
    courier_eta,
    covers,
    propose_sources,
)

SPEED = 1.0  # one coordinate unit per second keeps the arithmetic readable


def travel(a: GeoPoint, b: GeoPoint) -> float:
    return math.hypot(a.lat - b.lat, a.lon - b.lon) / SPEED


NOW = 10 * DAY_S + 9 * 3600.0  # 09:00 on day 10
TECH_AT = GeoPoint(0.0, 0.0)
SITE = GeoPoint(0.0, 3000.0)  # 3000 s away
LANE = CourierLane(handling_s=1800.0, same_day_cutoff_s=14 * 3600.0, next_day_delivery_s=10 * 3600.0,
                   cost_same_day=80.0, cost_next_day=25.0)


def job(deadline_after: float = 7200.0, needs: tuple[PartNeed, ...] = (PartNeed("A"),)) -> Job:
    return Job(1, SITE, NOW + deadline_after, needs)


def tech(van: dict[str, int] | None = None) -> TechnicianState:
    return TechnicianState(5, 500, TECH_AT, van or {}, NOW)


def depot(loc: int, at: GeoPoint, stock: dict[str, int], lane: CourierLane | None = None) -> StockPoint:
    return StockPoint(loc, at, stock, lane)


def test_covers_sums_repeated_skus() -> None:
    assert covers({"A": 2}, [PartNeed("A"), PartNeed("A")])
    assert not covers({"A": 1}, [PartNeed("A"), PartNeed("A")])
    assert not covers({}, [PartNeed("A")])


def test_van_first_when_it_has_the_part() -> None:
    opts = propose_sources(job(), tech({"A": 1}), [depot(1, GeoPoint(0, 1500), {"A": 3}, LANE)], travel, NOW)
    assert opts[0].kind is SourceKind.VAN and opts[0].location_id == 500
    assert opts[0].eta == NOW + 3000.0 and opts[0].detour_s == 0.0 and opts[0].meets_deadline


def test_depot_on_route_before_courier() -> None:
    on_route = depot(1, GeoPoint(0, 1500), {"A": 3}, LANE)
    opts = propose_sources(job(), tech(), [on_route], travel, NOW)
    assert [o.kind for o in opts] == [SourceKind.DEPOT_PICKUP, SourceKind.COURIER]
    assert opts[0].detour_s == DEPOT_PICK_S
    assert opts[0].eta == NOW + 3000.0 + DEPOT_PICK_S


def test_nearer_detour_wins_among_depots() -> None:
    near = depot(1, GeoPoint(300, 1500), {"A": 1})
    far = depot(2, GeoPoint(900, 1500), {"A": 1})
    opts = propose_sources(job(), tech(), [far, near], travel, NOW)
    assert [o.location_id for o in opts] == [1, 2]
    assert opts[0].detour_s < opts[1].detour_s


def test_depot_without_the_part_is_skipped() -> None:
    assert propose_sources(job(), tech(), [depot(1, GeoPoint(0, 1500), {"B": 4})], travel, NOW) == []
    assert best_source(job(), tech(), [], travel, NOW) is None


def test_long_detour_ranks_after_courier() -> None:
    far = depot(1, GeoPoint(2000, 1500), {"A": 1})  # detour ~ 2000 s + pick, over 45 min
    courier_from = depot(2, GeoPoint(0, 2000), {"A": 1}, LANE)
    opts = propose_sources(job(deadline_after=5 * 3600.0), tech(), [far, courier_from], travel, NOW,
                           max_detour_s=1800.0)
    kinds = [(o.kind, o.location_id) for o in opts if o.meets_deadline]
    assert kinds.index((SourceKind.COURIER, 2)) < kinds.index((SourceKind.DEPOT_PICKUP, 1))


def test_same_day_courier_before_cutoff() -> None:
    eta, cost, same_day = courier_eta(LANE, GeoPoint(0, 0), SITE, NOW, travel)
    assert same_day and eta == NOW + 1800.0 + 3000.0 and cost == LANE.cost_same_day


def test_after_cutoff_courier_is_next_day() -> None:
    late = 10 * DAY_S + 15 * 3600.0
    eta, cost, same_day = courier_eta(LANE, GeoPoint(0, 0), SITE, late, travel)
    assert not same_day and eta == 11 * DAY_S + 10 * 3600.0 and cost == LANE.cost_next_day


def test_no_same_day_lane() -> None:
    lane = CourierLane(600.0, None, 8 * 3600.0, 0.0, 10.0)
    assert not courier_eta(lane, GeoPoint(0, 0), SITE, NOW, travel)[2]


def test_courier_eta_is_never_before_the_technician() -> None:
    near = depot(1, SITE, {"A": 1}, CourierLane(0.0, DAY_S, 0.0, 1.0, 1.0))
    courier = [o for o in propose_sources(job(), tech(), [near], travel, NOW) if o.kind is SourceKind.COURIER]
    assert courier[0].eta == NOW + 3000.0


def test_late_options_last_with_lateness_earliest_first() -> None:
    far1 = depot(1, GeoPoint(0, -4000), {"A": 1})   # 4000 + 600 + 7000 = 11600 s
    far2 = depot(2, GeoPoint(0, -2000), {"A": 1})   # 2000 + 600 + 5000 = 7600 s
    ok = depot(3, GeoPoint(0, 1000), {"A": 1})
    opts = propose_sources(job(deadline_after=5000.0), tech(), [far1, far2, ok], travel, NOW)
    assert [o.location_id for o in opts] == [3, 2, 1]
    assert opts[0].meets_deadline and opts[0].lateness_s == 0.0
    assert not opts[1].meets_deadline and opts[1].lateness_s == 7600.0 - 5000.0
    assert opts[2].lateness_s == 11600.0 - 5000.0


def test_busy_technician_sets_off_later() -> None:
    busy = TechnicianState(5, 500, TECH_AT, {"A": 1}, NOW + 3600.0)
    opt = propose_sources(job(deadline_after=4000.0), busy, [], travel, NOW)[0]
    assert opt.eta == NOW + 3600.0 + 3000.0 and not opt.meets_deadline and opt.lateness_s == 2600.0


def test_van_missing_one_of_two_parts_is_not_offered() -> None:
    opts = propose_sources(job(needs=(PartNeed("A"), PartNeed("B"))), tech({"A": 1}),
                           [depot(1, GeoPoint(0, 1500), {"A": 1, "B": 1})], travel, NOW)
    assert [o.kind for o in opts] == [SourceKind.DEPOT_PICKUP]


def test_planned_arrival_from_dispatch_is_respected() -> None:
    planned = Job(1, SITE, NOW + 7200.0, (PartNeed("A"),), planned_arrival=NOW + 5000.0)
    opts = propose_sources(planned, tech({"A": 1}), [depot(1, GeoPoint(0, 1500), {"A": 1})], travel, NOW)
    assert [(o.kind, o.eta) for o in opts] == [(SourceKind.VAN, NOW + 5000.0),
                                               (SourceKind.DEPOT_PICKUP, NOW + 5000.0 + DEPOT_PICK_S)]
