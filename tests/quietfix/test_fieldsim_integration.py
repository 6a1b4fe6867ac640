"""The field simulation that can fail, on the real database: a first visit that lacks the part ends unfixed and a
return visit on the same incident fixes it; nobody sets off during a break; the KPIs see all of it."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.types.json import Jsonb

from core.clock import ManualClock, to_datetime
from diagnostics import repository as diag_repo
from kpis import Promise, report
from quietfix.fieldsim import FieldModel, FieldSimulator, _draws, outcome_of
from quietfix.seed import seed
from tests.helpers import open_work_order

pytestmark = pytest.mark.integration


def _assign(conn: psycopg.Connection, wo: int, tech: int, eta) -> None:
    conn.execute("UPDATE work_orders SET technician_id = %s, status = 'assigned', assigned_at = %s, eta = %s "
                 "WHERE id = %s", (tech, eta - timedelta(minutes=30), eta, wo))


def test_failed_first_visit_gets_a_return_visit_that_fixes_it(conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=2, technicians=1, users=False)
    clock = ManualClock()
    t0 = to_datetime(clock.now())
    tech = conn.execute("SELECT id FROM technicians").fetchone()[0]
    wo = open_work_order(conn, devices[0].device_id, [], t0)
    _assign(conn, wo, tech, t0 + timedelta(minutes=30))
    conn.commit()
    model = FieldModel(wrong_part_rate=1.0, seed=3)  # every first visit lacks the part
    repaired: list[str] = []
    sim = FieldSimulator(lambda: conn, clock, model=model, on_repaired=repaired.append)
    for _ in range(40):  # 40 x 10 simulated minutes: drive, work, fail, return, fix
        sim.tick(conn)
        for (back,) in conn.execute("SELECT id FROM work_orders WHERE status = 'open'").fetchall():
            _assign(conn, back, tech, to_datetime(clock.now()) + timedelta(minutes=20))  # what dispatch would do
        clock.advance(600)
    visits = conn.execute("SELECT id, visit_no, status, outcome, departed_at IS NOT NULL, arrived_at IS NOT NULL "
                          "FROM work_orders WHERE incident_id = (SELECT incident_id FROM work_orders WHERE id = %s) "
                          "ORDER BY id", (wo,)).fetchall()
    assert [(v[1], v[2], v[3], v[4], v[5]) for v in visits] == [
        (1, "completed", "wrong_part", True, True), (2, "completed", "fixed", True, True)]
    assert outcome_of(model, visits[1][0], 2) == "fixed"
    assert sim.failed_visits == 1 and repaired == [devices[0].device_id]
    status = conn.execute("SELECT i.status FROM incidents i JOIN work_orders w ON w.incident_id = i.id "
                          "WHERE w.id = %s", (wo,)).fetchone()[0]
    assert status == "resolved_onsite"
    kinds = [r[0] for r in conn.execute("SELECT kind FROM timeline_events WHERE work_order_id = ANY(%s) ORDER BY id",
                                        ([v[0] for v in visits],))]
    assert kinds.count("technician_en_route") == 2 and "visit_not_fixed" in kinds and "return_visit_created" in kinds
    assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'work_order.not_fixed'").fetchone()[0] == 1
    # diagnostics acts only on the visit that repaired something
    assert [r["work_order_id"] for r in diag_repo.new_repairs(conn)] == [visits[1][0]]
    rep = report(conn, now=to_datetime(clock.now()), promise=Promise(), tz=ZoneInfo("UTC"), days=1)
    assert rep.summary["first_visit_fix_rate"] == 0.0 and rep.summary["parts_at_first_visit_rate"] == 0.0
    assert rep.summary["repair_24h_rate"] == 1.0


def test_nobody_sets_off_during_a_break_or_off_shift(conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=2, technicians=2, users=False)
    clock = ManualClock()  # 2026-01-01 00:00 UTC
    t0 = to_datetime(clock.now())
    on_break, off_shift = (r[0] for r in conn.execute("SELECT id FROM technicians ORDER BY id"))
    conn.execute("UPDATE technicians SET timezone = 'UTC'")  # shifts and breaks are in the technician's zone
    conn.execute("UPDATE technicians SET breaks = %s WHERE id = %s",
                 (Jsonb([{"start": "00:00", "minutes": 30}]), on_break))
    conn.execute("UPDATE technicians SET shift_start = '06:00', shift_end = '18:00' WHERE id = %s", (off_shift,))
    a = open_work_order(conn, devices[0].device_id, [], t0)
    b = open_work_order(conn, devices[1].device_id, [], t0)
    _assign(conn, a, on_break, t0 + timedelta(minutes=45))
    _assign(conn, b, off_shift, t0 + timedelta(hours=6, minutes=30))
    conn.commit()
    sim = FieldSimulator(lambda: conn, clock, model=FieldModel.exact())
    sim.tick(conn)
    assert conn.execute("SELECT count(*) FROM work_orders WHERE status = 'en_route'").fetchone()[0] == 0
    clock.advance(31 * 60)  # the break is over; the other shift starts at 06:00
    sim.tick(conn)
    departed = dict(conn.execute("SELECT id, departed_at FROM work_orders").fetchall())
    assert departed[a] == to_datetime(clock.now()) and departed[b] is None
    clock.advance(6 * 3600)
    sim.tick(conn)
    assert conn.execute("SELECT departed_at FROM work_orders WHERE id = %s", (b,)).fetchone()[0] is not None


def test_late_technician_arrives_though_the_replan_moves_the_eta(conn: psycopg.Connection) -> None:
    """The drive is fixed when the technician sets off: a re-plan that moves the ETA of a late (en-route) job does
    not move the arrival again (it used to: the moved ETA times the travel factor was always past it)."""
    devices = seed(conn, devices=1, technicians=1, users=False)
    clock = ManualClock()
    t0 = to_datetime(clock.now())
    tech = conn.execute("SELECT id FROM technicians").fetchone()[0]
    wo = open_work_order(conn, devices[0].device_id, [], t0)
    _assign(conn, wo, tech, t0 + timedelta(minutes=30))
    conn.commit()
    # a field in which this order's drive takes longer than planned (travel factor > 1.1)
    model = next(m for m in (FieldModel(seed=s) for s in range(100)) if _draws(m, wo)[0] > 1.1)
    sim = FieldSimulator(lambda: conn, clock, model=model)
    sim.tick(conn)
    assert conn.execute("SELECT status FROM work_orders WHERE id = %s", (wo,)).fetchone()[0] == "en_route"
    for _ in range(24):  # two hours in 5-minute steps; dispatch keeps moving the ETA 5 minutes ahead
        clock.advance(300)
        conn.execute("UPDATE work_orders SET eta = %s WHERE id = %s AND status = 'en_route'",
                     (to_datetime(clock.now()) + timedelta(minutes=5), wo))
        conn.commit()
        sim.tick(conn)
    (status, arrived), = conn.execute("SELECT status, arrived_at FROM work_orders WHERE id = %s", (wo,)).fetchall()
    assert status == "on_site"  # before the fix: still "en route", 5 minutes away, after two hours
    assert arrived - t0 < timedelta(hours=2)


def test_visits_report_the_true_fault_mode_and_the_knowledge_base_learns_it(conn: psycopg.Connection) -> None:
    """#16 item 6: the diagnosis said bearing wear, the (simulated) device really has a seal leak. The visit reports
    what was found with a fix code from the list, and the knowledge base learns the seal fix and that this
    diagnosis did not hold; without a ground truth the visit reports no mode and teaches nothing."""
    from diagnostics.knowledge import load_knowledge
    from diagnostics.training import apply_work_order_feedback

    devices = seed(conn, devices=2, technicians=2, users=False)
    diag_repo.seed_knowledge(conn)
    clock = ManualClock()
    t0 = to_datetime(clock.now())
    techs = [r[0] for r in conn.execute("SELECT id FROM technicians ORDER BY id")]
    pump = next(d for d in devices if d.equipment_type == "pump")
    other = next(d for d in devices if d != pump)
    known = open_work_order(conn, pump.device_id, [], t0)  # diagnosed bearing_wear (tests.helpers)
    unknown = open_work_order(conn, other.device_id, [], t0)
    _assign(conn, known, techs[0], t0 + timedelta(minutes=20))
    _assign(conn, unknown, techs[1], t0 + timedelta(minutes=20))
    conn.commit()
    truth = {pump.device_id: "seal_leak"}
    sim = FieldSimulator(lambda: conn, clock, model=FieldModel.exact(), true_fault=truth.get)
    for _ in range(30):
        sim.tick(conn)
        clock.advance(600)
    rows = {r[0]: r[1:] for r in conn.execute(
        "SELECT id, status, found_fault_mode, fix_code, actual_cause FROM work_orders").fetchall()}
    assert rows[known][:2] == ("completed", "seal_leak") and rows[known][3] is None  # no "as diagnosed"
    seal_codes = {r[0] for r in conn.execute("SELECT code FROM fix_codes WHERE 'seal_leak' = ANY(fault_modes)")}
    assert rows[known][2] in seal_codes
    assert rows[unknown] == ("completed", None, None, None)
    assert apply_work_order_feedback(conn, clock.now()) == 2
    kb = load_knowledge(diag_repo.knowledge_doc(conn))
    assert dict(kb[("pump", "bearing_wear")].found_counts) == {"seal_leak": 1}
    assert dict(kb[("pump", "seal_leak")].fix_counts) == {rows[known][2]: 1}


def test_the_round_the_clock_roster_keeps_half_the_technicians_on_shift(conn: psycopg.Connection) -> None:
    """Issue #14: the demo's day shifts leave nobody on duty for eight hours a night. The round-the-clock roster,
    read back the way dispatch reads it (field_technicians, shift_window): every hour of two days has six of
    twelve on shift, and those six hold every skill the seed hands out."""
    from dispatch.planner import shift_window
    from dispatch.repository import load_technicians
    from quietfix.fieldsim import apply_roster

    seed(conn, devices=2, technicians=12, users=False)
    start = ManualClock().now()
    apply_roster(conn, start, "Asia/Shanghai", "round-the-clock")
    all_skills = {s for r in conn.execute("SELECT skills FROM technicians") for s in r[0]}
    for hour in range(48):
        at = start + hour * 3600 + 900
        techs = load_technicians(conn, [], to_datetime(at))
        on = [t for t in techs if t.state != "off"
              and (w := shift_window(at, t.shift_start, t.shift_end, ZoneInfo(t.timezone or "Asia/Shanghai")))[0]
              <= at < w[1]]
        assert len(on) == 6, (hour, [t.code for t in on])
        assert {s for t in on for s in t.skills} == all_skills, hour
