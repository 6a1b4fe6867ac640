"""The running dispatch service re-plans a large fleet region by region (issue #17 item 6), on the real database.

tests/dispatch/test_regional.py checks dispatch/regional.py on hand-built problems and bench.dispatch_regional
times 500 x 3,000; neither goes through the live loop. Here ``DispatchLoop.tick`` (what ``quietfix dispatch``
runs) loads more than ``dispatch.regional_min_technicians`` technicians in three regions from PostgreSQL, so
``plan_fleet`` must take the partitioned path; the stored plan, read back, passes the independent checker on the
problem the loop loaded, and a job whose region has nobody qualified is served from a neighbouring region.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from core.clock import ManualClock, to_datetime
from core.settings import DispatchSettings
from dispatch import DispatchLoop, check_plan, regional
from dispatch import repository as repo
from quietfix.seed import SeededDevice, seed
from tests.dispatch.test_live_replanning_integration import work_order

pytestmark = pytest.mark.integration

REGIONS = ("west", "centre", "east")  # by longitude over the seeded region
TECHS_PER_REGION = 70  # + the 6 seeded ones: 216 > THRESHOLD
THRESHOLD = 200
COMMON = (["mechanical"], ["electrical"], ["refrigeration"], ["mechanical", "electrical"])
RARE = "gas"  # held by one technician in `west` only: an `east` job needing it crosses regions
# 3 partitions of ~72 technicians x ~8 jobs: a first solution takes well under a second each on a quiet core;
# the loop caps the whole re-plan at this budget (2 shared cores: generous, never a timing assertion).
SETTINGS = DispatchSettings(replan_budget_s=6.0, min_replan_interval_s=0.0, solve_in_subprocess=False,
                            regional_min_technicians=THRESHOLD)


def region_of(lon: float, cuts: tuple[float, float]) -> str:
    return REGIONS[0] if lon < cuts[0] else REGIONS[1] if lon < cuts[1] else REGIONS[2]


@pytest.fixture()
def fleet(db_url: str, conn: psycopg.Connection) -> Iterator[tuple[list[SeededDevice], dict[int, str], int,
                                                                   psycopg.Connection]]:
    """30 devices and 216 technicians in three regions; returns devices, technician id -> region, the gas
    technician's id and an autocommit connection for the loop."""
    devices = seed(conn, devices=30, technicians=6, users=False)
    lons = sorted(d.lon for d in devices)
    cuts = (lons[len(lons) // 3], lons[2 * len(lons) // 3])
    for d in devices:
        conn.execute("UPDATE customers SET region = %s WHERE id = %s", (region_of(d.lon, cuts), d.customer_id))
        conn.execute("UPDATE devices SET region = %s WHERE id = %s", (region_of(d.lon, cuts), d.device_id))
    conn.execute("UPDATE technicians SET region = CASE WHEN lon < %s THEN 'west' WHEN lon < %s THEN 'centre' "
                 "ELSE 'east' END", cuts)
    # Each region's technicians start near its own customers (a device of that region, a few hundred metres off).
    by_region = {r: [d for d in devices if region_of(d.lon, cuts) == r] for r in REGIONS}
    skills = itertools.cycle(COMMON)
    rows = []
    for r in REGIONS:
        for i in range(TECHS_PER_REGION):
            home = by_region[r][i % len(by_region[r])]
            lat, lon = home.lat + 0.002 * (i % 5 - 2), home.lon + 0.002 * (i % 7 - 3)
            rows.append((f"{r[0].upper()}{i:03d}", f"Technician {r} {i}", next(skills), r, lat, lon, lat, lon))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO technicians (code, name, skills, region, home_lat, home_lon, lat, lon) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows)
    gas = conn.execute("UPDATE technicians SET skills = skills || %s::text WHERE code = 'W000' RETURNING id",
                       (RARE,)).fetchone()[0]
    regions = {int(i): str(r) for i, r in conn.execute("SELECT id, region FROM technicians")}
    conn.commit()
    with psycopg.connect(db_url, autocommit=True) as loop_conn:
        yield devices, regions, int(gas), loop_conn


def test_live_loop_replans_more_than_200_technicians_by_region_and_serves_a_job_across_a_boundary(
        fleet, conn, monkeypatch) -> None:
    devices, tech_region, gas_tech, c = fleet
    assert len(tech_region) > THRESHOLD and set(tech_region.values()) == set(REGIONS)
    reports: list[list[dict]] = []
    real = regional.solve_by_region

    def spy(*args, **kwargs):  # the loop's own path, unchanged: only what each partition got is kept
        plan, report = real(*args, **kwargs)
        reports.append(report)
        return plan, report

    monkeypatch.setattr(regional, "solve_by_region", spy)
    clock = ManualClock()
    at = to_datetime(clock.now())
    cust_region = {int(i): str(r) for i, r in conn.execute("SELECT id, region FROM customers")}
    common = {work_order(conn, d, list(COMMON[i % len(COMMON)]), at - timedelta(minutes=5)): d
              for i, d in enumerate(devices[:24])}
    east = next(d for d in devices[24:] if cust_region[d.customer_id] == "east")
    crossing = work_order(conn, east, [RARE], at - timedelta(minutes=5))
    conn.commit()

    loop = DispatchLoop(lambda: c, SETTINGS, clock)
    loop.tick(c)

    # The partitioned path ran, once, over every technician, one partition per region.
    assert len(reports) == 1
    [report] = reports
    assert sorted(p["region"] for p in report) == sorted(REGIONS)
    assert sum(p["technicians"] for p in report) == len(tech_region)
    assert sum(p["jobs"] for p in report) == len(common) + 1
    west = next(p for p in report if p["region"] == "west")
    assert west["cross_region"] == 1  # the gas job: planned by west's solver, nobody in east can do it

    # The plan the loop stored, read back from the database, passes the independent checker.
    stored = repo.current_plan(conn)
    conn.commit()
    assert stored is not None and loop.last_problem is not None
    assert len(loop.last_problem.technicians) == len(tech_region)
    assert check_plan(loop.last_problem, stored.plan) == []

    rows = {int(i): (s, t) for i, s, t in conn.execute("SELECT id, status, technician_id FROM work_orders")}
    conn.commit()
    assert rows[crossing] == ("assigned", gas_tech)  # served across the boundary, by the one qualified technician
    assert tech_region[gas_tech] == "west" and cust_region[east.customer_id] == "east"
    for wo, device in common.items():  # every other job: assigned inside its own region
        status, tech = rows[wo]
        assert status == "assigned" and tech is not None, (wo, rows[wo])
        assert tech_region[tech] == cust_region[device.customer_id], (wo, tech_region[tech])
