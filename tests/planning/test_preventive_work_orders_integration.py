"""Preventive visits become work orders (planning job) and dispatch plans them in their window of days."""

from datetime import timedelta

import psycopg
import pytest

from core.clock import ManualClock, to_datetime
from core.settings import DispatchSettings
from dispatch import DispatchLoop
from dispatch.planner import REASON_PREVENTIVE_LOAD, REASON_PREVENTIVE_PREEMPTED
from planning import service
from quietfix.seed import seed
from tests.dispatch.test_live_replanning_integration import work_order

pytestmark = pytest.mark.integration
SETTINGS = DispatchSettings(replan_budget_s=0.5, min_replan_interval_s=0.0, solve_in_subprocess=False)


def _predict_failure(conn: psycopg.Connection, device_id: str, at, hours: float) -> None:
    conn.execute(
        "INSERT INTO rul_estimates (device_id, estimated_at, status, signal, fault_mode, failure_at, "
        "failure_earliest_at, failure_latest_at, rul_s) VALUES (%s, %s, 'degrading', 'vibration_rms', "
        "'bearing_wear', %s, %s, %s, %s)",
        (device_id, at, at + timedelta(hours=hours), at + timedelta(hours=hours / 2),
         at + timedelta(hours=hours * 2), hours * 3600))



def one_inspection_due(conn, now, *, interval_days: int, last_days_ago: int) -> tuple[int, int]:
    """Only one customer-wide contract schedules inspections (every ``interval_days``, the last one
    ``last_days_ago`` days before ``now``); returns its (id, customer id)."""
    k = conn.execute("SELECT id, customer_id FROM contracts WHERE device_id IS NULL ORDER BY id LIMIT 1").fetchone()
    conn.execute("UPDATE contracts SET inspection_interval_days = NULL WHERE id <> %s", (k[0],))
    conn.execute("UPDATE contracts SET inspection_interval_days = %s, last_inspection_on = %s WHERE id = %s",
                 (interval_days, (now - timedelta(days=last_days_ago)).date(), k[0]))
    return k[0], k[1]

def test_due_inspections_and_predicted_failures_become_preventive_work_orders_once(conn) -> None:
    devices = seed(conn, devices=6, technicians=2, users=False)
    now = to_datetime(ManualClock().now())
    # Only one customer's inspections are due; a second device gets a predicted failure in 3 days.
    k = one_inspection_due(conn, now, interval_days=90, last_days_ago=88)
    insp_devices = {d.device_id for d in devices if d.customer_id == k[1]}
    other = next(d for d in devices if d.customer_id != k[1])
    _predict_failure(conn, other.device_id, now, 72)

    out = service.create_preventive_work_orders(conn, now)
    assert {c["device_id"] for c in out["created"] if c["reason"] == "inspection"} == insp_devices
    rul = [c for c in out["created"] if c["reason"] == "rul"]
    assert [c["device_id"] for c in rul] == [other.device_id]
    assert rul[0]["latest_start"] == now + timedelta(hours=36 - 4)  # before the earliest plausible failure
    rows = conn.execute("SELECT w.kind, w.earliest_start, w.latest_start, w.onsite_due, i.source, i.fault_mode, "
                        "w.required_skills, w.estimated_minutes FROM work_orders w "
                        "JOIN incidents i ON i.id = w.incident_id").fetchall()
    assert len(rows) == len(insp_devices) + 1
    for kind, lo, hi, due, source, mode, skills, minutes in rows:
        assert kind == "preventive" and source == "planning" and lo >= now and hi > lo and due == hi
        assert hi - lo >= timedelta(hours=24) or mode.startswith("preventive:")  # a window of days, no 2-h SLA
    assert conn.execute("SELECT count(*) FROM timeline_events WHERE kind = 'preventive_planned'").fetchone()[0] \
        == len(rows)
    # Idempotent: the same due items create nothing on the next runs.
    again = service.create_preventive_work_orders(conn, now + timedelta(hours=1))
    assert again["created"] == []
    # The round is done when every asset's inspection is finished: the schedule moves on, nothing new is due.
    conn.execute("UPDATE work_orders SET status = 'completed', completed_at = %s WHERE preventive_key LIKE 'insp:%%'",
                 (now + timedelta(days=2),))
    after = service.create_preventive_work_orders(conn, now + timedelta(days=2))
    assert after["schedules_advanced"] == 1 and after["created"] == []
    assert conn.execute("SELECT last_inspection_on FROM contracts WHERE id = %s", (k[0],)).fetchone()[0] \
        == (now + timedelta(days=2)).date()
    # The forecast's incident history leaves planning's own incidents out.
    assert conn.execute("SELECT count(*) FROM incidents WHERE source = 'planning'").fetchone()[0] == len(rows)


