"""Problem -> RoutingData: nodes, allowed vehicles, penalties, and the reasons for jobs that cannot be served.

Parts formulation (documented choice): a job needing parts gets one node per way of serving it — a "stocked"
copy for technicians whose van holds the parts, and per nearby depot a copy paired with an optional pick-up
node at that depot (pick-up-and-delivery pair: same vehicle, pick-up first) for technicians who lack them.
All copies of a job share one disjunction, so exactly one is served or the drop penalty is paid. Van stock is
consumed along a route (one capacity dimension per SKU, ``routing_model.add_van_stock``): two jobs of one route
cannot both plan on the van's last unit; the second takes a depot pick-up (allowed to a stocked technician when
their van holds fewer units than the jobs they could serve need), or, when no depot within reach has it, a plain
visit with the part following by courier.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from dispatch.models import TIER_WEIGHT, Job, Location, Params, Problem, Technician
from dispatch.routing_model import RoutingData
from dispatch.travel import TravelTimeProvider

# Penalty for dropping an in-progress, pinned or locked job: effectively mandatory, yet the model stays
# solvable (and the drop visible) if the commitment has become impossible.
COMMITTED_PENALTY = 10**9

REASON_NO_SKILL = "no qualified technician"
REASON_NO_SHIFT = "no qualified technician on shift"
REASON_PIN = "pinned technician unavailable or not qualified"
REASON_WINDOW = "window unreachable"
REASON_SHIFT_TIME = "no qualified technician can reach it before shift end"
REASON_PARTS = "parts unavailable (no van or depot stock)"
REASON_CAPACITY = "capacity/time: no room in a qualified technician's route"


@dataclass(frozen=True)
class NodeMeta:
    kind: str  # "start", "end", "job", "pickup"
    job_id: str | None = None
    depot_id: str | None = None
    skus: tuple[tuple[str, int], ...] = ()


@dataclass
class Encoding:
    data: RoutingData
    meta: list[NodeMeta]
    tech_ids: list[str]
    reasons: dict[str, str]  # job id -> reason, for jobs left out of the model
    job_nodes: dict[str, list[int]] = field(default_factory=dict)
    pickup_of: dict[int, int] = field(default_factory=dict)  # job copy node -> its pick-up node
    warm_routes: list[list[int]] = field(default_factory=list)
    warm_routes_previous_only: list[list[int]] = field(default_factory=list)
    # Job nodes whose first ``data.site_costs`` piece is the priority-weighted time to site (the pull towards
    # the site); the distance pass (dispatch.second_pass) leaves that piece out and keeps the others.
    pull_nodes: set[int] = field(default_factory=set)


def qualified(job: Job, tech: Technician) -> bool:
    return job.required_skills <= tech.skills


def has_parts(stock: Mapping[str, int], parts: tuple[tuple[str, int], ...]) -> bool:
    return all(stock.get(sku, 0) >= qty for sku, qty in parts)


def committed_tech(job: Job, problem: Problem) -> str | None:
    """Technician a job is bound to: in progress, pinned, or locked to its previous technician."""
    if job.in_progress_by:
        return job.in_progress_by
    if job.pinned_to:
        return job.pinned_to
    if job.locked and problem.previous_plan is not None:
        return problem.previous_plan.technician_of(job.id)
    return None


def _rel(t: float, now: float) -> int:
    return math.floor(t - now)


def _service(job: Job, problem: Problem, techs: dict[str, Technician]) -> int:
    tech = techs.get(job.in_progress_by or "")
    if tech is not None and tech.state == "on_site" and tech.busy_until is not None:
        return max(0, math.ceil(tech.busy_until - problem.now))
    return math.ceil(job.duration_s)


def unservable_reason(
    job: Job, problem: Problem, candidates: list[int], t_job: list[float], t_home: list[float]
) -> str | None:
    """Why no candidate technician can serve the job at all (None = at least one could)."""
    p, now = problem.params, problem.now
    on_shift = [v for v in candidates if problem.technicians[v].shift_end + p.max_overtime_s > now]
    if not on_shift:
        return REASON_NO_SHIFT
    window_miss = False
    for v in on_shift:
        tech = problem.technicians[v]
        depart = max(now, tech.shift_start, tech.busy_until or now)
        start = depart + t_job[v]
        if job.window is not None:
            start = max(start, job.window[0])
            if start > job.window[1]:
                window_miss = True
                continue
        if start + job.duration_s + t_home[v] <= tech.shift_end + p.max_overtime_s:
            return None
    return REASON_WINDOW if window_miss else REASON_SHIFT_TIME


def encode(problem: Problem, travel: TravelTimeProvider) -> Encoding:
    """Translate the snapshot into model data (times are integer seconds after ``problem.now``)."""
    p, now = problem.params, problem.now
    k = max(1, p.cost_units_per_s)  # cost units per second of driving (models.Params)
    techs = list(problem.technicians)
    tech_index = {t.id: v for v, t in enumerate(techs)}
    by_id = {t.id: t for t in techs}
    nv, nj = len(techs), len(problem.jobs)
    locs: list[Location] = [t.position for t in techs] + [t.home for t in techs]
    locs += [j.location for j in problem.jobs] + [d.location for d in problem.depots]
    raw = travel.matrix(locs, now)
    job_loc = {j.id: 2 * nv + k for k, j in enumerate(problem.jobs)}
    depot_loc = {d.id: 2 * nv + nj + k for k, d in enumerate(problem.depots)}

    node_loc: list[int] = []
    meta: list[NodeMeta] = []
    service: list[int] = []

    def add_node(loc: int, m: NodeMeta, svc: int) -> int:
        node_loc.append(loc)
        meta.append(m)
        service.append(svc)
        return len(node_loc) - 1

    starts = [add_node(v, NodeMeta("start"), 0) for v in range(nv)]
    ends = [add_node(nv + v, NodeMeta("end"), 0) for v in range(nv)]
    enc_reasons: dict[str, str] = {}
    windows: dict[int, tuple[int, int]] = {}
    soft: dict[int, tuple[int, int]] = {}
    site: dict[int, list[tuple[int, int]]] = {}
    allowed: dict[int, list[int]] = {}
    disj: list[tuple[list[int], int]] = []
    pairs: list[tuple[int, int]] = []
    first: dict[int, int] = {}
    then: dict[int, int] = {}
    job_nodes: dict[str, list[int]] = {}
    pickup_of: dict[int, int] = {}
    van_use: dict[int, tuple[tuple[str, int], ...]] = {}  # job copy node -> parts it takes from its van
    wanted = van_demand(problem)
    pull_nodes: set[int] = set()

    def scarce(v: int, parts: tuple[tuple[str, int], ...]) -> bool:
        return any(wanted[v].get(sku, 0) > techs[v].van_stock.get(sku, 0) for sku, _ in parts)

    for job in problem.jobs:
        jl = job_loc[job.id]
        bound = committed_tech(job, problem)
        if job.in_progress_by in tech_index:
            cands = [tech_index[job.in_progress_by]]
        else:
            cands = [v for v, t in enumerate(techs) if qualified(job, t)]
            if not cands:
                enc_reasons[job.id] = REASON_NO_SKILL
                continue
            if bound is not None:
                cands = [v for v in cands if techs[v].id == bound]
                if not cands:
                    enc_reasons[job.id] = REASON_PIN
                    continue
            reason = unservable_reason(
                job, problem, cands, [raw[v][jl] for v in range(nv)], [raw[jl][nv + v] for v in range(nv)]
            )
            if reason is not None:
                enc_reasons[job.id] = reason
                continue
        svc = _service(job, problem, by_id)
        m = NodeMeta("job", job.id)
        copies: list[tuple[int, list[int]]] = []  # (node, allowed vehicles)
        committed_pickup = _committed_pickup(job, by_id, depot_loc)
        if committed_pickup is not None:
            # The technician was sent via a depot and has not collected the parts yet: the pick-up stays their
            # fixed first stop, directly before the job (first_stop / then below), not re-chosen.
            jn = add_node(jl, m, svc)
            pn = add_node(
                depot_loc[committed_pickup],
                NodeMeta("pickup", job.id, committed_pickup, job.required_parts),
                int(p.pickup_duration_s),
            )
            allowed[pn] = cands
            disj.append(([pn], 0))
            pairs.append((pn, jn))
            pickup_of[jn] = pn
            then[pn] = jn
            copies.append((jn, cands))
        elif job.required_parts and not job.in_progress_by:
            stocked = [v for v in cands if has_parts(techs[v].van_stock, job.required_parts)]
            if stocked:
                node = add_node(jl, m, svc)
                copies.append((node, stocked))
                van_use[node] = job.required_parts  # consumed along the route (add_van_stock)
            depots = sorted(
                (d for d in problem.depots if has_parts(d.stock, job.required_parts)),
                key=lambda d: raw[depot_loc[d.id]][jl],
            )[: p.pickup_depots_per_job]
            # Technicians without the parts may pick up at a depot; so may those whose van holds fewer units than
            # all the jobs they could serve from it need (an earlier job of their route may take the last unit:
            # the depot is then the deliberate way). Not the others: the extra copies only slow the search.
            lacking = [v for v in cands if v not in stocked or scarce(v, job.required_parts)]
            for d in depots if lacking else ():
                jn = add_node(jl, m, svc)
                pn = add_node(
                    depot_loc[d.id],
                    NodeMeta("pickup", job.id, d.id, job.required_parts),
                    int(p.pickup_duration_s),
                )
                allowed[pn] = lacking
                disj.append(([pn], 0))
                pairs.append((pn, jn))
                pickup_of[jn] = pn
                copies.append((jn, lacking))
            if not depots and p.visit_without_parts:
                # No depot within reach has them: a plain visit, the part following by courier — for anyone when
                # no van has them, else for a stocked technician whose van an earlier job may empty.
                fallback = cands if not stocked else [v for v in stocked if scarce(v, job.required_parts)]
                if fallback:
                    copies.append((add_node(jl, m, svc), fallback))
            if not copies:
                enc_reasons[job.id] = REASON_PARTS
                continue
        else:
            node = add_node(jl, m, svc)
            copies.append((node, cands))
            tech = by_id.get(job.in_progress_by or "")
            if job.required_parts and tech is not None and has_parts(tech.van_stock, job.required_parts):
                van_use[node] = job.required_parts  # the committed job's parts come out of the same van
        weight = TIER_WEIGHT.get(job.tier, 1) * max(1, job.priority)
        penalty = k * drop_penalty(job, bound, p.drop_penalty_s, p.preventive_drop_penalty_s)
        disj.append(([n for n, _ in copies], penalty))
        job_nodes[job.id] = [n for n, _ in copies]
        deadline = (
            job.onsite_deadline if job.onsite_deadline is not None else job.created_at + p.default_onsite_s
        )
        on_site_now = job.in_progress_by in by_id and by_id[job.in_progress_by].state == "on_site"
        for n, vs in copies:
            if len(vs) < nv:
                allowed[n] = vs
            if job.window is not None:
                windows[n] = (max(0, _rel(job.window[0], now) + 1), max(0, _rel(job.window[1], now)))
            if job.preventive and bound is None:  # a visit: no promise, a gentle pull towards its suggested start
                soft[n] = (max(0, _rel(deadline, now)), k * p.preventive_lateness_per_s)
            elif job.preventive and not on_site_now:
                soft[n] = _hinge(deadline, k * p.lateness_per_s * weight, now, p)
            elif not on_site_now:
                soft[n], extra = arrival_costs(job, weight, now, p)
                if extra:
                    site[n] = extra
                if p.time_to_site_per_s > 0:  # arrival_costs puts the pull first
                    pull_nodes.add(n)
        if job.in_progress_by in tech_index:
            node = job_nodes[job.id][0]
            first[tech_index[job.in_progress_by]] = pickup_of.get(node, node)

    n = len(node_loc)
    travel_int = [[math.ceil(raw[node_loc[i]][node_loc[j]]) for j in range(n)] for i in range(n)]
    start_win, end_max, soft_end, breaks = [], [], [], {}
    for v, t in enumerate(techs):
        lo = max(0, _rel(t.shift_start, now) + 1)
        if t.state == "on_site" and t.busy_until is not None and v not in first:
            lo = max(lo, _rel(t.busy_until, now) + 1)
        end_max.append(max(lo, _rel(t.shift_end + p.max_overtime_s, now)))
        start_win.append((lo, end_max[-1]))
        soft_end.append((max(0, _rel(t.shift_end, now)), k * p.overtime_per_s))
        bs = [
            (max(0, _rel(a, now) + 1), _rel(b, now) - max(0, _rel(a, now) + 1))
            for a, b in t.breaks
            if b > now
        ]
        if any(d > 0 for _, d in bs):
            breaks[v] = [(a, d) for a, d in bs if d > 0]
    for v, node in first.items():  # a committed job is finished even if that runs past the overtime cap
        finish, here = start_win[v][0] + travel_int[starts[v]][node] + service[node], node
        while here in then:  # its committed pick-up first, then the job
            finish, here = finish + travel_int[here][then[here]] + service[then[here]], then[here]
        finish += travel_int[here][ends[v]] + sum(d for _, d in breaks.get(v, []))  # breaks may pause it
        end_max[v] = max(end_max[v], finish)
        start_win[v] = (start_win[v][0], end_max[v])
    for v in range(nv):  # every technician can always go straight home, however late (see home_by)
        end_max[v] = max(end_max[v], home_by(start_win[v][0], travel_int[starts[v]][ends[v]], breaks.get(v, [])))
        start_win[v] = (start_win[v][0], end_max[v])
    horizon = max(end_max + [hi for _, hi in windows.values()] + [1])

    ordered: list[tuple[int, int]] = []
    reassign: dict[int, dict[int, int]] = {}
    warm: list[list[int]] = [[] for _ in range(nv)]
    prev = problem.previous_plan
    if prev is not None:
        for tech_id, stops in prev.routes.items():
            if tech_id not in tech_index:
                continue
            tv = tech_index[tech_id]
            locked = [
                s.job_id
                for s in stops
                if s.kind == "job" and s.job_id in job_nodes and _is_locked(problem, s.job_id)
            ]
            for a, b in itertools.pairwise(locked):
                ordered += [(x, y) for x in job_nodes[a] for y in job_nodes[b]]
            for s in stops:
                if s.kind == "job" and s.job_id in job_nodes:
                    for v in range(nv):
                        if v != tv:
                            reassign.setdefault(v, {}).update(
                                {node: k * p.reassign_penalty_s for node in job_nodes[s.job_id]}
                            )
    skus = sorted({sku for parts in van_use.values() for sku, _ in parts})
    van_stock = []
    for sku in skus:
        use = [0] * n
        for node, parts in van_use.items():
            use[node] = sum(q for k, q in parts if k == sku)
        van_stock.append((use, [int(t.van_stock.get(sku, 0)) for t in techs]))
    data = RoutingData(
        van_stock=van_stock,
        travel=travel_int,
        cost=travel_int if k == 1 else [[k * x for x in row] for row in travel_int],
        service=service,
        starts=starts,
        ends=ends,
        horizon=horizon,
        windows=windows,
        soft_deadlines=soft,
        site_costs=site,
        global_span_cost=k * p.balance_per_s,
        vehicle_start_window=start_win,
        vehicle_end_max=end_max,
        vehicle_soft_end=soft_end,
        breaks=breaks,
        allowed=allowed,
        disjunctions=disj,
        pickup_pairs=pairs,
        first_stop=first,
        then=then,
        ordered=ordered,
        reassign=reassign,
    )
    enc = Encoding(data, meta, [t.id for t in techs], enc_reasons, job_nodes, pickup_of, warm,
                   pull_nodes=pull_nodes)
    if prev is not None:
        enc.warm_routes_previous_only = warm_routes(enc, problem)
        enc.warm_routes = with_new_jobs(enc, enc.warm_routes_previous_only)
    return enc


def _hinge(at: float, coeff: int, now: float, p: Params) -> tuple[int, int]:
    """Lateness past ``at`` less the planning margin, ``coeff`` per second; discounted when already broken:
    rushing a lost promise only makes other jobs late too, it still costs enough to be served soon."""
    if at - p.deadline_margin_s <= now:
        coeff = max(1, coeff // p.broken_promise_discount)
    return max(0, _rel(at - p.deadline_margin_s, now)), coeff


def arrival_costs(job: Job, weight: int, now: float,
                  p: Params) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """The objective's terms on a corrective job's arrival (``weight`` = tier weight x priority):

    * lateness past the service target (``lateness_per_s``; the time dimension's soft bound),
    * steeper past the contract deadline (``deadline_lateness_per_s`` more; merged into the target's bound
      when both fall together),
    * the priority-weighted time to site (``time_to_site_per_s``), from ``time_to_site_window_s`` before the
      target (from now when that is None or already passed).

    A job without a target aims at its deadline (callers that only know deadlines keep their meaning)."""
    deadline = job.onsite_deadline if job.onsite_deadline is not None else job.created_at + p.default_onsite_s
    target = job.onsite_target if job.onsite_target is not None else deadline
    k = max(1, p.cost_units_per_s)
    late, past_deadline = k * p.lateness_per_s * weight, k * p.deadline_lateness_per_s * weight
    extra: list[tuple[int, int]] = []
    if p.time_to_site_per_s > 0:
        start = 0 if p.time_to_site_window_s is None else max(0, _rel(target - p.time_to_site_window_s, now))
        extra.append((start, max(1, round(k * p.time_to_site_per_s * weight))))
    if past_deadline > 0 and _rel(deadline, now) == _rel(target, now):
        return _hinge(target, late + past_deadline, now, p), extra
    if past_deadline > 0:
        extra.append(_hinge(deadline, past_deadline, now, p))
    return _hinge(target, late, now, p), extra


def van_demand(problem: Problem) -> list[dict[str, int]]:
    """Per technician: units per SKU that the open jobs they could serve from their van would take (qualified,
    van holds the job's parts) plus their committed job's. Where this exceeds the van, routes compete for it."""
    out: list[dict[str, int]] = [{} for _ in problem.technicians]
    for v, t in enumerate(problem.technicians):
        for job in problem.jobs:
            if not job.required_parts or not has_parts(t.van_stock, job.required_parts):
                continue
            if job.in_progress_by not in (None, t.id) or not qualified(job, t):
                continue
            for sku, qty in job.required_parts:
                out[v][sku] = out[v].get(sku, 0) + qty
    return out


def drop_penalty(job: Job, bound: str | None, emergency_s: int, preventive_s: int) -> int:
    """Cost of leaving ``job`` out. Committed jobs are effectively mandatory; a preventive visit costs
    ``preventive_s`` whatever its tier (below every emergency: 1 s of lateness on any emergency weighs at least
    10, so the search drops a visit before an emergency runs more than ``preventive_s / 10`` s late); an
    emergency costs ``emergency_s`` x tier weight x priority."""
    if bound is not None:
        return COMMITTED_PENALTY
    if job.preventive:
        return preventive_s
    return emergency_s * TIER_WEIGHT.get(job.tier, 1) * max(1, job.priority)


def home_by(earliest_start: int, drive_home: int, breaks: list[tuple[int, int]]) -> int:
    """Earliest time an empty route is sure to fit: leave at the earliest start (after the last break, which
    OR-Tools allows before a route's start) and drive home.

    Why: a route end capped below this makes the technician's *empty* route infeasible, and with it the whole
    model (the search finds no solution and every job is dropped). That happened for a free technician still
    out after their shift who cannot be home within the overtime cap. The cap is relaxed to exactly what they
    need to get home: any job adds service time on top, so such a technician gets no new work, while the
    overtime they cannot avoid is still penalised by the soft bound at shift end."""
    leave = max([earliest_start] + [start + duration for start, duration in breaks])
    return leave + drive_home


def _committed_pickup(job: Job, techs: dict[str, Technician], depot_loc: dict[str, int]) -> str | None:
    """The depot of an in-progress job's pick-up still to be made (None: no pick-up, already on site, or the
    depot is not in the problem any more, when the job is planned as a plain visit)."""
    tech = techs.get(job.in_progress_by or "")
    if tech is None or tech.state == "on_site" or job.pickup_depot not in depot_loc:
        return None
    return job.pickup_depot


def with_new_jobs(enc: Encoding, routes: list[list[int]]) -> list[list[int]]:
    """Warm routes plus the jobs the previous plan did not hold, each appended to the shortest route allowed to
    serve it. Without this the search started from a solution with the new jobs unperformed and, on a loaded
    plan (30 technicians x 150 jobs), never inserted them within 5 s: a new urgent job was dropped while a cold
    start served it. Appended at the end they are feasible in most cases and local search moves them."""
    out = [list(r) for r in routes]
    used = {n for r in out for n in r}
    for nodes in enc.job_nodes.values():
        if any(n in used for n in nodes):
            continue
        best: tuple[int, int] | None = None
        for n in nodes:
            for v in enc.data.allowed.get(n, range(len(out))):
                if best is None or len(out[v]) < len(out[best[1]]):
                    best = (n, v)
        if best is None:
            continue
        node, v = best
        if node in enc.pickup_of:
            out[v].append(enc.pickup_of[node])
        out[v].append(node)
        used.add(node)
    return out


def _is_locked(problem: Problem, job_id: str) -> bool:
    return any(j.id == job_id and j.locked for j in problem.jobs)


def warm_routes(enc: Encoding, problem: Problem) -> list[list[int]]:
    """Previous plan as node routes (committed first stops first) for ReadAssignmentFromRoutes."""
    prev = problem.previous_plan
    routes: list[list[int]] = [[] for _ in enc.tech_ids]
    used: set[int] = set()
    for v, tech_id in enumerate(enc.tech_ids):
        route = routes[v]
        if v in enc.data.first_stop:
            node: int | None = enc.data.first_stop[v]
            while node is not None:  # the committed job, or its committed pick-up and then the job
                route.append(node)
                used.add(node)
                node = enc.data.then.get(node)
        stops = prev.routes.get(tech_id, ()) if prev is not None else ()
        for s in stops:
            if s.kind != "job" or s.job_id not in enc.job_nodes:
                continue
            if any(n in used for n in enc.job_nodes[s.job_id]):
                continue
            ok = [n for n in enc.job_nodes[s.job_id] if v in enc.data.allowed.get(n, [v])]
            if not ok:
                continue
            node = ok[0]
            if node in enc.pickup_of:
                route.append(enc.pickup_of[node])
            route.append(node)
            used.add(node)
    return routes
