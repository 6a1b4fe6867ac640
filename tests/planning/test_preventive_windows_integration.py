"""Preventive visits fall inside the site's access hours and the contract's coverage, in the customer's zone, and
the planner runs on the shared clock (issue #15 item 4, #16 item 3)."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from core.clock import ManualClock, to_datetime
from core.settings import DispatchSettings
from dispatch import DispatchLoop
from dispatch.repository import load_orders
from planning.planner_loop import PreventivePlanner
from quietfix.seed import seed
from tests.planning.test_preventive_work_orders_integration import one_inspection_due

pytestmark = pytest.mark.integration
SHANGHAI = ZoneInfo("Asia/Shanghai")
SETTINGS = DispatchSettings(replan_budget_s=0.5, min_replan_interval_s=0.0, solve_in_subprocess=False)


def _local(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, SHANGHAI)


def test_inspection_windows_keep_to_access_hours_and_coverage_and_dispatch_plans_inside(conn) -> None:
    devices = seed(conn, devices=6, technicians=2, users=False)
    # A Monday 01:00 in Shanghai (Sunday 17:00 UTC): the night, when the old planner put visits.
    clock = ManualClock(datetime(2026, 3, 2, 1, 0, tzinfo=SHANGHAI).timestamp())
    now = to_datetime(clock.now())
    k_id, customer_id = one_inspection_due(conn, now, interval_days=90, last_days_ago=88)
    # The site opens 08:00-18:00 on weekdays; the contract covers Mon-Sat 06:00-16:00: visits start 08:00-15:00.
    conn.execute("UPDATE sites SET access_days = '{1,2,3,4,5}', access_start = '08:00', access_end = '18:00' "
                 "WHERE customer_id = %s", (customer_id,))
    conn.execute("UPDATE contracts SET coverage_days = '{1,2,3,4,5,6}', coverage_start = '06:00', "
                 "coverage_end = '16:00' WHERE id = %s", (k_id,))
    planner = PreventivePlanner(lambda: conn, clock, days=7)
    out = planner.tick(conn)
    ours = {d.device_id for d in devices if d.customer_id == customer_id}
    assert {c["device_id"] for c in out["created"]} == ours and planner.created == len(ours)
    rows = conn.execute("SELECT id, created_at, earliest_start, latest_start, service_windows, estimated_minutes "
                        "FROM work_orders WHERE kind = 'preventive'").fetchall()
    for _, created_at, lo, hi, windows, minutes in rows:
        assert created_at == now  # the shared clock's now, not the wall clock's
        assert windows, "a visit with hours gets its service-start windows"
        for a, b in windows:
            start, end = _local(a), _local(b + minutes * 60)
            assert start.isoweekday() <= 5 and start.date() == end.date()
            assert time(8) <= start.time() and end.time() <= time(16), (start, end)
        assert lo == to_datetime(windows[0][0]) and hi == to_datetime(windows[-1][1])
        assert _local(lo.timestamp()).time() == time(8)  # Monday 08:00, not 01:00
    # Dispatch plans the visit inside the first open window, not in the night.
    order = next(o for o in load_orders(conn) if o.kind == "preventive")
    assert order.service_windows and order.service_windows[0][0] == order.earliest_start
    conn.commit()
    loop = DispatchLoop(lambda: conn, SETTINGS, clock)
    loop.tick(conn)
    starts = conn.execute("SELECT s.start_at FROM plan_stops s JOIN work_orders w ON w.id = s.work_order_id "
                          "WHERE w.kind = 'preventive' AND s.plan_id = (SELECT max(id) FROM plans)").fetchall()
    dropped = conn.execute("SELECT count(*) FROM plan_drops WHERE plan_id = (SELECT max(id) FROM plans)").fetchone()[0]
    assert len(starts) + dropped == len(rows)
    assert starts, "at least one visit is planned (the others may wait for the preventive gate)"
    for (start_at,) in starts:
        local = start_at.astimezone(SHANGHAI)
        assert local.isoweekday() <= 5 and time(8) <= local.time() <= time(15), local


def test_visit_hours_too_short_for_the_visit_keep_the_window_of_days(conn) -> None:
    seed(conn, devices=3, technicians=1, users=False)
    now = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    _, customer_id = one_inspection_due(conn, now, interval_days=90, last_days_ago=88)
    conn.execute("UPDATE sites SET access_start = '08:00', access_end = '08:30' WHERE customer_id = %s",
                 (customer_id,))
    out = PreventivePlanner(lambda: conn, ManualClock(now.timestamp())).tick(conn)
    assert out["created"]
    windows = conn.execute("SELECT service_windows FROM work_orders WHERE kind = 'preventive'").fetchall()
    assert all(w is None for (w,) in windows)  # a 60-min visit never fits a 30-min opening: stated, not hidden
