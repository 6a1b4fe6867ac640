"""The streaming diagnose loop on the real database, fed the edge simulator's signals as ingest would write them.

Telemetry and ingest_batches rows are written directly (what ingest stores); the loop runs on a manual clock.
Remote commands go through an in-memory channel standing in for MQTT: the test plays the device's answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from core.clock import to_datetime
from core.contracts import CommandResult
from core.settings import DiagnosticsSettings
from diagnostics import DiagnoseLoop, LoopPolicy
from tests.diagnostics.site import Site, open_site

pytestmark = pytest.mark.integration


class FakeChannel:
    """Records commands; results are handed to the loop when the test decides the device answered."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.pending: list[CommandResult] = []

    def send(self, device_id: str, command_id: str, cmd: str, args: dict[str, Any], issued_at_ms: int,
             expires_at_ms: int) -> None:
        self.sent.append({"device_id": device_id, "id": command_id, "cmd": cmd, "args": args,
                          "expires_at": expires_at_ms})

    def drain(self) -> list[CommandResult]:
        out, self.pending = self.pending, []
        return out


@pytest.fixture()
def site(conn: psycopg.Connection, db_url: str) -> Iterator[Site]:
    with open_site(conn, db_url) as s:
        yield s


def make_loop(site: Site, commands: FakeChannel | None = None) -> DiagnoseLoop:
    return DiagnoseLoop(lambda: site.loop_conn, DiagnosticsSettings(), site.clock, commands=commands,
                        policy=LoopPolicy(silence=False))


def pump(site: Site) -> str:
    return site.pump()


def q(conn: psycopg.Connection, sql: str, *args: object) -> list[tuple]:
    rows = conn.execute(sql, args).fetchall()
    conn.commit()
    return rows


def test_developing_fault_opens_one_incident_with_work_order_and_nothing_elsewhere(site: Site) -> None:
    loop = make_loop(site)
    site.run(loop, 1800)  # healthy half hour: detectors warm up, nothing may be detected
    assert q(site.conn, "SELECT count(*) FROM incidents") == [(0,)]
    target = pump(site)
    site.equipment[target].inject("bearing_wear", site.clock.now(), develop_s=1800)
    site.run(loop, 5400)  # the fault develops and persists for an hour: many passes, one incident
    incidents = q(site.conn, "SELECT device_id, fault_mode, status FROM incidents ORDER BY id")
    assert {d for d, _, _ in incidents} == {target}
    bearing = [i for i in incidents if i[1] == "bearing_wear"]
    assert bearing == [(target, "bearing_wear", "work_order")]
    assert len({m for _, m, _ in incidents}) == len(incidents)  # one incident per asset and fault mode
    wo = q(site.conn, "SELECT w.required_skills, w.estimated_minutes, i.evidence ? 'probable_cause' "
                      "FROM work_orders w JOIN incidents i ON i.id = w.incident_id WHERE i.fault_mode = 'bearing_wear'")
    assert wo == [(["mechanical"], 180, True)]  # skills, minutes and the explanation come from the knowledge base
    kinds = [k for (k,) in q(site.conn, "SELECT kind FROM timeline_events WHERE device_id = %s ORDER BY id", target)]
    assert kinds[:2] == ["incident_opened", "work_order_created"]
    assert q(site.conn, "SELECT count(*) FROM notifications WHERE kind = 'incident_detected' AND device_id = %s "
                        "AND incident_id = (SELECT id FROM incidents WHERE fault_mode = 'bearing_wear')", target) == [(1,)]
    # A restarted loop resumes from the stored progress and incident state: still one incident.
    site.run(make_loop(site), 1200)
    assert q(site.conn, "SELECT count(*) FROM incidents WHERE fault_mode = 'bearing_wear'") == [(1,)]


def test_minor_fault_that_clears_is_auto_resolved_without_a_visit(site: Site) -> None:
    loop = make_loop(site)
    site.run(loop, 1800)
    target = pump(site)
    site.equipment[target].inject("sensor_spike", site.clock.now(), develop_s=600, signal="pressure_bar")
    site.run(loop, 600)  # opened and watched (LoopPolicy.watch_s, 10 min: a visit if still present then)
    assert q(site.conn, "SELECT fault_mode, status FROM incidents") == [("sensor_spike", "detected")]
    site.equipment[target].repair()  # the noise source went away by itself, within the watch
    site.run(loop, 2400)
    assert q(site.conn, "SELECT fault_mode, status, closed_at IS NOT NULL FROM incidents") == [
        ("sensor_spike", "closed", True)]
    assert q(site.conn, "SELECT count(*) FROM work_orders") == [(0,)]
    assert q(site.conn, "SELECT count(*) FROM notifications") == [(0,)]
    assert ("incident_auto_resolved",) in q(site.conn, "SELECT kind FROM timeline_events")


