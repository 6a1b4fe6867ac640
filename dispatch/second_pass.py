"""The distance pass: after the main solve, minimise driving without giving back what the main objective bought.

Why (issue #14): the main objective's priority-weighted time to site sends a free qualified technician rather
than queueing a job behind a busy one. It also does so where a technician finishing nearby would still be on
site well inside the target, and every such trip is driving the old km-only objective did not do (the day
simulation drove 18 % more per job: 15.34 -> 18.05 km, seed 1). A weaker term buys only part of it back and
loses on-site rate (docs/dispatch.md, "Day simulation").

Lexicographic instead of weighted: the main pass chooses the plan; this pass then searches the same model with
the pull towards the site switched off (driving dominates again) and every job the main plan serves held to a
hard arrival bound:

    bound = max(main-pass arrival, min(main-pass arrival + allowance, lateness bound))

where the lateness bound is the tightest of the job's target and contract deadline, less the planning margin
(the soft bounds in the model). So no job moves past the main plan's arrival by more than ``allowance``, none
is pushed into lateness it did not already have, and everything else the model holds stays as it was: skills,
pins, locks, committed first stops, depot pick-ups, shifts, breaks, van stock, the reassignment cost, and the
lateness, overtime and drop penalties. The pass starts from the main plan's routes, which satisfy every bound
by construction, so it can only return a plan at most as long in km (the search keeps its best).
"""

from __future__ import annotations

from dataclasses import replace

from ortools.constraint_solver import pywrapcp

from dispatch.encoding import Encoding
from dispatch.routing_model import RoutingData, RoutingModel, build_model, node_routes


def served_arrivals(enc: Encoding, model: RoutingModel, solution: pywrapcp.Assignment) -> dict[int, int]:
    """Earliest service start (model time units after ``now``) of every job node the solution serves."""
    out: dict[int, int] = {}
    for route in node_routes(model, solution):
        for node in route:
            if enc.meta[node].kind == "job":
                out[node] = solution.Min(model.time.CumulVar(model.manager.NodeToIndex(node)))
    return out


def lateness_bound(data: RoutingData, node: int, pull: bool) -> int | None:
    """The earliest arrival at which ``node`` starts to cost lateness (its target's or deadline's soft bound),
    leaving out the time-to-site pull (``pull``: the node's first site piece is the pull). None: no such bound
    (a committed job already on site)."""
    bounds = [data.soft_deadlines[node][0]] if node in data.soft_deadlines else []
    pieces = data.site_costs.get(node, [])
    bounds += [b for b, _ in (pieces[1:] if pull else pieces)]
    return min(bounds) if bounds else None


def distance_data(enc: Encoding, arrivals: dict[int, int], allowance: int | None,
                  extra_margin: int = 0) -> RoutingData:
    """``enc.data`` without the time-to-site pull and with each served job's arrival bounded (module doc);
    ``allowance`` None = up to the lateness bound, less ``extra_margin``."""
    d = enc.data
    site = {}
    for node, pieces in d.site_costs.items():
        kept = pieces[1:] if node in enc.pull_nodes else list(pieces)
        if kept:
            site[node] = kept
    windows = dict(d.windows)
    for node, first in arrivals.items():
        late = lateness_bound(d, node, node in enc.pull_nodes)
        if late is None:
            continue
        late -= extra_margin
        cap = late if allowance is None else min(late, first + allowance)
        lo, hi = windows.get(node, (0, d.horizon))
        windows[node] = (lo, min(hi, max(first, cap)))
    return replace(d, site_costs=site, windows=windows)


def improve(
    enc: Encoding,
    model: RoutingModel,
    solution: pywrapcp.Assignment,
    params: pywrapcp.DefaultRoutingSearchParameters,
    allowance: int | None,
    extra_margin: int = 0,
) -> tuple[RoutingData, RoutingModel, pywrapcp.Assignment] | None:
    """Run the distance pass from the main solution; None when its model cannot read the main routes back
    (not expected: they satisfy every bound) or the search returns nothing, so the caller keeps the main plan."""
    data = distance_data(enc, served_arrivals(enc, model, solution), allowance, extra_margin)
    second = build_model(data)
    second.routing.CloseModelWithParameters(params)
    routes = [[second.manager.NodeToIndex(n) for n in r] for r in node_routes(model, solution)]
    start = second.routing.ReadAssignmentFromRoutes(routes, True)
    if start is None:
        return None
    found = second.routing.SolveFromAssignmentWithParameters(start, params)
    return (data, second, found) if found is not None else None


def main_objective(model: RoutingModel, routes: list[list[int]],
                   params: pywrapcp.DefaultRoutingSearchParameters) -> float | None:
    """The main model's objective of other routes (the distance pass's), so ``Plan.objective`` stays the
    objective the product optimises: restore them in the main model and stop at the first solution."""
    start = model.routing.ReadAssignmentFromRoutes(
        [[model.manager.NodeToIndex(n) for n in r] for r in routes], True)
    if start is None:
        return None
    params.solution_limit = 1
    found = model.routing.SolveFromAssignmentWithParameters(start, params)
    return None if found is None else float(found.ObjectiveValue())


__all__ = ["distance_data", "improve", "lateness_bound", "main_objective", "served_arrivals"]
