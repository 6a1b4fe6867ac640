"""Travel providers: straight-line estimate and the OSRM table adapter (against a local canned server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from dispatch import Location, OsrmTableProvider, StraightLineProvider, haversine_km

NINE_UTC = 1_767_258_000.0  # 2026-01-01 09:00 UTC
EIGHT_UTC = NINE_UTC - 3600


def test_haversine_one_degree_latitude_is_about_111_km() -> None:
    assert haversine_km(Location(48.0, 11.0), Location(49.0, 11.0)) == pytest.approx(111.2, rel=0.002)


def test_straight_line_applies_road_factor_and_speed() -> None:
    a, b = Location(48.0, 11.0), Location(48.1, 11.0)
    provider = StraightLineProvider(road_factor=1.5, speed_kmh=60.0)
    expected = haversine_km(a, b) * 1.5 / 60.0 * 3600
    m = provider.matrix([a, b], NINE_UTC)
    assert m[0][1] == pytest.approx(expected) and m[1][0] == pytest.approx(expected) and m[0][0] == 0


def test_rush_hour_slows_travel_by_the_factor() -> None:
    a, b = Location(48.0, 11.0), Location(48.1, 11.0)
    provider = StraightLineProvider(rush_factor=1.5)
    assert provider.matrix([a, b], EIGHT_UTC)[0][1] == pytest.approx(
        1.5 * provider.matrix([a, b], NINE_UTC)[0][1]
    )


def test_rush_hours_follow_the_local_offset() -> None:
    provider = StraightLineProvider(rush_factor=2.0, utc_offset_h=2.0)  # 09:00 UTC = 11:00 local
    assert provider.congestion(NINE_UTC) == 1.0 and provider.congestion(NINE_UTC - 3 * 3600) == 2.0


class _Osrm(BaseHTTPRequestHandler):
    body: ClassVar[dict] = {}
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Osrm.paths.append(self.path)
        data = json.dumps(_Osrm.body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def osrm() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Osrm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Osrm.paths = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_osrm_table_request_and_parse(osrm: str) -> None:
    _Osrm.body = {"code": "Ok", "durations": [[0, 120.5, None], [118.0, 0, 60.0], [300.0, 61.0, 0]]}
    locs = [Location(48.1, 11.5), Location(48.2, 11.6), Location(48.3, 11.7)]
    m = OsrmTableProvider(osrm, unreachable_s=9999.0).matrix(locs, NINE_UTC)
    assert m == [[0, 120.5, 9999.0], [118.0, 0, 60.0], [300.0, 61.0, 0]]
    path = _Osrm.paths[0]
    assert path.startswith("/table/v1/driving/11.500000,48.100000;11.600000,48.200000;11.700000,48.300000")
    assert "annotations=duration" in path


def test_osrm_error_code_raises(osrm: str) -> None:
    _Osrm.body = {"code": "InvalidQuery", "message": "bad"}
    with pytest.raises(RuntimeError, match="InvalidQuery"):
        OsrmTableProvider(osrm).matrix([Location(48.1, 11.5), Location(48.2, 11.6)], NINE_UTC)


def test_osrm_wrong_shape_raises(osrm: str) -> None:
    _Osrm.body = {"code": "Ok", "durations": [[0]]}
    with pytest.raises(RuntimeError, match="shape"):
        OsrmTableProvider(osrm).matrix([Location(48.1, 11.5), Location(48.2, 11.6)], NINE_UTC)
