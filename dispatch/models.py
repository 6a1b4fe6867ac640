"""Typed, frozen problem and plan objects for technician dispatch.

Why frozen dataclasses: a ``Problem`` is a snapshot of the world at ``now``; the solver, the baseline and the
feasibility checker all read the same snapshot and none may mutate it. All times are epoch seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

Tier = Literal["key", "gold", "standard", "bronze"]
TechState = Literal["free", "travelling", "on_site"]
StopKind = Literal["job", "pickup"]

TIERS: tuple[Tier, ...] = ("key", "gold", "standard", "bronze")

# Relative weight of a customer tier in lateness and drop penalties: a key account's minute of lateness costs
# as much as ten bronze minutes (the contract SLAs differ by roughly that factor).
TIER_WEIGHT: Mapping[str, int] = MappingProxyType({"key": 10, "gold": 5, "standard": 2, "bronze": 1})

_EMPTY: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Job:
    """A site visit. ``in_progress_by`` means the technician is already committed to it (driving there or on
    site) so it must stay that technician's first stop; ``pinned_to`` forces the technician; ``locked`` keeps
    the job on its previous technician and in its previous order among that technician's locked jobs."""

    id: str
    location: Location
    required_skills: frozenset[str] = frozenset()
    duration_s: float = 3600.0
    priority: int = 1
    tier: Tier = "standard"
    created_at: float = 0.0
    onsite_deadline: float | None = None  # the contract's deadline (None: created_at + Params.default_onsite_s)
    # The organisation's service target for being on site (None: created_at + Params.default_onsite_s). The
    # optimiser aims at it; the contract deadline, which may be later (coverage hours) or earlier (key
    # accounts), costs more on top (docs/dispatch.md, "Objective").
    onsite_target: float | None = None
    repair_deadline: float | None = None
    window: tuple[float, float] | None = None
    required_parts: tuple[tuple[str, int], ...] = ()
    pinned_to: str | None = None
    locked: bool = False
    in_progress_by: str | None = None
    # In-progress jobs only: the depot where the committed technician still has to collect this job's parts
    # (the pick-up they were sent with). It stays the fixed first stop, right before the job, so the route and
    # the ETA keep the detour and the depot hold keeps its pick-up stop (docs/dispatch.md, "Committed pick-ups").
    pickup_depot: str | None = None
    # A preventive visit (inspection, RUL repair): no 2-hour promise, and its own drop penalty
    # (``Params.preventive_drop_penalty_s``) far below any emergency's, so the optimiser drops it before it lets
    # an emergency run late (docs/dispatch.md, "Preventive visits").
    preventive: bool = False
    demand: int = 0  # capacity units; used by VRPTW-style problems, 0 for technician work
    # The customer's region: a large fleet is planned one region at a time (dispatch.regional); None = unknown.
    region: str | None = None


@dataclass(frozen=True, slots=True)
class Technician:
    id: str
    skills: frozenset[str]
    home: Location
    position: Location
    shift_start: float
    shift_end: float
    breaks: tuple[tuple[float, float], ...] = ()
    state: TechState = "free"
    busy_until: float | None = None
    van_stock: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    capacity: int | None = None  # None = no capacity limit (technicians); set for VRPTW vehicles
    region: str | None = None  # the technician's home region (dispatch.regional); None = unknown


@dataclass(frozen=True, slots=True)
class Depot:
    id: str
    location: Location
    stock: Mapping[str, int] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class Stop:
    kind: StopKind
    job_id: str | None
    depot_id: str | None
    skus: tuple[tuple[str, int], ...]
    eta: float  # arrival at the stop
    start: float  # service start (after waiting for a window)
    end: float  # service end