def test_dispatch_plans_preventive_visits_in_their_window_and_defers_them_for_emergencies(db_url, conn) -> None:
    devices = seed(conn, devices=12, technicians=4, users=False)
    clock = ManualClock()
    now = to_datetime(clock.now())
    one_inspection_due(conn, now, interval_days=30, last_days_ago=30)
    conn.execute("UPDATE technicians SET shift_start = '00:00', shift_end = '23:59:59'")
    # Fewer qualified technicians than visits (the demo seed's former skill mix: nobody holds instrumentation),
    # so a visit is still unstarted when the emergencies come.
    conn.execute("UPDATE technicians SET skills = CASE code WHEN 'T01' THEN '{mechanical,electrical}'::text[] "
                 "WHEN 'T02' THEN '{mechanical}'::text[] WHEN 'T03' THEN '{refrigeration,electrical}'::text[] "
                 "ELSE '{refrigeration,mechanical}'::text[] END")
    created = service.create_preventive_work_orders(conn, now)["created"]
    assert created
    conn.commit()
    with psycopg.connect(db_url, autocommit=True) as c:
        loop = DispatchLoop(lambda: c, SETTINGS, clock)
        loop.tick(c)
        plan, problem = loop.last_plan, loop.last_problem
        assert plan is not None and problem is not None
        jobs = {j.id: j for j in problem.jobs}
        planned = {s.job_id: s for stops in plan.routes.values() for s in stops if s.kind == "job"}
        offered = [str(x["work_order_id"]) for x in created if str(x["work_order_id"]) in jobs]
        assert offered  # technicians are free: visits are offered with their window, lowest tier
        for j in offered:
            job = jobs[j]
            assert job.tier == "bronze" and job.priority == 1 and job.window is not None
            if j in planned:
                assert job.window[0] <= planned[j].start <= job.window[1]
            else:
                assert j in plan.dropped
        # Emergencies arrive on every technician: the visits not yet started are held back, visibly.
        busy = [work_order(conn, d, ["mechanical", "electrical", "refrigeration"][i % 3:i % 3 + 1], now)
                for i, d in enumerate(devices[:6])]
        conn.commit()
        clock.advance(60)
        loop.tick(c)
        plan = loop.last_plan
        assert plan is not None
        # A visit a technician was already sent to stays theirs; the others wait.
        waiting = {int(r[0]) for r in c.execute("SELECT id FROM work_orders WHERE kind = 'preventive' AND "
                                                "status = 'open'")}
        assert waiting
        for wo in waiting:
            assert plan.dropped.get(str(wo)) == REASON_PREVENTIVE_LOAD
        drops = {int(r[0]): r[1] for r in c.execute(
            "SELECT d.work_order_id, d.reason FROM plan_drops d JOIN plans p ON p.id = d.plan_id WHERE p.is_current")}
        assert all(drops[wo] == REASON_PREVENTIVE_LOAD for wo in waiting)
        note = c.execute("SELECT summary FROM timeline_events WHERE work_order_id = %s AND kind = 'dispatch_dropped' "
                         "ORDER BY id DESC LIMIT 1", (min(waiting),)).fetchone()
        assert note is not None and REASON_PREVENTIVE_LOAD in note[0]
        planned = {s.job_id for stops in plan.routes.values() for s in stops if s.kind == "job"}
        assert {str(b) for b in busy} <= planned


