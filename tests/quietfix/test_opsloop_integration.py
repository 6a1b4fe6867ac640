"""The demo's operations loop (issue #16 item 3): the notifier really sends over SMTP to the local sink, the
preventive planner runs on the shared clock, and seeded history gives the planning page a forecast and a roster
without entering the service KPIs."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest

from api.notify import Notifier
from core.clock import ManualClock, to_datetime
from core.settings import NotifySettings
from kpis.repository import load_incidents
from planning import service as planning
from planning.planner_loop import PreventivePlanner
from quietfix.mailsink import SmtpSink
from quietfix.seed import seed
from quietfix.seed_history import seed_incident_history, stagger_inspections

pytestmark = pytest.mark.integration


def test_notifier_sends_the_outbox_over_smtp_to_the_local_sink(conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=3, technicians=1, users=False)
    clock = ManualClock()
    d = devices[0]
    email = conn.execute("SELECT email FROM customers WHERE id = %s", (d.customer_id,)).fetchone()[0]
    nid = conn.execute("INSERT INTO notifications (customer_id, device_id, kind, subject, body, created_at) "
                       "VALUES (%s, %s, 'incident_opened', 'Pump 3 is leaking', 'We are on it.', %s) RETURNING id",
                       (d.customer_id, d.device_id, to_datetime(clock.now()))).fetchone()[0]
    conn.commit()
    with SmtpSink() as sink:
        config = NotifySettings(smtp_host=sink.host, smtp_port=sink.port, timeout_s=5.0)
        assert Notifier(config, clock).tick(conn) == 1
        assert sink.received == 1
        msg = sink.messages()[0]
    assert msg["To"] == email and msg["Subject"] == "Pump 3 is leaking"
    assert msg["Message-ID"] == f"<quietfix-notification-{nid}@quietfix>"
    sent, delivered = conn.execute(
        "SELECT n.sent_at, nd.sent_at FROM notifications n JOIN notification_deliveries nd "
        "ON nd.notification_id = n.id WHERE n.id = %s AND nd.channel = 'email'", (nid,)).fetchone()
    assert sent == delivered == to_datetime(clock.now())  # delivered, on the shared clock


def test_notifier_keeps_the_row_when_the_sink_is_down(conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=1, technicians=1, users=False)
    clock = ManualClock()
    conn.execute("INSERT INTO notifications (customer_id, device_id, kind, subject, body, created_at) "
                 "VALUES (%s, %s, 'incident_opened', 's', 'b', %s)",
                 (devices[0].customer_id, devices[0].device_id, to_datetime(clock.now())))
    conn.commit()
    sink = SmtpSink().start()
    port = sink.port
    sink.stop()  # nothing listens there now
    assert Notifier(NotifySettings(smtp_host="127.0.0.1", smtp_port=port, timeout_s=2.0), clock).tick(conn) == 0
    row = conn.execute("SELECT sent_at, attempts, next_attempt_at IS NOT NULL FROM notifications").fetchone()
    assert row == (None, 1, True)  # delayed for a retry, not dropped
    assert conn.execute("SELECT count(*) FROM notification_deliveries").fetchone()[0] == 0


def test_planner_creates_preventive_orders_on_the_clock_it_is_given(conn: psycopg.Connection) -> None:
    seed(conn, devices=6, technicians=2, users=False)
    conn.commit()
    # A clock far from the wall clock: the orders carry its time, not the machine's.
    clock = ManualClock(start=to_datetime(ManualClock().now()).timestamp() + 90 * 86400)
    stop = threading.Event()
    passes = []

    def seen(out: dict) -> None:  # type: ignore[type-arg]
        passes.append(out)
        stop.set()

    planner = PreventivePlanner(lambda: psycopg.connect(conn.info.dsn, autocommit=True), clock, every_s=0.01,
                                on_pass=seen)
    planner.run(stop)
    assert planner.created > 0 and len(passes[0]["created"]) == planner.created
    created = {r[0] for r in conn.execute("SELECT created_at FROM work_orders WHERE kind = 'preventive'")}
    assert created == {to_datetime(clock.now())}
    # A second pass on the same clock finds the same items due and creates nothing twice.
    assert PreventivePlanner(lambda: conn, clock).tick(conn)["created"] == []


def test_seeded_history_feeds_forecast_and_roster_but_not_the_kpis(conn: psycopg.Connection) -> None:
    seed(conn, devices=12, technicians=4, users=False)
    now = ManualClock().now()
    at = to_datetime(now)
    empty = planning.forecast_vs_actual(conn, at)
    assert empty["hours"] == [] and "too few" in empty["reason"]

    n = seed_incident_history(conn, now, weeks=4, mean_per_hour=0.6, seed=3)
    assert 200 < n < 600  # ~0.6 an hour, quieter at night and at weekends, over 4 weeks
    opened = [r[0] for r in conn.execute("SELECT opened_at FROM incidents WHERE source = 'import'")]
    assert min(opened) >= at - timedelta(weeks=4) and max(opened) < at
    assert conn.execute("SELECT count(*) FROM incidents WHERE status <> 'closed' OR resolved_at >= %s",
                        (at,)).fetchone()[0] == 0

    fc = planning.forecast_vs_actual(conn, at)
    assert fc["hours"] and fc["history_incidents"] > 20
    assert sum(h["mean"] for h in fc["hours"]) > 0
    roster = planning.roster_suggestion(conn, at)
    assert roster["rows"] and sum(r["technicians_needed"] for r in roster["rows"]) > 0
    incidents, _ = load_incidents(conn, at - timedelta(weeks=5), at + timedelta(hours=1))
    assert incidents == []  # quietfix handled none of them: no response or on-site figure counts them


def test_inspection_rounds_are_spread_over_their_intervals_so_only_those_due_are_planned(
        conn: psycopg.Connection) -> None:
    seed(conn, devices=40, technicians=2, users=False)
    clock = ManualClock()
    today = to_datetime(clock.now()).date()
    assert stagger_inspections(conn, clock.now(), seed=5) > 0
    # One round falls due today whatever the draw, so the pass has something to plan.
    conn.execute("UPDATE contracts SET last_inspection_on = %s::date - inspection_interval_days + 1 WHERE id = "
                 "(SELECT min(id) FROM contracts WHERE inspection_interval_days IS NOT NULL AND device_id IS NULL)",
                 (today,))
    rows = conn.execute("SELECT c.id, c.last_inspection_on, c.inspection_interval_days, count(d.id) FROM contracts c "
                        "JOIN devices d ON d.customer_id = c.customer_id "
                        "WHERE c.inspection_interval_days IS NOT NULL AND c.device_id IS NULL "
                        "GROUP BY c.id").fetchall()
    assert all(today - timedelta(days=every) < last <= today for _, last, every, _ in rows)
    due = sum(n for _, last, every, n in rows if last + timedelta(days=every) <= today + timedelta(days=7))
    out = PreventivePlanner(lambda: conn, clock).tick(conn)
    planned = [c for c in out["created"] if c["reason"] == "inspection"]
    assert 0 < len(planned) == due < sum(n for *_, n in rows)  # those due, not the whole fleet at once