@dataclass(frozen=True, slots=True)
class Params:
    """Tuning of the objective. Costs are in "seconds of driving": one unit = one second behind the wheel."""

    # Dropping must be the last resort, never a way to save km *or lateness*: the penalty exceeds the cost of a
    # job served a full day late past both its target and its deadline ((time_to_site_per_s 1 + lateness_per_s
    # 10 + deadline_lateness_per_s 20) × 86 400 s = 2 678 400). With 8 h here, a 50-technician × 300-job
    # re-plan dropped every job (lateness made serving dearer than dropping).
    drop_penalty_s: int = 3_000_000
    # Drop penalty of a preventive visit (not tier-weighted): 2 h of driving, so a visit is served when it only
    # costs km, but it is the first thing dropped when serving it would make an emergency late: 12 min of a
    # bronze emergency's lateness (10/s) or 2.4 min of a gold one's already cost more. An emergency's drop
    # penalty (>= 1 000 000) is 140x this, so any emergency outranks any visit.
    preventive_drop_penalty_s: int = 2 * 3600
    # Per second a preventive visit the gate admitted starts after its suggested start (now + 30 min, set by
    # preventive.admit_preventive): admitted means "starting now is safe", and without a pull the optimiser left
    # visits at the end of routes where the next re-plan found the gate closed (day simulation, seed 1: 1 visit
    # of 12). 1/s is a tenth of a bronze emergency's lateness, so any emergency still comes first.
    preventive_lateness_per_s: int = 1
    # Per second late on the on-site deadline, times the tier weight: 1 s late on a standard contract (weight 2)
    # costs 20 s of driving, so the 2-hour promise dominates km. At 1 the day simulation traded lateness for
    # km (93 % on site in 2 h); at 10 it keeps ≥ 95 % while still driving ~40 % less than the baseline.
    lateness_per_s: int = 10
    # Per second from now until a job's technician is on site, times the tier weight and priority: the
    # priority-weighted time to site. Without it the optimiser was indifferent between arriving at once and just
    # before the target, so it saved km by queueing jobs on one route while free technicians watched (issue
    # #14). At 1, a standard job (weight 2) waiting an hour costs as much as two hours of driving, so a free
    # qualified technician is sent rather than the job queued behind another one.
    time_to_site_per_s: float = 1.0  # x weight, rounded to a whole cost unit (at least 1) per second
    # Where the time-to-site cost starts, in seconds before the service target (None: from now, every second
    # counts). Counted from now, the term outbid driving for every job however far inside its target: the
    # day simulation drove 11 % more per job (14.7 -> 16.3 km, seed 3) for arrivals already well within 2 h.
    # Counted from this long before the target, an arrival early in the target's window costs only its
    # driving (km decide, as before the term), and the pull towards the site grows as the target nears, so the
    # plan keeps arrivals well inside it rather than just before it. See docs/dispatch.md, "Objective".
    time_to_site_window_s: float | None = None
    # The distance pass (dispatch.second_pass): after the main solve, a second search minimises driving with
    # every served job's arrival bounded by max(main-pass arrival, min(main arrival + allowance, lateness bound))
    # -- lexicographic: the main objective first, then km. This share of the re-plan budget (or of
    # ``solution_limit``) goes to it; 0 (the default) switches it off. Why it exists: the time-to-site term
    # costs the day simulation km (issue #14: 15.34 -> 18.05 km per job, seed 1). Why it is off: measured with
    # 100 solutions per re-plan it was not reliably better -- tuning seed 4 16.93 -> 12.89 km per job but seed 5
    # 15.74 -> 16.81 (more), p95 time to site longer on every seed, and on seed 1 (evaluation) 18.05 -> 16.95 km
    # with on site within 2 h 99.1 % -> 96.2 % (docs/dispatch.md, "Distance pass"). 0.3 is the share measured.
    second_pass_share: float = 0.0
    # Share of the main search spent on a fresh construction beside the warm start (dispatch.solver.solve): the
    # search then continues from whichever start costs less. Local search cannot move a job from a stocked van
    # (one node) to a free technician who collects the part at a depot (a pick-up and job pair): no operator
    # swaps an active node for an inactive pair on another route, so a warm start that put it on a busy van
    # kept it there. Measured on an 18-technician shape (issue #14): the warm start alone left all 6 such jobs on
    # busy vans in 6 of 6 cases. 0 switches it off.
    fresh_start_share: float = 0.3
    # How much later than the main pass planned it a job may be reached in the distance pass (None: up to its
    # lateness bound, the target or deadline less the margin). Seed 4 (100 solutions per re-plan): None 12.89 km
    # per job, 15 min 16.54, main alone 16.93, on site within 2 h 100 % each. The price of None: a job may wait
    # for a technician finishing nearby while a farther one is free (idle-while-waiting, docs/dispatch.md).
    second_pass_allowance_s: float | None = None
    # Extra margin under the lateness bound in the distance pass only (its arrivals stay this much further inside
    # target and deadline). A knob for measurement (0: the bound is the main model's, target less 15 min).
    second_pass_extra_margin_s: float = 0.0
    # Per second past the *contract deadline* on top of the target's lateness (times the weight): breaking the
    # contract costs three times as much as missing the promise alone. (Paying only lateness_per_s past a
    # deadline-only job's deadline, as before targets, was measured and did not win back the day simulation's
    # km: seed 1, 100 solutions per re-plan, 18.05 -> 18.45 km/job.)
    deadline_lateness_per_s: int = 20
    # Per second of the longest route (global span, on a copy of the time dimension): an explicit balance term.
    # Off by default: the time-to-site term already spreads the work (a queued job costs its wait), and this one
    # cost the day simulation dearly (seed 3, rate 13, same load: km per job 16.3 -> 21.3, on site in 2 h 97.4 %
    # -> 93.9 %): every re-plan reshuffled routes to shorten the longest. Kept as a knob (test_objective.py).
    balance_per_s: int = 0
    # Cost units per second of driving (1 = costs are driving seconds). Every coefficient above is multiplied
    # by it inside the model, so a coefficient below one per second (time_to_site_per_s 0.25) keeps its
    # meaning in whole units. Plan.objective is given back in driving seconds.
    cost_units_per_s: int = 1
    # Plan to arrive this much before the on-site target and deadline: later arrivals in a re-planned day push planned
    # visits back, and a plan that just meets every deadline misses many after the next incident. 15 min
    # was chosen on seed 1 of the day simulation (93 % -> 96 % on site in 2 h); other seeds are held out.
    deadline_margin_s: float = 15 * 60.0
    # Lateness weight divisor for jobs already past their deadline: their promise is lost, so rushing them
    # only makes other jobs late too; they still cost enough to be served soon. Chosen by the day simulation.
    broken_promise_discount: int = 10
    # Per second past shift end: overtime is paid at about 1.5x, and a driving second is roughly "1".
    overtime_per_s: int = 2
    # Hard cap on overtime: labour rules rarely allow more than 2 h beyond the shift.
    max_overtime_s: float = 2 * 3600.0
    # Cost of moving a previously planned job to another technician: 15 min of driving, enough to avoid churn
    # for small gains but not enough to keep a clearly worse plan.
    reassign_penalty_s: int = 15 * 60
    # Time at a depot to collect parts.
    pickup_duration_s: float = 10 * 60.0
    # Depots considered per job needing parts: the nearest two cover almost all good choices, keeps model small.
    pickup_depots_per_job: int = 2
    # When neither a van nor a depot holds the part, still send someone: the on-site promise is about being
    # there (diagnose, make safe); the part follows by courier. False drops such jobs with REASON_PARTS.
    visit_without_parts: bool = True
    # Spread of a repair's actual/estimated time (log-normal sigma; the estimate is the median). The planner
    # expects what is left of a repair under way from it (planner.expected_remaining_s): 0.35 puts ~90 % of
    # repairs within -44 %..+78 % of the estimate, the long tail field-service managers report. 0: the
    # estimate is exact (what is left = estimate - elapsed).
    repair_sigma: float = 0.35
    # Default on-site deadline (from created_at) when a job carries none: the 2-hour promise.
    default_onsite_s: float = 2 * 3600.0


