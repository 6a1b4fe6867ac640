"""What bench/api_load.py's simulated users ask for: each face's page (mirroring api/static), the role mix, the
closed-loop request mix and per-user pages over the user's own devices.

Split from bench/api_load.py (which runs the users and reports the figures) so each file reads on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.api_load_env import BenchUser

# Share of users on the route board; the rest are technicians' phones and customers' portals, half each.
DISPATCHER_SHARE = 0.8


@dataclass(frozen=True)
class Page:
    """What one kind of user's page asks for (mirrors api/static): ``load`` when it opens and ``refresh`` on a
    live change are batches of parallel GETs run in order; ``browse`` are single reads behind interactions."""

    role: str
    load: tuple[tuple[str, ...], ...]
    refresh: tuple[tuple[str, ...], ...]
    browse: tuple[str, ...]


def telemetry_window(device: str) -> str:
    now = datetime.now(UTC)
    window = f"start={(now - timedelta(hours=1)).isoformat()}&end={now.isoformat()}".replace("+", "%2B")
    return f"/api/devices/{device}/telemetry?{window}&bucket_s=60"


def pages(devices: list[str], customer_devices: list[str], tech_devices: list[str]) -> dict[str, Page]:
    """The three faces. Dispatcher: board.js (start: /api/board, refresh(), device list; refresh: one
    /api/board/view — board, plan, routes, in-transit, escalations and KPIs in one answer). Technician: tech.js
    ``load`` (its jobs). Customer: portal.js (assets and pending surveys; preferences on open). All start with
    qf.js's /api/auth/me."""
    board_refresh = (("/api/board/view",),)
    portal_refresh = (("/api/portal/assets", "/api/portal/surveys/pending"),)
    return {
        "dispatcher": Page("dispatcher", (("/api/auth/me",), ("/api/board",), *board_refresh,
                                          ("/api/devices?limit=5000",)), board_refresh,
                           ("/api/incidents?open_only=true", "/api/work-orders", "/api/technicians",
                            "/api/devices?limit=100", *(f"/api/devices/{d}/telemetry/latest" for d in devices[:4]),
                            *(telemetry_window(d) for d in devices[:2]), f"/api/devices/{devices[0]}")),
        "technician": Page("technician", (("/api/auth/me",), ("/api/tech/jobs",)), (("/api/tech/jobs",),),
                           (*(f"/api/devices/{d}" for d in tech_devices[:1]),
                            *(telemetry_window(d) for d in tech_devices[:1]), "/api/plans/current")),
        "customer": Page("customer", (("/api/auth/me",), *portal_refresh, ("/api/portal/preferences",)),
                         portal_refresh,
                         (*(f"/api/devices/{d}/timeline?limit=50" for d in customer_devices[:2]), "/api/incidents",
                          "/api/portal/assets")),
    }


def user_roles(users: int) -> list[str]:
    """``DISPATCHER_SHARE`` dispatchers, then technicians and customers alternating (at least one of each kind
    from three users on)."""
    n_disp = max(1, round(users * DISPATCHER_SHARE))
    n_disp = min(n_disp, users - 2) if users >= 3 else min(n_disp, users)
    rest = users - n_disp
    return ["dispatcher"] * n_disp + [("technician" if i % 2 == 0 else "customer") for i in range(rest)]


def request_mix(devices: list[str], customer_devices: list[str], tech_devices: list[str]) -> list[tuple[str, str]]:
    """Closed-loop (``--think 0``) mix of (role, path): mostly what boards re-read on every live change, then
    the lists a dispatcher opens, a technician's phone and customers' portals."""
    mix = [("dispatcher", "/api/board/view")] * 8 + [("dispatcher", "/api/board")] * 2
    mix += [("dispatcher", "/api/board/kpis")] * 2
    mix += [("dispatcher", "/api/plans/current")] * 4 + [("dispatcher", "/api/board/routes")] * 2
    mix += [("dispatcher", "/api/incidents?open_only=true"), ("dispatcher", "/api/work-orders"),
            ("dispatcher", "/api/technicians"), ("dispatcher", "/api/devices?limit=100")]
    mix += [("dispatcher", f"/api/devices/{d}/telemetry/latest") for d in devices[:4]]
    mix += [("dispatcher", telemetry_window(d)) for d in devices[:2]]
    mix += [("technician", "/api/tech/jobs"), ("technician", "/api/plans/current")]
    mix += [("technician", f"/api/devices/{d}") for d in tech_devices[:1]]
    mix += [("customer", "/api/portal/assets"), ("customer", "/api/incidents")]
    mix += [("customer", f"/api/devices/{d}/timeline?limit=50") for d in customer_devices[:2]]
    return mix


def user_pages(world: dict[str, Any], users: list[BenchUser]) -> tuple[list[Page], list[tuple[str, ...]]]:
    """Each user's page and closed-loop paths, over its own devices (a portal its customer's assets, a phone its
    first job's device): with distinct accounts, another customer's device would be a 404, not a load."""
    page_set, mixes = [], []
    for u in users:
        own = list(u.devices)
        cdevs = own if u.role == "customer" else world["customer_devices"]
        tdevs = own if u.role == "technician" else world["tech_devices"]
        page_set.append(pages(world["devices"], cdevs, tdevs)[u.role])
        mixes.append(tuple(path for role, path in request_mix(world["devices"], cdevs, tdevs) if role == u.role))
    return page_set, mixes


def route_of(path: str) -> str:
    """A path without its query and ids, for per-route figures."""
    base = path.split("?")[0]
    parts = ["{id}" if i == 3 and base.startswith("/api/devices/") else p for i, p in enumerate(base.split("/"))]
    return "/".join(parts)
