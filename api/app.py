"""The FastAPI application: routes, the connection pool, and the one place domain errors become HTTP codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api import live
from api.routes import auth, board, diagnostics, fleet, health, portal, service, technician
from core.db import make_pool
from core.settings import Settings

STATIC = Path(__file__).with_name("static")
VENDOR = Path(__file__).resolve().parents[1] / "node_modules"


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = make_pool(settings.database_url, min_size=1, max_size=10, name="api")
        try:
            yield
        finally:
            app.state.pool.close()

    app = FastAPI(title="quietfix", version="0.1.0", lifespan=lifespan,
                  description="IoT remote diagnostics and field service. Authenticate with POST /api/auth/token.")
    app.state.settings = settings
    for module in (health, auth, fleet, service, diagnostics):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (board, technician, portal, live):  # the three faces and their live stream (feat/ui)
        app.include_router(module.router)
    if (VENDOR / "leaflet" / "dist").is_dir():  # npm ci'd by scripts/setup-web.sh; the board works without it
        app.mount("/vendor/leaflet", StaticFiles(directory=VENDOR / "leaflet" / "dist"), name="leaflet")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app
