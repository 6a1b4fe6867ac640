"""The FastAPI application: routes, the connection pool, and the one place domain errors become HTTP codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api import live
from api.audit import AuditedConnection, AuditWrites
from api.auth import make_key_holder
from api.keys import check_configured
from api.limits import BodyLimit
from api.ratelimit import ConcurrencyLimit
from api.routes import admin as admin_routes
from api.routes import assets as asset_routes
from api.routes import (
    audit,
    auth,
    board,
    board_view,
    commands,
    detection,
    diagnostics,
    fleet,
    health,
    planning,
    plans,
    portal,
    portal_reports,
    service,
    technician,
)
from api.routes import kpis as kpi_routes
from api.routes import spares as spares_routes
from api.snapshot import InvalidateOnWrite
from core.db import make_pool
from core.settings import Settings

STATIC = Path(__file__).with_name("static")
I18N_CATALOGUES = Path(__file__).resolve().parents[1] / "i18n" / "catalogues"
VENDOR = Path(__file__).resolve().parents[1] / "node_modules"
# Database connections per API process; requests admitted at once are capped to the same number (ConcurrencyLimit).
POOL_MAX_SIZE = 10
# Routes that take photos: an escalation (up to 10 base64 photos, api/planning_schemas.py) and a customer's
# problem report (one photo, administration/reports.py); and the CSV import (up to 5 files of 20 MiB).
PHOTO_UPLOAD_PATHS = (r"/api/planning/work-orders/[0-9]+/escalate", r"/api/portal/problems")
IMPORT_UPLOAD_PATH = r"/api/admin/import"
# Connections for the shared reads every open board depends on (one version read, snapshot builds, live cursors).
SHARED_POOL_SIZE = 3


def create_app(settings: Settings) -> FastAPI:
    """The API app; raises :class:`api.keys.SigningKeyError` at once for a configured signing key that must not
    be used (too short, or published), so a misconfigured API never starts."""
    if settings.api.secret_key is not None:
        check_configured(settings.api.secret_key)
    if settings.api.previous_secret_key is not None:
        check_configured(settings.api.previous_secret_key, "QUIETFIX_API__PREVIOUS_SECRET_KEY")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = make_pool(settings.database_url, min_size=1, max_size=POOL_MAX_SIZE, name="api",
                                   connection_class=AuditedConnection)
        # Signing keys before the first request: configured ones, or the database's (created on first start).
        app.state.keys = await run_in_threadpool(make_key_holder, settings)
        # The shared reads (snapshot version and builds, live cursors: api/snapshot.py) get connections of their
        # own: behind the gated requests holding every pooled connection, 200 boards waited seconds (feat3/apiload).
        app.state.shared_pool = make_pool(settings.database_url, min_size=1, max_size=SHARED_POOL_SIZE,
                                          name="api-shared")
        try:
            yield
        finally:
            app.state.shared_pool.close()
            app.state.pool.close()

    # quietfix exports its own Prometheus /metrics and configures no OpenTelemetry provider; FastAPI's native hook
    # still asked the global providers (reading os.environ) on every request: ~10 % of the event loop's samples
    # under bench/api_load.py (py-spy). Off until someone configures OpenTelemetry on purpose.
    app = FastAPI(title="quietfix", version="0.1.0", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="IoT remote diagnostics and field service. Authenticate with POST /api/auth/token.")
    app.state.settings = settings
    # Live streams stay open for minutes and hold no connection (api/live.py shares one cursor read per scope):
    # inside the gate, ten open boards would take every slot and stall the whole API.
    # The staff board and its KPIs are async snapshot reads that hold no connection while they wait; their only
    # thread/connection users are one coalesced version read and one build per key (api/snapshot.py), so they
    # cannot starve the pool either, and queueing them behind slow list queries only added latency (feat2/api-perf).
    # So are the other snapshot reads every board repeats on each change (feat3/apiload): its routes, parts in
    # transit and the plan (a technician's own plan is one pooled query on the thread pool, like a build).
    app.add_middleware(AuditWrites)  # every successful write is audited (api/audit.py); inside the gate
    # A write in this process makes the next snapshot read rebuild, even for changes the version cannot see.
    app.add_middleware(InvalidateOnWrite)
    app.add_middleware(ConcurrencyLimit, limit=POOL_MAX_SIZE,
                       exempt=("/metrics", "/api/live", "/api/board", "/api/board/kpis", "/api/board/routes",
                               "/api/spares/in-transit", "/api/plans/current", "/api/planning/escalations",
                               "/api/board/view"))
    # Outermost: a body over the cap is refused before anything reads it, even before the concurrency gate.
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes, max_depth=settings.api.max_json_depth,
                       per_path=[*((p, settings.api.max_photo_body_bytes) for p in PHOTO_UPLOAD_PATHS),
                                 (IMPORT_UPLOAD_PATH, settings.api.max_import_body_bytes)])
    # Routes are matched in order (FastAPI walks every included router's routes; ~10 % of a snapshot answer's CPU
    # under bench/api_load.py): the board's, the live stream's and the plan's, which every open board repeats on
    # each change, come first. No path of theirs overlaps another router's, so the order changes no answer.
    for module in (board_view, board, live, plans, health, auth, fleet, service, commands, diagnostics):
        app.include_router(module.router)
    @app.exception_handler(psycopg.DataError)
    def invalid_data(request: Request, exc: psycopg.DataError) -> JSONResponse:
        # Input PostgreSQL cannot hold (NUL in text, integers beyond bigint) is the client's error, not ours.
        return JSONResponse({"detail": "invalid input"}, status_code=422)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # The message catalogues, public like the page shells: the pages translate before anyone signs in.
    app.mount("/i18n", StaticFiles(directory=I18N_CATALOGUES), name="i18n")
    for module in (technician, portal):  # the other two faces (board, live stream and plan: first, above)
        app.include_router(module.router)
    app.include_router(spares_routes.router)  # spares: stock, reservations, shipments, replenishment, alerts
    app.include_router(asset_routes.router)  # asset detail with remaining useful life, predicted failures
    app.include_router(planning.router)  # contracts, forecast, capacity/coverage, escalations (feat2/plan-ahead)
    app.include_router(audit.router)  # the audit log for admins: GET /api/audit and the /audit page
    app.include_router(detection.router)  # is detection keeping up: stalled devices, clock faults (issue #19)
    app.include_router(kpi_routes.router)  # service KPIs: page, JSON, CSV (kpis package, docs/kpis.md)
    app.include_router(admin_routes.router)  # master data, calendars, users, device credentials, CSV import (#15)
    app.include_router(portal_reports.router)  # problems customers report from the portal (#15)
    if (VENDOR / "leaflet" / "dist").is_dir():  # npm ci'd by scripts/setup-web.sh; the board works without it
        app.mount("/vendor/leaflet", StaticFiles(directory=VENDOR / "leaflet" / "dist"), name="leaflet")
    # The board's background without a tile server: Natural Earth (public domain) land and borders as TopoJSON.
    for package, sub in (("world-atlas", ""), ("topojson-client", "dist")):
        if (VENDOR / package / sub).is_dir():
            app.mount(f"/vendor/{package}", StaticFiles(directory=VENDOR / package / sub), name=package)
    if (VENDOR / "chart.js" / "dist").is_dir():  # the KPI page's trend charts (its table works without them)
        app.mount("/vendor/chartjs", StaticFiles(directory=VENDOR / "chart.js" / "dist"), name="chartjs")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app


def create_app_from_env() -> FastAPI:
    """The app from QUIETFIX_* settings: uvicorn's factory for ``quietfix api --workers N`` (one per process)."""
    from core.settings import load_settings

    return create_app(load_settings())
