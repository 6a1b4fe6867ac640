"""Every API route against a written access policy, for every role: the table below is the specification.

The route list comes from the running app (``app.routes``), not from the table, so a route added without a
policy line fails ``test_every_route_has_a_policy``. Roles come from ``api.auth.ROLES``: a role the table does
not name for a route is expected to be refused there (deny by default), so a new role (e.g. ``support``) is
tested on every route the day it appears and gets access only where a policy line grants it.

Expectations per (route, role):
- ``ALL``: the role uses the route without object restriction (never 401/403);
- ``OWN``: the role uses it only on its own objects: with another customer's / technician's object in the path
  it gets 404 (or 403); a list answer never contains the other party's device or technician;
- absent: refused, 403 (404 where the route does not reveal whether the object exists).

World (as in test_api_access.py): customer001 owns devices 0, 2, 4 and customer002 owns 1, 3, 5; tech01 has an
active job on device 0, tech02 an active job on device 1. Path parameters always name *the other party's*
object (customer002's device and webhook, tech02's job and escalation), so ``OWN`` checks are forbidden paths.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import ROLES, Principal, issue_token, key_holder
from core.clock import ManualClock, to_datetime
from core.settings import Settings
from quietfix.seed import seed
from tests.helpers import open_work_order

pytestmark = pytest.mark.integration

ALL, OWN = "all", "own"
STAFF = {"admin": ALL, "dispatcher": ALL}
# Escalation desks (tier 2 remote support, tier 3 engineering) are bound to no customer or technician: on the
# scoped lists their own scope is empty (OWN: never another party's data; objects in a path answer 404).
DESKS = {"support": OWN, "engineering": OWN}
SCOPED = {**STAFF, "technician": OWN, "customer": OWN, **DESKS}
ANYONE = {role: ALL for role in ("admin", "dispatcher", "technician", "customer", "support", "engineering")}

# Routes anyone may call without a token: health and metrics for probes, sign-in, and the page shells (static
# HTML/JS; every piece of data they show comes from the API routes below).
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/api/auth/token"),
          ("GET", "/"), ("GET", "/board"), ("GET", "/tech"), ("GET", "/tech/sw.js"),
          ("GET", "/tech/manifest.webmanifest"), ("GET", "/portal"), ("GET", "/planning"), ("GET", "/admin"),
          ("GET", "/audit"), ("GET", "/kpis"), ("GET", "/spares")}

ADMIN = {"admin": ALL}
POLICY: dict[tuple[str, str], dict[str, str]] = {
    # administration (#15): master data and accounts are the admin's; dispatchers read technicians and edit
    # their calendars (the foreign path objects below do not exist, so a granted write answers 404/422)
    ("GET", "/api/admin/{entity}"): STAFF,
    ("PUT", "/api/admin/customers/{code}"): ADMIN,
    ("PUT", "/api/admin/sites/{code}"): ADMIN,
    ("PUT", "/api/admin/assets/{serial}"): ADMIN,
    ("PUT", "/api/admin/technicians/{code}"): ADMIN,
    ("PUT", "/api/admin/contracts/{code}"): ADMIN,
    ("GET", "/api/admin/sla-pause-rules"): ADMIN,
    ("PUT", "/api/admin/sla-pause-rules/{tier}"): ADMIN,
    ("PUT", "/api/admin/technicians/{code}/pattern"): STAFF,
    ("POST", "/api/admin/technicians/{code}/absences"): STAFF,
    ("DELETE", "/api/admin/technicians/{code}/absences/{absence_id}"): STAFF,
    ("POST", "/api/admin/devices/{device}/provision"): ADMIN,
    ("POST", "/api/admin/devices/{device}/revoke"): ADMIN,
    ("POST", "/api/admin/users"): ADMIN,
    ("PUT", "/api/admin/users/{username}"): ADMIN,
    ("POST", "/api/admin/users/{username}/disable"): ADMIN,
    ("POST", "/api/admin/users/{username}/enable"): ADMIN,
    ("POST", "/api/admin/users/{username}/reset-password"): ADMIN,
    ("POST", "/api/admin/import"): ADMIN,
    ("POST", "/api/portal/problems"): {"customer": OWN},
    ("GET", "/api/incident-photos/{photo_id}"): {**STAFF, "customer": OWN},
    ("POST", "/api/auth/logout"): ANYONE,
    ("GET", "/api/auth/me"): ANYONE,
    ("PATCH", "/api/auth/me"): ANYONE,  # one's own language and zone (#21)
    ("GET", "/api/audit"): {"admin": ALL},
    # KPIs (#14): staff read every slice; a customer's answer is forced to their own customer's slice
    ("GET", "/api/kpis"): {**STAFF, "customer": OWN},
    ("GET", "/api/kpis.csv"): {**STAFF, "customer": OWN},
    # detection watchdog (#19): an operations view
    ("GET", "/api/detection/health"): STAFF,
    ("GET", "/api/live"): SCOPED,  # a stream: not requested here (tests/api covers its scope)
    # devices, telemetry, timelines, incidents, work orders, technicians, commands
    ("GET", "/api/devices"): SCOPED,
    ("GET", "/api/devices/{device_id}"): SCOPED,
    ("GET", "/api/devices/{device_id}/telemetry/latest"): SCOPED,
    ("GET", "/api/devices/{device_id}/telemetry"): SCOPED,
    ("GET", "/api/devices/{device_id}/timeline"): SCOPED,
    ("GET", "/api/incidents"): SCOPED,
    ("GET", "/api/work-orders"): SCOPED,
    ("GET", "/api/technicians"): SCOPED,  # a customer gets an empty list, a technician themselves
    ("POST", "/api/devices/{device_id}/commands"): {**STAFF, "technician": OWN},
    ("GET", "/api/devices/{device_id}/commands"): SCOPED,
    # assets
    ("GET", "/api/assets/{device_id}"): SCOPED,
    ("GET", "/api/assets/{device_id}/timeline"): SCOPED,
    ("GET", "/api/assets/{device_id}/rul"): SCOPED,
    ("GET", "/api/predicted-failures"): {**STAFF, "customer": OWN},
    ("GET", "/api/models"): {**STAFF, "support": ALL, "engineering": ALL},  # fleet-wide, no customer data
    # knowledge base: reference for everyone, edited by staff (a configuration change, audited)
    ("GET", "/api/knowledge"): ANYONE,
    ("GET", "/api/knowledge/{equipment_type}/{fault_mode}"): ANYONE,
    ("PUT", "/api/knowledge/{equipment_type}/{fault_mode}"): STAFF,
    # the dispatcher's board and the optimiser's plan
    ("GET", "/api/board"): STAFF,
    ("GET", "/api/board/kpis"): STAFF,
    ("GET", "/api/board/view"): STAFF,
    ("POST", "/api/board/incidents"): STAFF,
    ("POST", "/api/board/work-orders/{work_order_id}/assign"): STAFF,
    ("GET", "/api/board/routes"): STAFF,
    ("GET", "/api/plans/current"): {**STAFF, "technician": OWN},
    ("POST", "/api/work-orders/{work_order_id}/pin"): STAFF,
    ("POST", "/api/work-orders/{work_order_id}/lock"): STAFF,
    ("POST", "/api/work-orders/{work_order_id}/release"): STAFF,
    # work-order lifecycle (#15 item 3): a technician may mark only their own job awaiting parts
    ("GET", "/api/work-orders/cancel-reasons"): STAFF,
    ("POST", "/api/work-orders/{work_order_id}/cancel"): STAFF,
    ("POST", "/api/work-orders/{work_order_id}/reschedule"): STAFF,
    ("POST", "/api/work-orders/{work_order_id}/hold"): {**STAFF, "technician": OWN},
    ("POST", "/api/work-orders/{work_order_id}/resume"): STAFF,
    # the technician's phone
    ("GET", "/api/tech/jobs"): {"technician": OWN},
    ("POST", "/api/tech/jobs/{work_order_id}/actions"): {"technician": OWN},
    # reference lists of the completion form, and the customer's drawn sign-off of a visit (#15 item 3, #16 item 6)
    ("GET", "/api/tech/fix-codes"): {**STAFF, "technician": ALL},
    ("GET", "/api/work-orders/{work_order_id}/signoff.png"): {**STAFF, "technician": OWN, "customer": OWN},
    # the customer portal
    ("GET", "/api/portal/assets"): {"customer": OWN},
    ("GET", "/api/portal/surveys/pending"): {"customer": OWN},
    ("POST", "/api/portal/surveys"): {"customer": OWN},
    ("GET", "/api/portal/preferences"): {"customer": OWN},
    ("PUT", "/api/portal/preferences"): {"customer": OWN},
    ("GET", "/api/portal/webhooks"): {"customer": OWN},
    ("POST", "/api/portal/webhooks"): {"customer": OWN},
    ("DELETE", "/api/portal/webhooks/{webhook_id}"): {"customer": OWN},
    # spares: technicians read the catalogue, their van and their jobs' parts; the rest is staff's
    ("GET", "/api/spares/parts"): {**STAFF, "technician": ALL},
    ("POST", "/api/spares/parts"): STAFF,
    ("GET", "/api/spares/locations"): STAFF,
    ("POST", "/api/spares/locations"): STAFF,
    ("GET", "/api/spares/stock"): {**STAFF, "technician": OWN},
    ("GET", "/api/spares/van"): {**STAFF, "technician": OWN},
    ("POST", "/api/spares/receipts"): STAFF,
    ("GET", "/api/spares/ledger"): STAFF,
    ("GET", "/api/spares/work-orders/{work_order_id}/parts"): {**STAFF, "technician": OWN},
    ("GET", "/api/spares/work-orders/{work_order_id}/reservations"): STAFF,
    ("POST", "/api/spares/reservations"): STAFF,
    ("POST", "/api/spares/reservations/{reservation_id}/release"): STAFF,
    ("GET", "/api/spares/shipments"): STAFF,
    ("GET", "/api/spares/in-transit"): STAFF,
    ("POST", "/api/spares/shipments"): STAFF,
    ("POST", "/api/spares/shipments/{shipment_id}/status"): STAFF,
    ("GET", "/api/spares/replenishment"): STAFF,
    ("GET", "/api/spares/transfers"): STAFF,
    ("GET", "/api/spares/van-restock"): {**STAFF, "technician": OWN},
    ("GET", "/api/spares/alerts"): STAFF,
    ("POST", "/api/spares/alerts/{alert_id}/ack"): STAFF,
    ("GET", "/api/spares/orders"): STAFF,
    ("POST", "/api/spares/orders/propose"): STAFF,
    ("POST", "/api/spares/orders/{order_id}/approve"): STAFF,
    ("POST", "/api/spares/orders/{order_id}/reject"): STAFF,
    ("POST", "/api/spares/orders/{order_id}/receive"): STAFF,
    # planning: contracts, forecast, capacity, escalations
    ("GET", "/api/planning/work-orders/{work_order_id}/contract"): SCOPED,
    ("GET", "/api/planning/work-orders"): STAFF,
    ("GET", "/api/planning/customers/{customer_id}/contracts"): {**STAFF, "customer": OWN},
    ("GET", "/api/planning/forecast"): STAFF,
    ("GET", "/api/planning/roster"): STAFF,
    ("GET", "/api/planning/roster/proposal"): STAFF,
    ("POST", "/api/planning/roster/approve"): STAFF,
    ("GET", "/api/planning/coverage"): STAFF,
    ("POST", "/api/planning/coverage/what-if"): STAFF,
    ("POST", "/api/planning/work-orders/{work_order_id}/escalate"): {**STAFF, "technician": OWN},
    # escalations: the foreign one is tech02's tier-2 escalation, which remote support works and engineering reads
    # (planning.escalation.ROLE_TIERS; per-tier forbidden paths in tests/planning/test_escalation_roles_*)
    ("GET", "/api/planning/escalations"): {**STAFF, "support": ALL, "engineering": ALL},
    ("GET", "/api/planning/escalations/{escalation_id}"): {**STAFF, "technician": OWN, "support": ALL,
                                                          "engineering": ALL},
    ("GET", "/api/planning/escalations/{escalation_id}/photos/{photo_id}"): {
        **STAFF, "technician": OWN, "support": ALL, "engineering": ALL},
    ("POST", "/api/planning/escalations/{escalation_id}"): {**STAFF, "support": ALL},
    ("GET", "/api/planning/load"): STAFF,
    ("GET", "/api/planning/preventive"): STAFF,
}
STREAMS = {("GET", "/api/live")}
# Bodies valid enough to get past validation, so an in-route check (not only a role dependency) is what answers.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/devices/{device_id}/commands"): {"cmd": "ping"},
    ("POST", "/api/tech/jobs/{work_order_id}/actions"): {"action_id": str(uuid.UUID(int=7)), "action": "en_route"},
    ("POST", "/api/planning/work-orders/{work_order_id}/escalate"): {"reason": "policy test"},
    ("POST", "/api/planning/escalations/{escalation_id}"): {"action": "acknowledge"},
    ("POST", "/api/work-orders/{work_order_id}/cancel"): {"reason": "duplicate"},
    ("POST", "/api/work-orders/{work_order_id}/reschedule"): {"earliest_start": "2030-01-01T09:00:00Z",
                                                              "latest_start": "2030-01-01T12:00:00Z"},
    ("POST", "/api/work-orders/{work_order_id}/hold"): {"kind": "awaiting_parts"},
}
QUERIES = {("GET", "/api/devices/{device_id}/telemetry"): {"start": "2026-01-01T00:00:00Z",
                                                           "end": "2026-01-02T00:00:00Z"}}


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path template) of every HTTP route the app serves, however its routers are nested."""
    out = set()
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            out |= {(m, context.path) for m in context.methods if m != "HEAD"}
    return out


