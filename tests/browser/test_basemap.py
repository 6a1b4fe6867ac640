"""The board's map without a tile server (issue #21 item 4): Natural Earth land, water and borders from the
world-atlas npm package, site and depot names, and the attribution, in a real browser."""

from __future__ import annotations

import psycopg
import pytest
from playwright.sync_api import expect

from quietfix.seed import CENTER
from tests.browser.conftest import World, shot, sign_in

pytestmark = pytest.mark.integration


def zoom(page, direction: str, clicks: int) -> None:
    for _ in range(clicks):
        page.locator(f"#map .leaflet-control-zoom-{direction}").click()
        page.wait_for_timeout(400)  # the zoom animation (0.25 s) ends and moveend redraws the background


def test_board_map_draws_natural_earth_background_and_place_names(world: World, context) -> None:
    with psycopg.connect(world.db_url) as conn:
        # Near the seeded region's centre (Shanghai, quietfix/seed.py).
        conn.execute("INSERT INTO stock_locations (kind, name, lat, lon) VALUES ('depot', 'Depot Waalhaven', "
                     "%s, %s), ('warehouse', 'Central warehouse', %s, %s)",
                     (CENTER[0] - 0.03, CENTER[1] - 0.04, CENTER[0] + 0.03, CENTER[1] + 0.05))
    page = context.new_page()
    sign_in(page, f"{world.url}/board", "dispatcher")
    expect(page.locator("#queue > li[data-wo]")).to_have_count(3)
    land = page.locator("#map .leaflet-basemap-pane path.basemap-land")
    expect(land.first).to_be_attached()  # the countries around the view, cropped from the 1:10m world
    # Only a region's countries (China and its neighbours), each with real geometry (many points).
    assert 1 <= land.count() <= 12
    assert land.first.get_attribute("fill") == "#f2efe9"
    shot(page, "board-basemap")
    zoom(page, "out", 3)  # far enough out to see the coast: land paths then carry a real coastline
    assert sum(len(d or "") for d in land.evaluate_all("ps => ps.map(p => p.getAttribute('d'))")) > 1000
    shot(page, "board-basemap-region")
    zoom(page, "out", 3)  # Shanghai lies far from any land border: out to the continent's
    expect(page.locator("#map .leaflet-basemap-pane path.basemap-border")).to_have_count(1)  # China's borders
    assert page.locator("#map").evaluate("m => getComputedStyle(m).backgroundColor") == "rgb(170, 211, 223)"
    expect(page.locator("#map .leaflet-control-attribution")).to_contain_text("Natural Earth")
    expect(page.locator(".place-label.depot", has_text="Depot Waalhaven")).to_be_visible()
    expect(page.locator(".place-label.depot", has_text="Central warehouse")).to_be_visible()
    sites = page.locator(".place-label.site")
    expect(sites).to_have_count(12)  # every seeded device is a named site, shown once zoomed in
    zoom(page, "in", 9)  # zoomed in far enough (3 steps past the fitted view), the site names show
    expect(page.locator("#map.sites-named")).to_have_count(1)
    expect(sites.first).to_be_visible()
    # The jobs, routes and technicians stay the interactive layers on top (the background takes no clicks).
    assert page.locator("#map .leaflet-basemap-pane path.leaflet-interactive").count() == 0