def test_quietfix_plan_command_runs_the_planning_job_once(db_url, conn, monkeypatch, capsys) -> None:
    import json

    from quietfix.cli import main

    seed(conn, devices=4, technicians=1, users=False)
    conn.commit()
    monkeypatch.setenv("QUIETFIX_DATABASE_URL", db_url)
    assert main(["plan", "--days", "7"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["plan"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    n = conn.execute("SELECT count(*) FROM work_orders WHERE kind = 'preventive'").fetchone()[0]
    assert first["created"] == n > 0 and second["created"] == 0  # seeded inspections are overdue: once each


def test_live_gate_defers_visits_on_a_busy_emergency_stream_and_plans_them_when_it_calms(db_url, conn) -> None:
    """Every technician is free, but emergencies have been arriving at 3 an hour for the last 2 h (all already
    handled): the live loop reads that rate from the database and keeps the 4 technicians for the next ones
    (Erlang C: 4.5 Erlangs on 3 technicians never clears). Two quiet hours later the same visits are planned."""
    from dispatch.planner import ARRIVAL_WINDOW_S

    devices = seed(conn, devices=12, technicians=4, users=False)
    clock = ManualClock()
    now = to_datetime(clock.now())
    one_inspection_due(conn, now, interval_days=30, last_days_ago=30)
    conn.execute("UPDATE technicians SET shift_start = '00:00', shift_end = '23:59:59', state = 'free'")
    visits = {str(c["work_order_id"]) for c in service.create_preventive_work_orders(conn, now)["created"]}
    assert visits
    handled = [work_order(conn, d, ["mechanical"], now - timedelta(minutes=20 * i + 5))
               for i, d in enumerate(devices[:6])]
    conn.execute("UPDATE work_orders SET status = 'completed', completed_at = %s WHERE id = ANY(%s)",
                 (now, handled))
    conn.commit()
    with psycopg.connect(db_url, autocommit=True) as c:
        loop = DispatchLoop(lambda: c, SETTINGS, clock)
        loop.tick(c)
        plan, problem = loop.last_plan, loop.last_problem
        assert plan is not None and problem is not None
        assert all(t.state == "free" for t in problem.technicians)
        assert not visits & {j.id for j in problem.jobs}  # none offered to the optimiser
        assert all(plan.dropped.get(v) == REASON_PREVENTIVE_LOAD for v in visits)
        assert c.execute("SELECT count(*) FROM work_orders WHERE kind = 'preventive' AND status <> 'open'"
                         ).fetchone()[0] == 0
        clock.advance(ARRIVAL_WINDOW_S + 60)  # the stream has calmed: nothing in the last 2 h
        c.execute("UPDATE technicians SET state = 'free'")  # moves the change cursor
        loop.tick(c)
        plan = loop.last_plan
        assert plan is not None
        planned = {s.job_id for stops in plan.routes.values() for s in stops if s.kind == "job"}
        assert planned & visits and not any(plan.dropped.get(v) == REASON_PREVENTIVE_LOAD for v in visits)
        assigned = c.execute("SELECT count(*) FROM work_orders WHERE kind = 'preventive' AND status = 'assigned'"
                             ).fetchone()[0]
        assert assigned >= 1


def test_live_loop_pulls_a_technician_off_a_visit_for_an_emergency_nobody_else_reaches(db_url, conn) -> None:
    """The only technician is on site at a preventive visit expected to take 4 more hours; an emergency opens
    next door. Nobody else can be there within 2 h, so the loop suspends the visit (back to open, with a
    timeline event saying why) and sends the technician to the emergency in the same pass."""
    devices = seed(conn, devices=8, technicians=1, users=False)
    clock = ManualClock()
    now = to_datetime(clock.now())
    one_inspection_due(conn, now, interval_days=30, last_days_ago=30)
    tech, skills = conn.execute("SELECT id, skills FROM technicians").fetchone()
    conn.execute("UPDATE technicians SET shift_start = '00:00', shift_end = '23:59:59', state = 'on_site'")
    created = service.create_preventive_work_orders(conn, now)["created"]
    visit = created[0]["work_order_id"]
    lat, lon = conn.execute("SELECT lat, lon FROM work_orders WHERE id = %s", (visit,)).fetchone()
    conn.execute("UPDATE work_orders SET status = 'cancelled' WHERE kind = 'preventive' AND id <> %s", (visit,))
    conn.execute("UPDATE work_orders SET status = 'on_site', technician_id = %s, assigned_at = %s, eta = %s, "
                 "arrived_at = %s, estimated_minutes = 300 WHERE id = %s",
                 (tech, now - timedelta(hours=1), now - timedelta(hours=1), now - timedelta(hours=1), visit))
    conn.execute("UPDATE technicians SET lat = %s, lon = %s", (lat, lon))
    site = devices[0]
    emergency = work_order(conn, site, [skills[0]], now)
    conn.commit()
    with psycopg.connect(db_url, autocommit=True) as c:
        loop = DispatchLoop(lambda: c, SETTINGS, clock)
        loop.tick(c)
        status, tech_id = c.execute("SELECT status, technician_id FROM work_orders WHERE id = %s",
                                    (visit,)).fetchone()
        assert (status, tech_id) == ("open", None)  # suspended, back in the queue
        note = c.execute("SELECT data FROM timeline_events WHERE work_order_id = %s AND kind = "
                         "'preventive_suspended'", (visit,)).fetchone()
        assert note is not None and note[0]["emergency_work_order_id"] == emergency
        assert note[0]["reason"] == REASON_PREVENTIVE_PREEMPTED
        e_status, e_tech = c.execute("SELECT status, technician_id FROM work_orders WHERE id = %s",
                                     (emergency,)).fetchone()
        assert (e_status, e_tech) == ("assigned", tech)
        trigger = c.execute("SELECT trigger FROM plans WHERE is_current").fetchone()[0]
        assert trigger == "preemption"
        plan = loop.last_plan
        assert plan is not None and str(visit) in plan.dropped  # the visit waits while the emergency is served
