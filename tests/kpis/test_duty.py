"""Who is on a job, free, or off shift right now (kpis.duty_now), as the demo's status line shows it: a night with
nobody on shift must not read as "12 free" (nor as "12 busy") while jobs wait for the morning."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import psycopg
import pytest

from kpis import Duty, duty_now
from tests.kpis.test_golden import _incident, _one, _visit, h

pytestmark = pytest.mark.integration


def _tech(conn: psycopg.Connection, code: str, start: str, end: str, tz: str = "UTC") -> int:
    return _one(conn, "INSERT INTO technicians (code, name, skills, region, home_lat, home_lon, lat, lon, "
                      "shift_start, shift_end, timezone) VALUES (%s, %s, '{mech}', 'north', 52, 4, 52, 4, %s, %s, %s) "
                      "RETURNING id", code, code, start, end, tz)


def test_on_a_job_free_and_off_shift_by_each_technicians_own_shift_and_zone(conn: psycopg.Connection) -> None:
    cust = _one(conn, "INSERT INTO customers (name, tier, region, lat, lon) VALUES ('C', 'gold', 'north', 52, 4) "
                      "RETURNING id")
    conn.execute("INSERT INTO devices (id, customer_id, equipment_type, name, lat, lon) "
                 "VALUES ('d1', %s, 'pump', 'd1', 52, 4), ('d2', %s, 'pump', 'd2', 52, 4)", (cust, cust))
    day = _tech(conn, "DAY", "08:00", "17:00")
    _tech(conn, "NIGHT", "22:00", "06:00")  # overnight shift
    _tech(conn, "SHANGHAI", "08:00", "17:00", "Asia/Shanghai")  # 10:00 UTC is 18:00 there: off
    late = _tech(conn, "LATE", "12:00", "20:00")
    on_job = _incident(conn, "d1", cust, 9, 11)
    _visit(conn, on_job, "d1", cust, ["mech"], 9, day, 9.5, None, None, None)  # set off: travelling
    conn.execute("UPDATE work_orders SET status = 'en_route' WHERE incident_id = %s", (on_job,))
    waiting = _incident(conn, "d2", cust, 9, 11)
    _visit(conn, waiting, "d2", cust, ["mech"], 9, late, None, None, None, None)  # assigned for later: not work yet
    conn.commit()
    assert duty_now(conn, now=h(10), tz=ZoneInfo("UTC")) == Duty(busy=1, free=0, off=3)  # DAY on a job
    assert duty_now(conn, now=h(13), tz=ZoneInfo("UTC")) == Duty(busy=1, free=1, off=2)  # LATE now free
    assert duty_now(conn, now=h(23), tz=ZoneInfo("UTC")).free == 1  # NIGHT, whose shift runs past midnight