@dataclass(frozen=True, slots=True)
class Plan:
    routes: Mapping[str, tuple[Stop, ...]]
    dropped: Mapping[str, str]
    objective: float = 0.0
    kpis: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def technician_of(self, job_id: str) -> str | None:
        """Technician whose route holds ``job_id`` (None when dropped/absent)."""
        for tech_id, stops in self.routes.items():
            if any(s.kind == "job" and s.job_id == job_id for s in stops):
                return tech_id
        return None


@dataclass(frozen=True, slots=True)
class Problem:
    now: float
    jobs: tuple[Job, ...]
    technicians: tuple[Technician, ...]
    depots: tuple[Depot, ...] = ()
    previous_plan: Plan | None = None
    params: Params = field(default_factory=Params)


@dataclass(frozen=True)
class LifecycleOutcome:
    """What a cancel / reschedule / hold / resume did (dispatch/lifecycle.py). ``changed`` is False for a
    repeated request that found the job already there (nothing was written)."""

    work_order_id: int
    action: str  # cancel | reschedule | hold | resume
    changed: bool
    status: str  # the work order's status afterwards
    incident_closed: bool = False
    requeued_work_order_id: int | None = None
    hold_kind: str | None = None
    sla_paused: bool = False
    paused_s: float = 0.0
    onsite_due: datetime | None = None
