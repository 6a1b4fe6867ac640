"""``GET /api/board/view``: everything one route-board refresh draws, in one round trip.

Why a bundle: on every live change each open board re-read six resources (board, plan, routes, parts in transit,
escalations, KPIs). Each was a cheap snapshot hit or 304, but each still paid a whole HTTP request through the
stack; with 160 boards and a change every 2 s that was ~500 requests/s, more than one API core answers
(bench/api_load.py). The bundle is the same shared snapshots (api/snapshot.py) concatenated as bytes — nothing is
re-serialised — under one ETag made of theirs, so an unchanged board costs one 304. The separate endpoints stay
for other clients.
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response

from api.auth import Staff
from api.routes.board import JSON_OBJECT, NOT_MODIFIED, board_body, kpis_body, now_of, route_views
from api.routes.planning import escalations_body
from api.routes.plans import staff_plan_body
from api.snapshot import conditional, etag_of, shared_body
from spares import service as spares_flow

router = APIRouter(tags=["board"])

# Member names in the bundle, in the order their snapshots are awaited below.
PARTS = ("board", "plan", "routes", "in_transit", "escalations", "kpis")


@router.get("/api/board/view", responses={200: {
    "description": "`{now, board, plan, routes, in_transit, escalations, kpis}`: the bodies of `GET /api/board` "
                   "(without `now`), `/api/plans/current` (`null` before the first plan), `/api/board/routes`, "
                   "`/api/spares/in-transit`, `/api/planning/escalations` and `/api/board/kpis`. Weak ETag (`now` "
                   "is per request), `Cache-Control: private, no-cache`, server time also in `X-Server-Now`.",
    **JSON_OBJECT}, **NOT_MODIFIED})
async def view(request: Request, principal: Staff) -> Response:
    """One board refresh: the staff-wide snapshots of the current board version in one answer (304 when the
    board already holds all of them)."""
    app = request.app
    now = now_of(request)
    bodies = await asyncio.gather(
        board_body(app), staff_plan_body(app), shared_body(app, "routes", route_views),
        shared_body(app, "in-transit", spares_flow.in_transit), escalations_body(request, principal),
        kpis_body(app, now))
    stamp = json.dumps(jsonable_encoder(now)).encode()
    tag = etag_of("|".join(b.etag for b in bodies).encode())
    payload = b'{"now":' + stamp + b"".join(b',"' + name.encode() + b'":' + body for name, body in zip(PARTS, bodies,
                                                                                                     strict=True))
    return conditional(request, payload + b"}", tag, weak=True, headers={"X-Server-Now": stamp.decode()[1:-1]})