def _remote_case(site: Site, answer: bool) -> tuple[FakeChannel, str]:
    channel = FakeChannel()
    loop = make_loop(site, channel)
    site.run(loop, 1800)
    target = pump(site)
    site.equipment[target].inject("motor_trip", site.clock.now(), develop_s=0)

    def device_answers() -> None:
        for cmd in channel.sent:
            if not cmd.get("answered"):
                cmd["answered"] = True
                cleared = [f.mode for f in site.equipment[target].reset()] if answer else []
                # what the edge agent answers (edge_agent/agent.py, _cmd_reset): the fault modes the reset cleared
                channel.pending.append(CommandResult(target, cmd["id"], answer, {"subsystem": "all", "cleared": cleared}
                                                     if answer else {"reason": "interlock active"}, None))

    site.run(loop, 2 * 3600, on_tick=device_answers)  # step detectors latch up to an hour, then 15 min clear
    return channel, target


def test_remote_fix_resolves_without_bothering_the_customer(site: Site) -> None:
    channel, target = _remote_case(site, answer=True)
    assert [(c["device_id"], c["cmd"]) for c in channel.sent] == [(target, "reset")]
    assert q(site.conn, "SELECT fault_mode, status FROM incidents") == [("motor_trip", "resolved_remote")]
    assert q(site.conn, "SELECT status, result->>'ok' FROM remote_fix_attempts") == [("verified", "true")]
    assert q(site.conn, "SELECT count(*) FROM work_orders") == [(0,)]
    assert q(site.conn, "SELECT count(*) FROM notifications") == [(0,)]
    kinds = {k for (k,) in q(site.conn, "SELECT kind FROM timeline_events")}
    assert {"incident_opened", "remote_fix_sent", "remote_fix_result", "remote_fix_verified"} <= kinds


def test_failed_remote_fix_becomes_a_work_order(site: Site) -> None:
    channel, target = _remote_case(site, answer=False)
    assert len(channel.sent) == 1
    assert q(site.conn, "SELECT fault_mode, status FROM incidents") == [("motor_trip", "work_order")]
    assert q(site.conn, "SELECT status FROM remote_fix_attempts") == [("failed",)]
    assert q(site.conn, "SELECT device_id, required_skills FROM work_orders") == [(target, ["electrical"])]
    body = q(site.conn, "SELECT body FROM notifications WHERE kind = 'incident_detected'")
    assert len(body) == 1 and "remotely" in body[0][0]


def test_remote_fix_without_answer_times_out_into_a_work_order(site: Site) -> None:
    channel = FakeChannel()
    loop = make_loop(site, channel)
    site.run(loop, 1800)
    target = pump(site)
    site.equipment[target].inject("motor_trip", site.clock.now(), develop_s=0)
    site.run(loop, 1800)  # nobody answers
    assert len(channel.sent) == 1
    assert q(site.conn, "SELECT status FROM remote_fix_attempts") == [("timeout",)]
    assert q(site.conn, "SELECT status FROM incidents") == [("work_order",)]
    onsite = q(site.conn, "SELECT onsite_due - created_at FROM work_orders")
    assert len(onsite) == 1 and onsite[0][0] <= timedelta(hours=4)



def test_fault_returning_after_an_onsite_repair_opens_a_new_incident(site: Site) -> None:
    loop = make_loop(site)
    site.run(loop, 1800)
    target = pump(site)
    site.equipment[target].inject("bearing_wear", site.clock.now(), develop_s=600)
    site.run(loop, 2400)
    first = q(site.conn, "SELECT id FROM incidents WHERE fault_mode = 'bearing_wear' AND status = 'work_order'")
    assert len(first) == 1
    site.equipment[target].repair()  # what dispatch's field visit does, and records:
    site.conn.execute("UPDATE incidents SET status = 'resolved_onsite', resolved_at = %s WHERE device_id = %s",
                      (to_datetime(site.clock.now()), target))
    site.conn.commit()
    site.run(loop, 3600)
    site.equipment[target].inject("bearing_wear", site.clock.now(), develop_s=600)
    site.run(loop, 2400)
    rows = q(site.conn, "SELECT id, status FROM incidents WHERE fault_mode = 'bearing_wear' ORDER BY id")
    assert [s for _, s in rows] == ["resolved_onsite", "work_order"] and rows[0][0] == first[0][0]
