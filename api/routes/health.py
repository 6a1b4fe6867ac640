from __future__ import annotations

import socket

import psycopg
from fastapi import APIRouter, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import PoolTimeout

from api import repository as repo
from api.schemas import Health
from core.mqtt import BrokerAddress
from dispatch.travel import OsrmTableProvider

router = APIRouter(tags=["operations"])


def _broker_up(url: str) -> bool:
    address = BrokerAddress.from_url(url)
    try:
        with socket.create_connection((address.host, address.port), timeout=1.0):
            return True
    except OSError:
        return False


@router.get("/healthz", response_model=Health)
def healthz(request: Request) -> Health:
    """Liveness plus what a newcomer wants to know: is the database there, and which storage path ran."""
    try:
        with request.app.state.pool.connection(timeout=2.0) as conn:
            return Health(status="ok", database=True, storage=repo.storage_mode(conn),
                          counts={k: int(v) for k, v in repo.counts(conn).items()})
    except (psycopg.Error, PoolTimeout):  # the pool raises its own error type when no connection comes
        return Health(status="degraded", database=False)


@router.get("/readyz", response_model=Health)
def readyz(request: Request, response: Response) -> Health:
    health = healthz(request)
    settings = request.app.state.settings
    health.broker = _broker_up(settings.mqtt_url)
    if settings.dispatch.travel_provider == "osrm":  # dispatch routes on it: not ready while it cannot answer
        health.travel = OsrmTableProvider(settings.dispatch.osrm_url or "").healthy(
            timeout_s=min(2.0, settings.dispatch.osrm_timeout_s))
    if not (health.database and health.broker and health.travel is not False):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        health.status = "not ready"
    return health


@router.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
