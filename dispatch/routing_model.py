"""The one module that builds the OR-Tools routing model.

Input is :class:`RoutingData`, a solver-neutral table of nodes and vehicles in integer units (seconds after
``now`` for dispatch, scaled distance for Solomon VRPTW). :mod:`dispatch.encoding` turns a ``Problem`` into it,
``bench.vrptw`` turns a Solomon file into it, so the product and the benchmark run the very same model code.
Each constraint is one named ``add_*`` function so a test can show it binding in isolation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from ortools.constraint_solver import pywrapcp

TIME = "time"
CAPACITY = "capacity"
REASSIGN = "reassign"
T = TypeVar("T", int, float)

# A break may fall inside a stop's work, which then pauses and ends that much later, but not in its first minute:
# nobody starts a job on a break. Why not "no service may overlap a break": a three-hour repair could then never
# straddle a 30-minute break, and a free technician with a break coming up watched the job go to a busy one
# (issue #14, bench.live_day seed 7 over 24 h: work order 11).
BREAK_FREE_START_S = 60


@dataclass
class RoutingData:
    """Plain model data. Node indices are "manager nodes"; every vehicle has its own start and end node."""

    travel: list[list[int]]  # travel time between nodes (integer units)
    cost: list[list[int]]  # arc cost between nodes (often == travel)
    service: list[int]
    starts: list[int]
    ends: list[int]
    horizon: int
    windows: dict[int, tuple[int, int]] = field(default_factory=dict)  # hard service-start windows
    soft_deadlines: dict[int, tuple[int, int]] = field(default_factory=dict)  # node -> (deadline, cost/unit)
    # Further convex cost pieces on a node's arrival: node -> [(bound, cost per unit past it)], e.g. (0, w) for
    # the weighted time to site and (contract deadline, extra) beside the target in ``soft_deadlines``.
    site_costs: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    global_span_cost: int = 0  # per unit of the longest route (max end - min start): balance
    demand: list[int] | None = None  # None = capacity constraint off
    capacity: list[int] | None = None
    vehicle_start_window: list[tuple[int, int]] | None = None  # shift start range per vehicle
    vehicle_end_max: list[int] | None = None  # hard cap on route end (shift end + max overtime)
    vehicle_soft_end: list[tuple[int, int]] | None = None  # (shift end, overtime cost per unit)
    vehicle_fixed_cost: int = 0  # cost of using a vehicle (VRPTW hierarchical objective)
    breaks: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # vehicle -> [(start, duration)]
    allowed: dict[int, list[int]] = field(default_factory=dict)  # node -> allowed vehicles (skills, pins)
    disjunctions: list[tuple[list[int], int]] = field(default_factory=list)  # (alternatives, drop penalty)
    pickup_pairs: list[tuple[int, int]] = field(default_factory=list)  # (pickup node, job node)
    first_stop: dict[int, int] = field(default_factory=dict)  # vehicle -> node that must come first
    then: dict[int, int] = field(default_factory=dict)  # node -> node that must follow it directly when served
    ordered: list[tuple[int, int]] = field(default_factory=list)  # (a, b): b starts after a ends (locks)
    reassign: dict[int, dict[int, int]] = field(default_factory=dict)  # vehicle -> {node: penalty}
    # Per SKU: (units each node takes from its vehicle's van, units each vehicle's van holds)
    van_stock: list[tuple[list[int], list[int]]] = field(default_factory=list)

    @property
    def num_nodes(self) -> int:
        return len(self.service)

    @property
    def num_vehicles(self) -> int:
        return len(self.starts)


@dataclass
class RoutingModel:
    data: RoutingData
    manager: pywrapcp.RoutingIndexManager
    routing: pywrapcp.RoutingModel
    time: pywrapcp.RoutingDimension
    transit: int = -1  # the registered time transit callback (service + travel), shared by the site dimensions


def add_arc_costs(m: RoutingModel) -> None:
    """Arc cost = driving (the objective's base term); optional fixed cost per used vehicle."""
    evaluator = m.routing.RegisterTransitMatrix(m.data.cost)
    m.routing.SetArcCostEvaluatorOfAllVehicles(evaluator)
    if m.data.vehicle_fixed_cost:
        m.routing.SetFixedCostOfAllVehicles(m.data.vehicle_fixed_cost)


def add_time_dimension(m: RoutingModel) -> pywrapcp.RoutingDimension:
    """Cumul = service start time. Transit = service at the origin + travel; slack = waiting, up to horizon."""
    d = m.data
    transit = [[d.service[i] + d.travel[i][j] for j in range(d.num_nodes)] for i in range(d.num_nodes)]
    evaluator = m.routing.RegisterTransitMatrix(transit)
    m.transit = evaluator
    m.routing.AddDimension(evaluator, d.horizon, d.horizon, False, TIME)
    return m.routing.GetDimensionOrDie(TIME)


def around_breaks(earliest: T, work: T, breaks: Sequence[tuple[T, T]]) -> tuple[T, T]:
    """(start, end) of ``work`` that may begin at ``earliest``, under the break rule: it does not start within
    ``BREAK_FREE_START_S`` before or during a break (``breaks``: (start, duration), sorted), and each break that
    falls inside it pauses it. One rule for the plan's times (``forward_times``) and the baseline (nearest_free)."""
    start = earliest
    for a, dur in breaks:
        if start < a + dur and start + min(work, BREAK_FREE_START_S) > a:
            start = a + dur
    return start, paused_until(start, start + work, breaks)


def paused_until(t0: T, t1: T, breaks: Sequence[tuple[T, T]]) -> T:
    """When an activity from ``t0`` that would end at ``t1`` ends, paused by each break it meets (``breaks``:
    (start, duration), sorted); one it begins on is waited out first. Travel, waiting and work alike."""
    for a, dur in breaks:
        if a < t0 < a + dur:
            t1 += a + dur - t0
        elif t0 <= a < t1:
            t1 += dur
    return t1


def forward_times(d: RoutingData, v: int, route: list[int]) -> tuple[list[tuple[int, int, int]], int]:
    """(arrival, start, end) of each node of vehicle ``v``'s route, earliest first, and the arrival back at its
    end node, under ``add_breaks``' rule: travel, waiting and a stop's work after its first minute take each
    break's length longer; a stop does not start within a minute before or during a break. The search's own
    cumuls are feasible but not always the earliest with breaks, and a plan tells the earliest times."""
    breaks = sorted(d.breaks.get(v, []))
    t = d.vehicle_start_window[v][0] if d.vehicle_start_window is not None else 0
    here = d.starts[v]
    out: list[tuple[int, int, int]] = []
    for node in route:
        arrival = paused_until(t, t + d.travel[here][node], breaks)
        start, end = around_breaks(max(arrival, d.windows.get(node, (0, 0))[0]), d.service[node], breaks)
        out.append((arrival, start, end))
        t, here = end, node
    return out, paused_until(t, t + d.travel[here][d.ends[v]], breaks)


def add_time_windows(m: RoutingModel) -> None:
    """Customer time windows, hard: service starts inside [a, b]; early arrivals wait (slack)."""
    for node, (lo, hi) in m.data.windows.items():
        m.time.CumulVar(m.manager.NodeToIndex(node)).SetRange(lo, hi)


def add_shifts(m: RoutingModel) -> None:
    """Shift start (earliest departure) and the hard end cap (shift end + maximum overtime)."""
    d = m.data
    for v in range(d.num_vehicles):
        if d.vehicle_start_window is not None:
            lo, hi = d.vehicle_start_window[v]
            m.time.CumulVar(m.routing.Start(v)).SetRange(lo, hi)
        if d.vehicle_end_max is not None:
            m.time.CumulVar(m.routing.End(v)).SetMax(d.vehicle_end_max[v])


def add_overtime(m: RoutingModel) -> None:
    """Soft upper bound on the route end at shift end: each unit of overtime costs its coefficient."""
    if m.data.vehicle_soft_end is None:
        return
    for v, (end, coeff) in enumerate(m.data.vehicle_soft_end):
        if coeff > 0:
            m.time.SetCumulVarSoftUpperBound(m.routing.End(v), end, coeff)


def add_breaks(m: RoutingModel) -> None:
    """Fixed-time breaks as mandatory intervals: a stop's first minute may not overlap one; the rest of its work,
    the travel and the waiting absorb them (each takes the break's length longer). ``dispatch.solver`` reads the
    times back with ``forward_times``, the same rule, since the solution's cumuls need not be the earliest."""
    if not m.data.breaks:
        return
    solver = m.routing.solver()
    visit = [min(m.data.service[m.manager.IndexToNode(i)], BREAK_FREE_START_S) for i in range(m.routing.Size())]
    visit += [0] * m.data.num_vehicles  # end indices
    for v in range(m.data.num_vehicles):
        intervals = [
            solver.FixedDurationIntervalVar(start, start, dur, False, f"break_{v}_{k}")
            for k, (start, dur) in enumerate(m.data.breaks.get(v, []))
        ]
        if intervals:
            m.time.SetBreakIntervalsOfVehicle(intervals, v, visit)


def add_soft_deadlines(m: RoutingModel) -> None:
    """On-site deadline: lateness costs ``coeff`` per unit (coeff grows with the customer tier)."""
    for node, (deadline, coeff) in m.data.soft_deadlines.items():
        m.time.SetCumulVarSoftUpperBound(m.manager.NodeToIndex(node), deadline, coeff)


def add_site_costs(m: RoutingModel) -> None:
    """More than one cost piece on a node's arrival (weighted time to site, lateness past the contract deadline
    beside the target's): OR-Tools allows one soft upper bound per cumul variable and its Python API has no
    piecewise-linear cumul cost, so the k-th further piece of every node goes on the k-th "site" dimension, a
    copy of the time dimension (same transits, time windows' openings and shift starts; breaks are not copied,
    so these pieces may see an arrival up to a break earlier than the plan: they only steer the search).
    Each copy's cumuls are set as early as its constraints allow, which is when the technician can be there."""
    d = m.data
    depth = max([len(p) for p in d.site_costs.values()] + [1 if d.global_span_cost > 0 else 0])
    for k in range(depth):
        name = f"site_{k}"
        m.routing.AddDimension(m.transit, d.horizon, d.horizon, False, name)
        dim = m.routing.GetDimensionOrDie(name)
        for node, (lo, _) in d.windows.items():
            dim.CumulVar(m.manager.NodeToIndex(node)).SetMin(lo)
        if d.vehicle_start_window is not None:
            for v, (lo, _) in enumerate(d.vehicle_start_window):
                dim.CumulVar(m.routing.Start(v)).SetMin(lo)
        for node, pieces in d.site_costs.items():
            if k < len(pieces):
                bound, coeff = pieces[k]
                dim.SetCumulVarSoftUpperBound(m.manager.NodeToIndex(node), bound, coeff)


def add_balance(m: RoutingModel) -> None:
    """Balance: the longest route (latest end less earliest start over all technicians) costs per unit. On the
    first site dimension, not the time dimension: there a later departure shortens the span, and the search
    held technicians back (the plan's times come from the time dimension, whose starts must stay free)."""
    if m.data.global_span_cost > 0:
        m.routing.GetDimensionOrDie("site_0").SetGlobalSpanCostCoefficient(m.data.global_span_cost)


def add_capacity(m: RoutingModel) -> None:
    """Vehicle load (VRPTW). Off for technicians (demand None)."""
    d = m.data
    if d.demand is None or d.capacity is None:
        return
    evaluator = m.routing.RegisterUnaryTransitVector(list(d.demand))
    m.routing.AddDimensionWithVehicleCapacity(evaluator, 0, list(d.capacity), True, CAPACITY)


def add_van_stock(m: RoutingModel) -> None:
    """Van stock consumed along a route, hard: per SKU, the units the route's van-stocked jobs take never exceed
    what the van holds (a capacity dimension per SKU; the depot pick-up copies take nothing from the van)."""
    for k, (use, stock) in enumerate(m.data.van_stock):
        evaluator = m.routing.RegisterUnaryTransitVector(list(use))
        m.routing.AddDimensionWithVehicleCapacity(evaluator, 0, list(stock), True, f"van_stock_{k}")


def add_vehicle_restrictions(m: RoutingModel) -> None:
    """Skills and pins, hard: a node may only be served by its allowed vehicles (-1 = not served).

    Restricts the vehicle variable's domain, which OR-Tools' search filters honour the same way as
    SetAllowedVehiclesForIndex (whose absl::Span argument the 9.15 Python wrapper does not accept)."""
    for node, vehicles in m.data.allowed.items():
        m.routing.VehicleVar(m.manager.NodeToIndex(node)).SetValues([-1, *vehicles])


def add_disjunctions(m: RoutingModel) -> None:
    """Optional jobs: at most one alternative of each group is served, or the group's penalty is paid."""
    for nodes, penalty in m.data.disjunctions:
        m.routing.AddDisjunction([m.manager.NodeToIndex(n) for n in nodes], penalty, 1)


def add_pickups(m: RoutingModel) -> None:
    """Parts pick-up before the job: same vehicle, pick-up first (OR-Tools pickup-and-delivery pairs)."""
    solver = m.routing.solver()
    for pickup, job in m.data.pickup_pairs:
        p, j = m.manager.NodeToIndex(pickup), m.manager.NodeToIndex(job)
        m.routing.AddPickupAndDelivery(p, j)
        solver.Add(m.routing.VehicleVar(p) == m.routing.VehicleVar(j))
        solver.Add(m.time.CumulVar(p) <= m.time.CumulVar(j))


def add_first_stops(m: RoutingModel) -> None:
    """In-progress jobs: when served, the committed job is the vehicle's first stop (it is only left out when
    the commitment became impossible, which the drop reason then shows). A committed pick-up not yet collected
    is the first stop instead and its job follows directly (``then``)."""
    solver = m.routing.solver()
    for v, node in m.data.first_stop.items():
        index = m.manager.NodeToIndex(node)
        solver.Add(m.routing.ActiveVar(index) <= (m.routing.NextVar(m.routing.Start(v)) == index))
    for a, b in m.data.then.items():
        ia, ib = m.manager.NodeToIndex(a), m.manager.NodeToIndex(b)
        solver.Add(m.routing.ActiveVar(ia) <= (m.routing.NextVar(ia) == ib))


def add_ordering(m: RoutingModel) -> None:
    """Locks: when both are served, ``b`` starts after ``a`` ends (keeps the locked order)."""
    solver = m.routing.solver()
    for a, b in m.data.ordered:
        ia, ib = m.manager.NodeToIndex(a), m.manager.NodeToIndex(b)
        both = m.routing.ActiveVar(ia) * m.routing.ActiveVar(ib)
        gap = m.time.CumulVar(ia) + m.data.service[a] - m.time.CumulVar(ib)
        solver.Add(both * gap <= 0)


def add_reassignment_cost(m: RoutingModel) -> None:
    """Stability: serving a job planned for another technician costs its penalty, via a per-vehicle unary
    dimension whose span cost is the penalty sum (stays in C++, no Python callback in the search)."""
    d = m.data
    if not d.reassign:
        return
    evaluators = []
    for v in range(d.num_vehicles):
        vector = [0] * d.num_nodes
        for node, penalty in d.reassign.get(v, {}).items():
            vector[node] = penalty
        evaluators.append(m.routing.RegisterUnaryTransitVector(vector))
    cap = sum(max(p.values(), default=0) for p in d.reassign.values()) * d.num_nodes + 1
    m.routing.AddDimensionWithVehicleTransits(evaluators, 0, cap, True, REASSIGN)
    dim = m.routing.GetDimensionOrDie(REASSIGN)
    for v in range(d.num_vehicles):
        dim.SetSpanCostCoefficientForVehicle(1, v)


def build_model(data: RoutingData) -> RoutingModel:
    """Build the routing model with every constraint; the caller sets search parameters and solves."""
    manager = pywrapcp.RoutingIndexManager(data.num_nodes, data.num_vehicles, data.starts, data.ends)
    routing = pywrapcp.RoutingModel(manager)
    m = RoutingModel(data, manager, routing, None)  # type: ignore[arg-type]
    add_arc_costs(m)
    m.time = add_time_dimension(m)
    add_time_windows(m)
    add_shifts(m)
    add_overtime(m)
    add_soft_deadlines(m)
    add_site_costs(m)
    add_balance(m)
    add_capacity(m)
    add_van_stock(m)
    add_vehicle_restrictions(m)
    add_disjunctions(m)
    add_pickups(m)
    add_first_stops(m)
    add_ordering(m)
    add_reassignment_cost(m)
    add_breaks(m)
    return m


def node_routes(m: RoutingModel, solution: pywrapcp.Assignment) -> list[list[int]]:
    """Node routes (without start/end) per vehicle: what ReadAssignmentFromRoutes reads back."""
    out = []
    for v in range(m.data.num_vehicles):
        index, route = solution.Value(m.routing.NextVar(m.routing.Start(v))), []
        while not m.routing.IsEnd(index):
            route.append(m.manager.IndexToNode(index))
            index = solution.Value(m.routing.NextVar(index))
        out.append(route)
    return out
