"""The travel provider setting (issue #16 item 5): dispatch routes on OSRM when it is selected (a tiny fake OSRM
server stands in for a real one), falls back to the straight-line estimate while it is down, and /readyz reports
its health only when it is selected."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from core.clock import ManualClock, to_datetime
from core.settings import DispatchSettings, Settings
from dispatch import DispatchLoop
from quietfix.seed import seed
from tests.dispatch.test_live_replanning_integration import work_order

pytestmark = pytest.mark.integration
DRIVE_S = 1500.0  # every leg of the fake road network: 25 minutes, far from any straight-line figure
OSRM = DispatchSettings(replan_budget_s=0.5, min_replan_interval_s=0.0, solve_in_subprocess=False,
                        travel_provider="osrm", osrm_url="http://127.0.0.1:9", osrm_timeout_s=2.0)


class _FakeOsrm(BaseHTTPRequestHandler):
    """OSRM's table service for any coordinates: DRIVE_S between distinct points, 0 on the diagonal."""

    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _FakeOsrm.requests.append(self.path)
        coords = self.path.split("/table/v1/driving/")[1].split("?")[0].split(";")
        n = len(coords)
        body = json.dumps({"code": "Ok", "durations": [[0 if i == j else DRIVE_S for j in range(n)]
                                                       for i in range(n)]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def osrm() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakeOsrm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeOsrm.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _first_eta_s(db_url: str, conn: psycopg.Connection, settings: DispatchSettings) -> float:
    devices = seed(conn, devices=4, technicians=2, users=False)
    clock = ManualClock()
    at = to_datetime(clock.now())
    wo = work_order(conn, devices[0], ["mechanical"], at)
    conn.commit()
    with psycopg.connect(db_url, autocommit=True) as c:
        assert DispatchLoop(lambda: c, settings, clock).tick(c) == 1
    eta = conn.execute("SELECT eta FROM work_orders WHERE id = %s", (wo,)).fetchone()[0]
    return (eta - at).total_seconds()


def test_dispatch_routes_on_osrm_when_it_is_selected(db_url: str, conn: psycopg.Connection, osrm: str) -> None:
    eta_s = _first_eta_s(db_url, conn, OSRM.model_copy(update={"osrm_url": osrm}))
    assert eta_s == pytest.approx(DRIVE_S, abs=1.0)  # the road network's time, not haversine x 1.3
    assert _FakeOsrm.requests and all("/table/v1/driving/" in p for p in _FakeOsrm.requests)


def test_an_unreachable_osrm_delays_nothing_dispatch_falls_back_to_straight_line(
        db_url: str, conn: psycopg.Connection, caplog: pytest.LogCaptureFixture) -> None:
    down = OSRM.model_copy(update={"osrm_url": f"http://127.0.0.1:{_closed_port()}"})
    eta_s = _first_eta_s(db_url, conn, down)
    assert 0 < eta_s and eta_s != pytest.approx(DRIVE_S, abs=1.0)  # assigned all the same, on the estimate
    assert any("straight-line estimate" in r.getMessage() for r in caplog.records)


def test_osrm_without_url_is_a_clear_settings_error() -> None:
    with pytest.raises(ValidationError, match="osrm_url: required"):
        DispatchSettings(travel_provider="osrm")
    with pytest.raises(ValidationError, match="travel_provider"):
        DispatchSettings(travel_provider="teleport")  # type: ignore[arg-type]


def test_readyz_reports_osrm_health_only_when_selected(settings: Settings, osrm: str) -> None:
    with TestClient(create_app(settings)) as client:
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json()["travel"] is None  # straight line: nothing to probe
    up = settings.model_copy(update={"dispatch": OSRM.model_copy(update={"osrm_url": osrm})})
    with TestClient(create_app(up)) as client:
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json()["travel"] is True
    down = settings.model_copy(update={"dispatch": OSRM.model_copy(
        update={"osrm_url": f"http://127.0.0.1:{_closed_port()}"})})
    with TestClient(create_app(down)) as client:
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["travel"] is False and r.json()["status"] == "not ready"
        assert r.json()["database"] is True and r.json()["broker"] is True
