"""Crash and restart of the long-running processes: nothing acknowledged is lost, nothing is done twice.

Each test runs the real ``quietfix <process>`` command as a subprocess on its own test database, SIGKILLs it
while it works (for diagnose and dispatch: while its pass transaction is open, held there by a lock the test
takes; for the API: while a technician's phone streams actions), restarts it and counts the outcome.

The shared PostgreSQL and broker are never stopped; only the subprocesses started here are killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.clock import SystemClock, to_datetime
from core.mqtt import BrokerAddress
from core.settings import Settings
from edge_agent.simulator import Equipment
from ingest import start_ingest
from quietfix.seed import DEMO_PASSWORD, seed
from tests.helpers import open_work_order, wait_for
from tests.services import ROOT, free_port, port_open

pytestmark = pytest.mark.integration
STEP_S = 10.0  # diagnose data: one sample per 10 s, as in tests/diagnostics (fast enough, fine enough)
CHUNK_SAMPLES = 60  # one telemetry batch = 10 minutes of one device


def quietfix(args: list[str], db_url: str, log: Path, **env: str) -> subprocess.Popen:
    """The real CLI, with this checkout first on the path (cwd) and its own database."""
    full = {**os.environ, "QUIETFIX_DATABASE_URL": db_url, "QUIETFIX_LOG_LEVEL": "WARNING", **env}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "quietfix.cli", *args], env=full, cwd=ROOT,
                                stdout=out, stderr=out)


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            kill(proc)


def one(conn: psycopg.Connection, sql: str, *args: object) -> object:
    row = conn.execute(sql, args).fetchone()
    conn.commit()
    return row[0] if row else None


@contextmanager
def writes_blocked(db_url: str, table: str) -> Iterator[None]:
    """Hold a SHARE lock: reads go on, every write to ``table`` waits (inside the writer's open transaction)."""
    with psycopg.connect(db_url) as blocker:
        blocker.execute(f"LOCK TABLE {table} IN SHARE MODE")
        try:
            yield
        finally:
            blocker.rollback()


def waiting_on_lock(db_url: str, query_like: str) -> bool:
    with psycopg.connect(db_url, autocommit=True) as c:
        row = c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query ILIKE %s", (query_like,)).fetchone()
    return bool(row and row[0])


# --- diagnose ---------------------------------------------------------------------------------------------

def progress_writes(db_url: str) -> int:
    """Row writes to diagnose_progress so far: every diagnose pass upserts its cursor row."""
    with psycopg.connect(db_url, autocommit=True) as c:
        row = c.execute("SELECT coalesce(n_tup_ins + n_tup_upd, 0) FROM pg_stat_user_tables "
                        "WHERE relname = 'diagnose_progress'").fetchone()
    return int(row[0]) if row else 0


class HistoryPublisher:
    """Publishes simulated history through the real broker and ingest, as a device's buffered backlog would.

    Publishes as the service account (allowed anywhere by the ACL) with a unique client id, so parallel test
    runs on the shared broker never take over each other's connection.
    """

    def __init__(self, settings: Settings) -> None:
        address = BrokerAddress.from_url(settings.mqtt_url)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"crash-test-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        self.seq = 0
        self.readings = 0

    def publish(self, equipment: dict[str, Equipment], t0: float, t1: float) -> None:
        infos = []
        t = t0
        while t < t1:
            times = [t + STEP_S * i for i in range(CHUNK_SAMPLES) if t + STEP_S * i < t1]
            for device_id, eq in equipment.items():
                samples = [{"t": int(x * 1000), "m": eq.sample(x)} for x in times]
                self.seq += 1
                self.readings += sum(len(s["m"]) for s in samples)
                body = json.dumps({"v": 1, "device_id": device_id, "seq": self.seq, "samples": samples})
                infos.append(self.client.publish(f"qf/v1/{device_id}/telemetry", body.encode(), qos=1))
            t = times[-1] + STEP_S
        for info in infos:
            info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_diagnose_killed_mid_pass_resumes_and_opens_each_incident_once(
        settings: Settings, conn: psycopg.Connection, db_url: str, tmp_path: Path) -> None:
    devices = seed(conn, devices=6, technicians=3, users=False, id_prefix=f"cr{uuid.uuid4().hex[:6]}-")
    conn.commit()
    pumps = [d.device_id for d in devices if d.equipment_type == "pump"]
    a, b = pumps[0], pumps[1]
    equipment = {d.device_id: Equipment(d.device_id, d.equipment_type, seed=7) for d in devices}
    end = time.time() - 60
    t_phase2 = end - 2 * 3600
    t_start = end - 4 * 3600
    # A wears out in phase 1 (after a healthy warm-up half hour), B in phase 2; both stay faulty.
    equipment[a].inject("bearing_wear", t_start + 1800, develop_s=1800)
    equipment[b].inject("bearing_wear", t_phase2 + 1800, develop_s=1800)
    # No "silence" incidents for history that ends hours before now: only the injected faults count.
    env = {"QUIETFIX_DIAGNOSTICS__STALE_AFTER_S": str(24 * 3600)}
    log = tmp_path / "diagnose.log"
    ingest = start_ingest(settings, SystemClock())
    pub = HistoryPublisher(settings)
    proc: subprocess.Popen | None = None
    try:
        assert ingest.mqtt.connected.wait(10)
        pub.publish(equipment, t_start, t_phase2)
        wait_for(lambda: one(conn, "SELECT count(*) FROM telemetry") == pub.readings, timeout_s=60)

        # 1. Killed while its first pass holds an open transaction (held at the progress write).
        with writes_blocked(db_url, "diagnose_progress"):
            proc = quietfix(["diagnose"], db_url, log, **env)
            wait_for(lambda: waiting_on_lock(db_url, "%diagnose_progress%"), timeout_s=90, interval_s=0.2)
            kill(proc)
        assert one(conn, "SELECT count(*) FROM incidents") == 0  # the killed pass left nothing half-done
        assert one(conn, "SELECT count(*) FROM diagnose_progress") == 0

        # 2. Restarted: it redoes the pass and finds A's fault.
        proc = quietfix(["diagnose"], db_url, log, **env)
        wait_for(lambda: one(conn, "SELECT count(*) FROM incidents WHERE device_id = %s "
                                   "AND fault_mode = 'bearing_wear'", a) == 1, timeout_s=90)
        wait_for(lambda: one(conn, "SELECT batch_id FROM diagnose_progress WHERE device_id = '*'"), timeout_s=30)
        cursor1 = int(one(conn, "SELECT batch_id FROM diagnose_progress WHERE device_id = '*'"))  # type: ignore[arg-type]

        # 3. Killed between passes; phase 2 arrives while it is down; the restart resumes from its cursor.
        kill(proc)
        pub.publish(equipment, t_phase2, end)
        wait_for(lambda: one(conn, "SELECT count(*) FROM telemetry") == pub.readings, timeout_s=60)
        proc = quietfix(["diagnose"], db_url, log, **env)
        wait_for(lambda: one(conn, "SELECT count(*) FROM incidents WHERE device_id = %s "
                                   "AND fault_mode = 'bearing_wear'", b) == 1, timeout_s=90)
        wait_for(lambda: int(one(conn, "SELECT batch_id FROM diagnose_progress "  # type: ignore[arg-type]
                                       "WHERE device_id = '*'")) > cursor1, timeout_s=30)
        # Three more passes (each upserts its progress): one that re-read old data would open duplicates.
        upserts = progress_writes(db_url)
        wait_for(lambda: progress_writes(db_url) >= upserts + 3, timeout_s=60, interval_s=0.5)
    finally:
        if proc is not None:
            stop(proc)
        pub.close()
        ingest.stop()
    rows = conn.execute("SELECT device_id, fault_mode, count(*) FROM incidents GROUP BY 1, 2").fetchall()
    assert all(n == 1 for _, _, n in rows), rows  # one incident per asset and fault mode
    assert {(a, "bearing_wear"), (b, "bearing_wear")} <= {(d, m) for d, m, _ in rows}
    assert {d for d, _, _ in rows} <= {a, b}  # nothing invented on healthy equipment
    opened = conn.execute("SELECT incident_id, count(*) FROM timeline_events WHERE kind = 'incident_opened' "
                          "GROUP BY 1").fetchall()
    assert len(opened) == len(rows) and all(n == 1 for _, n in opened)
    orders = conn.execute("SELECT incident_id, count(*) FROM work_orders GROUP BY 1").fetchall()
    assert all(n == 1 for _, n in orders)  # at most one work order per incident
    notes = conn.execute("SELECT incident_id, count(*) FROM notifications WHERE kind = 'incident_detected' "
                         "GROUP BY 1").fetchall()
    assert all(n == 1 for _, n in notes)


# --- dispatch ---------------------------------------------------------------------------------------------

def test_dispatch_killed_while_applying_a_plan_replans_without_double_assignment(
        conn: psycopg.Connection, db_url: str, tmp_path: Path) -> None:
    devices = seed(conn, devices=6, technicians=6, users=False)
    at = to_datetime(time.time())
    orders = [open_work_order(conn, d.device_id, ["mechanical"], at, onsite_h=4) for d in devices]
    conn.commit()
    env = {"QUIETFIX_DISPATCH__SOLVE_IN_SUBPROCESS": "false",  # nothing left orphaned by the SIGKILL
           "QUIETFIX_DISPATCH__REPLAN_BUDGET_S": "1"}
    log = tmp_path / "dispatch.log"

    def planned() -> bool:
        """Every order is assigned or a later stop of the current plan; none is dropped."""
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE w.status = 'assigned' OR EXISTS (SELECT 1 FROM plan_stops s "
            "JOIN plans p ON p.id = s.plan_id WHERE p.is_current AND s.work_order_id = w.id)), "
            "count(*) FILTER (WHERE EXISTS (SELECT 1 FROM plan_drops x JOIN plans p ON p.id = x.plan_id "
            "WHERE p.is_current AND x.work_order_id = w.id)) FROM work_orders w WHERE w.id = ANY(%s)",
            (orders,)).fetchone()
        conn.commit()
        return row == (len(orders), 0)

    proc: subprocess.Popen | None = None
    try:
        # 1. Killed with its plan written but not committed (held at the first work-order update).
        with writes_blocked(db_url, "work_orders"):
            proc = quietfix(["dispatch"], db_url, log, **env)
            wait_for(lambda: waiting_on_lock(db_url, "%work_orders%"), timeout_s=90, interval_s=0.2)
            kill(proc)
        assert one(conn, "SELECT count(*) FROM plans") == 0
        assert one(conn, "SELECT count(*) FROM work_orders WHERE status <> 'open'") == 0
        assert one(conn, "SELECT count(*) FROM notifications") == 0

        # 2. Restarted: every open order gets planned.
        proc = quietfix(["dispatch"], db_url, log, **env)
        wait_for(planned, timeout_s=90)
        plans = int(one(conn, "SELECT count(*) FROM plans"))  # type: ignore[arg-type]
        assigned = conn.execute("SELECT id, technician_id FROM work_orders WHERE status = 'assigned' "
                                "ORDER BY id").fetchall()
        conn.commit()
        assert assigned

        # 3. Killed again and restarted: it re-plans on start, warm from the stored plan, and changes nothing.
        kill(proc)
        proc = quietfix(["dispatch"], db_url, log, **env)
        wait_for(lambda: int(one(conn, "SELECT count(*) FROM plans")) > plans, timeout_s=90)  # type: ignore[arg-type]
        wait_for(planned, timeout_s=30)
    finally:
        if proc is not None:
            stop(proc)
    per_tech = conn.execute("SELECT technician_id, count(*) FROM work_orders WHERE status = 'assigned' "
                            "GROUP BY 1").fetchall()
    assert all(n == 1 for _, n in per_tech)  # a technician is sent to one job at a time
    notes = conn.execute("SELECT w.id, count(n.id) FROM work_orders w LEFT JOIN notifications n "
                         "ON n.incident_id = w.incident_id AND n.kind = 'technician_assigned' "
                         "WHERE w.status = 'assigned' GROUP BY 1").fetchall()
    assert all(n == 1 for _, n in notes), notes  # each assignment told once, not again after the restart
    now_assigned = conn.execute("SELECT id, technician_id FROM work_orders WHERE status = 'assigned' "
                                "ORDER BY id").fetchall()
    assert now_assigned == assigned  # the restart kept every assignment


# --- api --------------------------------------------------------------------------------------------------

def test_api_killed_mid_stream_keeps_every_acknowledged_action_and_replays_once(
        conn: psycopg.Connection, db_url: str, tmp_path: Path) -> None:
    devices = seed(conn, devices=3, technicians=2, users=True)
    tid = int(one(conn, "SELECT technician_id FROM users WHERE username = 'tech01'"))  # type: ignore[arg-type]
    at = to_datetime(time.time())
    orders = []
    for i, d in enumerate(devices):
        wo = open_work_order(conn, d.device_id, ["mechanical"], at, onsite_h=4)
        conn.execute("UPDATE work_orders SET status = 'assigned', technician_id = %s, eta = %s WHERE id = %s",
                     (tid, at + timedelta(minutes=30 * (i + 1)), wo))
        orders.append(wo)
    conn.commit()
    # The phone's queue: en route, arrived, completed for each job, each tap with its own id.
    actions = [(wo, kind, str(uuid.uuid4())) for wo in orders for kind in ("en_route", "arrived", "completed")]
    port = free_port()
    log = tmp_path / "api.log"
    base = f"http://127.0.0.1:{port}"

    def start() -> subprocess.Popen:
        p = quietfix(["api", "--port", str(port)], db_url, log)
        wait_for(lambda: port_open(port), timeout_s=60, interval_s=0.2)
        return p

    def send(client: httpx.Client, token: str, wo: int, kind: str, action_id: str) -> httpx.Response:
        body = {"action_id": action_id, "action": kind, "fix": "bearing replaced" if kind == "completed" else None}
        return client.post(f"{base}/api/tech/jobs/{wo}/actions", json=body,
                           headers={"Authorization": f"Bearer {token}"})

    proc = start()
    acked: list[str] = []
    try:
        with httpx.Client(timeout=30) as client:
            login = client.post(f"{base}/api/auth/token", json={"username": "tech01", "password": DEMO_PASSWORD})
            assert login.status_code == 200
            token = login.json()["access_token"]
            half = threading.Event()

            def phone() -> None:
                for wo, kind, action_id in actions:
                    try:
                        r = send(client, token, wo, kind, action_id)
                    except httpx.HTTPError:
                        return  # the server died under this request: the phone keeps it queued
                    if r.status_code // 100 == 2:
                        acked.append(action_id)
                    if len(acked) >= len(actions) // 2:
                        half.set()

            streamer = threading.Thread(target=phone)
            streamer.start()
            assert half.wait(60)
            kill(proc)  # mid-stream: the next request may be in flight
            streamer.join(60)
        assert 0 < len(acked) < len(actions)
        # Everything the API acknowledged before it died is in the database.
        stored = {str(r[0]) for r in conn.execute("SELECT action_id FROM technician_actions")}
        conn.commit()
        assert set(acked) <= stored

        # Restarted; the phone replays its whole queue (acknowledged taps too, as after a lost response).
        proc = start()
        with httpx.Client(timeout=30) as client:
            token = client.post(f"{base}/api/auth/token", json={"username": "tech01", "password": DEMO_PASSWORD}
                                ).json()["access_token"]
            replies = {a: send(client, token, wo, kind, a) for wo, kind, a in actions}
    finally:
        stop(proc)
    assert all(r.status_code == 200 for r in replies.values())
    assert all(replies[a].json()["duplicate"] for a in acked)  # answered, not applied again
    assert one(conn, "SELECT count(*) FROM technician_actions") == len(actions)
    assert one(conn, "SELECT count(*) FROM work_orders WHERE id = ANY(%s) AND status = 'completed'",
               orders) == len(orders)
    timeline = conn.execute("SELECT work_order_id, kind, count(*) FROM timeline_events WHERE work_order_id = ANY(%s) "
                            "GROUP BY 1, 2", (orders,)).fetchall()
    conn.commit()
    assert {k for _, k, _ in timeline} >= {"technician_en_route"}
    assert all(n == 1 for _, _, n in timeline), timeline  # every step recorded once