@pytest.fixture()
def world(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    devices = [d.device_id for d in seed(conn, devices=6, technicians=2, users=True, spares=True)]
    at = to_datetime(ManualClock().now())
    techs = dict(conn.execute("SELECT code, id FROM technicians").fetchall())
    customers = dict(conn.execute("SELECT u.username, u.customer_id FROM users u WHERE u.role = 'customer'"))
    users = {r[0]: r for r in conn.execute("SELECT username, id, role, customer_id, technician_id FROM users")}
    jobs = {}
    for name, device, tech in (("t1", devices[0], techs["T01"]), ("t2", devices[1], techs["T02"])):
        jobs[name] = open_work_order(conn, device, ["mechanical"], at)
        conn.execute("UPDATE work_orders SET technician_id = %s, status = 'assigned' WHERE id = %s",
                     (tech, jobs[name]))
    conn.commit()
    with TestClient(create_app(settings)) as client:
        def token(username: str) -> dict[str, str]:
            _, uid, role, cid, tid = users[username]
            return {"Authorization": f"Bearer {issue_token(Principal(uid, username, role, cid, tid), key_holder(client.app).ring.current)}"}

        # The other party's objects, created through the API as their owners would.
        hook = client.post("/api/portal/webhooks", headers=token("customer002"),
                           json={"url": "https://example.com/hook"})
        assert hook.status_code in (200, 201), hook.text
        esc = client.post(f"/api/planning/work-orders/{jobs['t2']}/escalate", headers=token("tech02"),
                          json={"reason": "needs engineering"})
        assert esc.status_code == 201, esc.text
        foreign = {"device_id": devices[1], "work_order_id": str(jobs["t2"]),
                   "customer_id": str(customers["customer002"]), "webhook_id": str(hook.json()["id"]),
                   "escalation_id": str(esc.json()["id"]), "equipment_type": "pump", "fault_mode": "bearing_wear",
                   "reservation_id": "1", "shipment_id": "1", "alert_id": "1", "order_id": "1", "photo_id": "1",
                   # administration: a list dispatchers may read, and objects that do not exist (the route must
                   # answer 404/422 for a granted role, never touch the shared broker or a real account)
                   "entity": "technicians", "code": "NO-SUCH-CODE", "serial": "NO-SUCH-SERIAL",
                   "absence_id": "999999", "device": "no-such-device", "username": "no-such-user",
                   "tier": "no-such-tier"}
        # What must never appear in an OWN list answer: the other party's device, technician code or job id.
        markers = [json.dumps(devices[1]), '"T02"']
        yield client, {"token": token, "foreign": foreign, "markers": markers,
                       "as_role": {"admin": "admin", "dispatcher": "dispatcher", "technician": "tech01",
                                   "customer": "customer001", "support": "support", "engineering": "engineering"}}


def test_every_route_has_a_policy(settings: Settings) -> None:
    served = app_routes(create_app(settings))
    missing = sorted(served - POLICY.keys() - PUBLIC)
    stale = sorted((POLICY.keys() | PUBLIC) - served)
    assert not missing, f"routes without an access policy (add them to POLICY): {missing}"
    assert not stale, f"policy lines for routes that no longer exist: {stale}"
    for route, grants in POLICY.items():
        assert set(grants.values()) <= {ALL, OWN} and set(grants) <= set(ROLES), route


def _principal_for(role: str, world: dict[str, Any]) -> dict[str, str]:
    username = world["as_role"].get(role)
    if username is not None:
        return world["token"](username)
    # A role this table does not know yet (added after it was written): a user bound to nothing.
    return world["token_for_unknown"](role)


def test_each_role_is_refused_or_scoped_on_every_route(world, settings: Settings) -> None:
    client, w = world
    w["token_for_unknown"] = lambda role: {
        "Authorization": f"Bearer {issue_token(Principal(999_999, f'new-{role}', role), key_holder(client.app).ring.current)}"}
    problems: list[str] = []
    checked = 0
    for (method, path), grants in sorted(POLICY.items()):
        if (method, path) in STREAMS:
            continue
        url = path.format(**w["foreign"])
        for role in ROLES:
            headers = _principal_for(role, w)  # a fresh token each time (logout revokes the one it gets)
            r = client.request(method, url, headers=headers, json=BODIES.get((method, path)),
                               params=QUERIES.get((method, path)))
            checked += 1
            expected = grants.get(role)
            where = f"{role} {method} {url} -> {r.status_code}"
            if r.status_code == 401 or r.status_code >= 500:
                problems.append(f"{where} (unexpected)")
            elif expected is None and r.status_code not in (403, 404):
                problems.append(f"{where}: must be refused (403/404)")
            elif expected == ALL and r.status_code == 403:
                problems.append(f"{where}: policy grants it")
            elif expected == OWN and "{" in path and r.status_code not in (403, 404) \
                    and not _has_no_path_object(path):
                problems.append(f"{where}: another party's object must answer 404")
            elif expected == OWN and r.status_code == 200 and any(m in r.text for m in w["markers"]):
                problems.append(f"{where}: the answer shows another party's data")
            elif expected == OWN and "{" not in path and r.status_code == 403:
                problems.append(f"{where}: policy grants it (own scope)")
    assert checked == (len(POLICY) - len(STREAMS)) * len(ROLES)
    assert problems == [], "\n".join(problems)


def _has_no_path_object(path: str) -> bool:
    """Path parameters that name reference data rather than someone's object (the knowledge base's keys)."""
    return "{equipment_type}" in path


def test_credentials_are_never_taken_from_cookies(world) -> None:
    """Why the API needs no CSRF token: a browser attaches cookies to cross-site requests, never an Authorization
    header, and the API ignores cookies. A valid token presented as a cookie authenticates nothing."""
    client, w = world
    token = w["token"]("admin")["Authorization"].removeprefix("Bearer ")
    for name in ("access_token", "token", "session", "Authorization"):
        client.cookies.set(name, token)
    try:
        assert client.get("/api/devices").status_code == 401
        assert client.put("/api/knowledge/pump/bearing_wear", json={}).status_code == 401
        assert client.get("/api/devices", headers=w["token"]("admin")).status_code == 200
    finally:
        client.cookies.clear()
