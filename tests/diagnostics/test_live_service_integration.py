"""The live diagnose service on the real database: detector checkpoints across a restart, detectors reset and
repairs verified after a visit, escalation, RUL through the repository/view/API, and remote fixes recorded
through core.commands before they are published.

Telemetry and ingest_batches rows are written directly (what ingest stores); the loop runs on a manual clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY

from core.clock import to_datetime
from core.contracts import CommandResult
from core.settings import DiagnosticsSettings
from diagnostics import DiagnoseLoop, LoopPolicy, checkpoint, predicted_failures
from diagnostics.actions import Actions
from diagnostics.incidents import IncidentEvent
from diagnostics.loop_rules import in_time_order
from dispatch.visits import complete
from tests.diagnostics.site import CHUNK_S, Site, open_site

pytestmark = pytest.mark.integration


class FakeChannel:
    """Records commands (and whether their commands row was committed when they were sent)."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.sent: list[dict[str, Any]] = []
        self.pending: list[CommandResult] = []

    def send(self, device_id: str, command_id: str, cmd: str, args: dict[str, Any], issued_at_ms: int,
             expires_at_ms: int) -> None:
        with psycopg.connect(self.db_url) as other:  # another session sees only committed rows
            row = other.execute("SELECT status, issued_by FROM commands WHERE id = %s", (command_id,)).fetchone()
        self.sent.append({"device_id": device_id, "id": command_id, "cmd": cmd, "committed_row": row})

    def drain(self) -> list[CommandResult]:
        out, self.pending = self.pending, []
        return out


def make_site(conn: psycopg.Connection, db_url: str, step_s: float = 10.0) -> Iterator[Site]:
    with open_site(conn, db_url, users=True, step_s=step_s) as s:
        yield s


@pytest.fixture()
def site(conn: psycopg.Connection, db_url: str) -> Iterator[Site]:
    yield from make_site(conn, db_url)


def make_loop(site: Site, commands: Any = None, **settings: Any) -> DiagnoseLoop:
    return DiagnoseLoop(lambda: psycopg.connect(site.conn.info.dsn, autocommit=True), DiagnosticsSettings(**settings),
                        site.clock, commands=commands, policy=LoopPolicy(silence=False))


def q(conn: psycopg.Connection, sql: str, *args: object) -> list[tuple]:
    rows = conn.execute(sql, args).fetchall()
    conn.commit()
    return rows


def kinds(site: Site, device_id: str) -> list[str]:
    return [k for (k,) in q(site.conn, "SELECT kind FROM timeline_events WHERE device_id = %s ORDER BY id", device_id)]


def snap(loop: DiagnoseLoop, device_id: str) -> str:
    state = loop.monitor_state(device_id)
    assert state is not None
    return json.dumps(checkpoint.snapshot(state[0]), sort_keys=True)


def first_seen(loop: DiagnoseLoop, device_id: str) -> float:
    """When the device's detectors first saw a reading (a reset restarts it): the dropout detector's first sample."""
    state = loop.monitor_state(device_id)
    assert state is not None
    return next(d._first for d in state[0]._detectors if d.name.startswith("dropout:"))


def feed(loop: DiagnoseLoop, site: Site, device_id: str, after: Any, until: Any) -> None:
    """Feed an in-memory loop's detectors the readings the other loop saw (the never-restarted reference)."""
    from diagnostics import repository as repo

    samples = [(ts.timestamp(), values) for ts, values in repo.device_samples(site.conn, device_id, after, until)]
    loop._fleet.observe({device_id: in_time_order(loop._fleet.last_t(device_id), samples)})
    site.conn.commit()


# --- 2. detector state across a restart ---------------------------------------------------------------------

def test_restarted_loop_resumes_detector_state_from_its_checkpoint(site: Site) -> None:
    a = make_loop(site)
    site.run(a, 3600)
    a.shutdown()  # what `quietfix diagnose` does on SIGTERM
    saved = dict(q(site.conn, "SELECT device_id, watermark FROM detector_state"))
    assert set(saved) == set(site.equipment)
    target = site.pump()
    before = to_datetime(site.clock.now())
    b = make_loop(site)
    site.run(b, CHUNK_S)
    assert b.restored == 3
    feed(a, site, target, saved[target], to_datetime(site.clock.now()))  # the process that never stopped
    assert snap(b, target) == snap(a, target)
    fresh = DiagnoseLoop(lambda: site.loop_conn, DiagnosticsSettings(), site.clock)
    fresh._ensure(b.device(target))  # type: ignore[arg-type]
    assert snap(fresh, target) != snap(b, target)
    assert before < to_datetime(site.clock.now())


def test_a_scalar_json_checkpoint_from_before_the_compact_format_still_resumes(site: Site) -> None:
    """Checkpoints are written as packed block rows (blob) now; rows an older diagnose wrote (scalar snapshot JSON,
    no blob) must still resume the detectors, and the next checkpoint rewrites them compactly."""
    a = make_loop(site)
    site.run(a, 3600)
    a.shutdown()
    rows = q(site.conn, "SELECT device_id, state->>'format', blob IS NOT NULL FROM detector_state")
    assert {(f, b) for _, f, b in rows} == {("2", True)}
    for device_id, _, _ in rows:  # rewrite each row as the scalar format the old diagnose stored
        state = a.monitor_state(device_id)
        assert state is not None
        mon, wear = state
        site.conn.execute("UPDATE detector_state SET blob = NULL, state = %s, fingerprint = %s WHERE device_id = %s",
                          (json.dumps({"monitor": checkpoint.snapshot(mon), "wear": checkpoint.snapshot(wear)}),
                           a._fingerprint(mon, wear, mon.cfg, mon.model), device_id))
    site.conn.commit()
    saved = dict(q(site.conn, "SELECT device_id, watermark FROM detector_state"))
    target = site.pump()
    b = make_loop(site)
    site.run(b, CHUNK_S)
    assert b.restored == 3
    feed(a, site, target, saved[target], to_datetime(site.clock.now()))
    assert snap(b, target) == snap(a, target)
    b.shutdown()
    assert q(site.conn, "SELECT count(*) FROM detector_state WHERE blob IS NOT NULL AND state->>'format' = '2'"
             ) == [(3,)]  # rewritten compactly


def test_a_compact_checkpoint_that_does_not_fit_relearns_only_that_device(site: Site) -> None:
    a = make_loop(site)
    site.run(a, 1800)
    a.shutdown()
    target = site.pump()
    site.conn.execute("UPDATE detector_state SET blob = substring(blob from 9) WHERE device_id = %s", (target,))
    site.conn.commit()
    b = make_loop(site)
    site.run(b, CHUNK_S)
    assert b.restored == 2  # the other two resumed
    this_pass = site.clock.now() - CHUNK_S
    assert first_seen(a, target) < this_pass - 1000
    assert first_seen(b, target) >= this_pass  # relearnt from this pass's readings, not half-restored
    other = next(d for d in site.equipment if d != target)
    assert first_seen(b, other) == first_seen(a, other)  # resumed


def test_crashed_loop_replays_from_its_last_periodic_checkpoint(site: Site) -> None:
    a = make_loop(site, checkpoint_every_s=0.0)  # checkpoint on every pass
    site.run(a, 1800)
    saved = dict(q(site.conn, "SELECT device_id, watermark FROM detector_state"))
    a._settings = DiagnosticsSettings(checkpoint_every_s=1e9)  # then no more checkpoints: the crash loses them
    site.run(a, 1200)
    target = site.pump()
    assert q(site.conn, "SELECT watermark FROM diagnose_progress WHERE device_id = %s", target)[0][0] > saved[target]
    # a new process after a crash (no shutdown checkpoint), under the replica's stable worker id: it renews the
    # leases it held at once (a new id would wait for them to expire: tests/diagnostics/test_leases_integration.py)
    b = make_loop(site, worker_id=a.leases.worker_id)
    site.run(b, CHUNK_S)
    assert b.restored == 3
    feed(a, site, target, a.watermark(target), to_datetime(site.clock.now()))
    assert snap(b, target) == snap(a, target)  # replayed the readings after the checkpoint: same state


# --- 3. repair resets detectors and is verified ---------------------------------------------------------------

def _visit(site: Site, device_id: str) -> int:
    wo, tech = q(site.conn, "SELECT w.id, (SELECT min(id) FROM technicians) FROM work_orders w "
                            "WHERE w.device_id = %s AND w.status = 'open'", device_id)[0]
    at = to_datetime(site.clock.now())
    site.conn.execute("UPDATE work_orders SET status = 'on_site', technician_id = %s, arrived_at = %s WHERE id = %s",
                      (tech, at, wo))
    assert complete(site.conn, wo, at, cause="worn bearing", fix="bearing replaced") == device_id
    site.conn.commit()
    return int(wo)


def test_completed_visit_resets_detectors_and_the_repair_is_verified_before_closing(site: Site) -> None:
    loop = make_loop(site)
    site.run(loop, 1800)
    target = site.pump()
    site.equipment[target].inject("bearing_wear", site.clock.now(), develop_s=1800)
    site.run(loop, 3600)
    assert q(site.conn, "SELECT fault_mode, status FROM incidents WHERE device_id = %s", target) == [
        ("bearing_wear", "work_order")]
    old = first_seen(loop, target)
    site.equipment[target].repair()
    wo = _visit(site, target)
    site.run(loop, CHUNK_S)
    assert first_seen(loop, target) > old  # detectors and baselines started afresh (with the first reading after it)
    assert q(site.conn, "SELECT status FROM diagnose_repairs WHERE work_order_id = %s", wo) == [("verifying",)]
    assert q(site.conn, "SELECT status FROM incidents WHERE device_id = %s", target) == [("resolved_onsite",)]
    site.run(loop, 1800)
    assert q(site.conn, "SELECT status FROM diagnose_repairs WHERE work_order_id = %s", wo) == [("verified",)]
    assert q(site.conn, "SELECT fault_mode, status, closed_at IS NOT NULL FROM incidents WHERE device_id = %s",
             target) == [("bearing_wear", "closed", True)]
    k = kinds(site, target)
    steps = ["work_order_created", "work_completed", "detectors_reset", "repair_verified", "incident_closed"]
    assert [x for x in k if x in steps] == steps  # each step on the timeline, in order
    site.run(loop, 3600)
    assert q(site.conn, "SELECT count(*) FROM incidents WHERE device_id = %s", target) == [(1,)]  # no re-fire
    site.equipment[target].inject("bearing_wear", site.clock.now(), develop_s=1800)  # a new fault later on
    site.run(loop, 3600)
    assert q(site.conn, "SELECT i.status, w.status FROM incidents i JOIN work_orders w ON w.incident_id = i.id "
                        "WHERE i.device_id = %s ORDER BY i.id", target) == [("closed", "completed"),
                                                                          ("work_order", "open")]


def test_fault_that_survives_the_visit_is_not_verified(site: Site) -> None:
    loop = make_loop(site)
    site.run(loop, 1800)
    target = site.pump()
    site.equipment[target].inject("bearing_wear", site.clock.now(), develop_s=1800)
    site.run(loop, 3600)
    wo = _visit(site, target)  # the technician reports done, but the bearing still runs rough
    site.run(loop, 3600)
    assert q(site.conn, "SELECT status FROM diagnose_repairs WHERE work_order_id = %s", wo) == [("recurred",)]
    assert "repair_not_verified" in kinds(site, target)
    assert ("bearing_wear", "work_order") in q(site.conn, "SELECT fault_mode, status FROM incidents "
                                                          "WHERE device_id = %s", target)


# --- 4. escalation -----------------------------------------------------------------------------------------

def test_escalation_tightens_deadlines_notifies_and_is_on_the_timeline(site: Site) -> None:
    loop = make_loop(site)
    site.run(loop, 1800)
    target = site.pump()
    site.equipment[target].inject("sensor_spike", site.clock.now(), develop_s=600, signal="pressure_bar")
    site.run(loop, 2400)  # severity 1: watched, then a visit with severity-1 (relaxed) deadlines
    (inc_id, sev, onsite), = q(site.conn, "SELECT id, severity, onsite_due FROM incidents WHERE device_id = %s",
                               target)
    (wo_due,), = q(site.conn, "SELECT onsite_due FROM work_orders WHERE incident_id = %s", inc_id)
    assert sev == 1
    ctx = loop.device(target)
    inc = loop.state.get(str(inc_id))
    worse = inc.__class__(**{**inc.__dict__, "severity": 3})
    with site.loop_conn.transaction():
        Actions(site.loop_conn, loop, site.clock.now()).incident_event(
            ctx, IncidentEvent("escalated", worse, site.clock.now(), {"from": 1, "to": 3}))
    (onsite2,), = q(site.conn, "SELECT onsite_due FROM incidents WHERE id = %s", inc_id)
    (wo_due2,), = q(site.conn, "SELECT onsite_due FROM work_orders WHERE incident_id = %s", inc_id)
    assert onsite2 < onsite and wo_due2 < wo_due and wo_due2 <= onsite2  # dispatch plans against the new one
    notes = q(site.conn, "SELECT kind, customer_id FROM notifications WHERE incident_id = %s ORDER BY id", inc_id)
    assert notes[-1] == ("incident_escalated", ctx.customer_id)
    (data,), = q(site.conn, "SELECT data FROM timeline_events WHERE kind = 'incident_escalated' AND incident_id = %s",
                 inc_id)
    assert data["to"] == 3 and data["work_orders_retimed"]


def test_overheating_that_gets_critical_escalates_live(site: Site) -> None:
    loop = make_loop(site)
    site.run(loop, 1800)
    target = site.pump()
    injected_at = site.clock.now()
    count0 = REGISTRY.get_sample_value("quietfix_detection_latency_seconds_count") or 0.0
    sum0 = REGISTRY.get_sample_value("quietfix_detection_latency_seconds_sum") or 0.0
    site.equipment[target].inject("overheating", injected_at, develop_s=3600)
    site.run(loop, 5400)
    (inc_id, sev, opened_at), = q(site.conn, "SELECT id, severity, opened_at FROM incidents WHERE device_id = %s "
                                             "AND fault_mode = 'overheating'", target)
    assert sev == 3
    # Detection latency (fault onset -> incident) was recorded, and lies between the injection and the opening.
    opened = q(site.conn, "SELECT count(*) FROM incidents")[0][0]
    count = (REGISTRY.get_sample_value("quietfix_detection_latency_seconds_count") or 0.0) - count0
    total = (REGISTRY.get_sample_value("quietfix_detection_latency_seconds_sum") or 0.0) - sum0
    assert count == opened >= 1
    assert 0.0 <= total <= count * (opened_at.timestamp() - injected_at) + 1e-6
    assert ("incident_escalated",) in q(site.conn, "SELECT kind FROM notifications WHERE incident_id = %s", inc_id)
    assert "incident_escalated" in kinds(site, target)


# --- 5. remote fixes recorded before publishing ------------------------------------------------------------

def test_remote_fix_is_a_committed_command_before_it_is_published(site: Site, db_url: str) -> None:
    channel = FakeChannel(db_url)
    loop = make_loop(site, channel)
    site.run(loop, 1800)
    target = site.pump()
    site.equipment[target].inject("motor_trip", site.clock.now(), develop_s=0)
    site.run(loop, 1200)
    assert [(c["device_id"], c["cmd"], c["committed_row"]) for c in channel.sent] == [
        (target, "reset", ("pending", "diagnostics"))]
    cid = channel.sent[0]["id"]
    assert q(site.conn, "SELECT status FROM commands WHERE id = %s", cid) == [("sent",)]
    assert q(site.conn, "SELECT command_id FROM remote_fix_attempts") == [(cid,)]
    # ingest's handling of the device's answer: recorded against the command, no dead letter
    from core.commands import consume_result_message

    payload = json.dumps({"v": 1, "id": cid, "ok": True, "result": {}}).encode()
    assert consume_result_message(site.conn, target, payload, to_datetime(site.clock.now())) is None
    site.conn.commit()
    assert q(site.conn, "SELECT status FROM commands WHERE id = %s", cid) == [("succeeded",)]


# --- 1. remaining useful life ------------------------------------------------------------------------------

@pytest.fixture()
def slow_site(conn: psycopg.Connection, db_url: str) -> Iterator[Site]:
    yield from make_site(conn, db_url, step_s=60.0)


def test_rul_is_estimated_stored_and_readable_by_spares_planning_and_the_api(slow_site: Site, settings) -> None:
    site = slow_site
    loop = make_loop(site)
    site.run(loop, 20 * 3600)  # most of a day: the envelope of each signal's load cycle
    target = site.pump()
    site.equipment[target].inject("bearing_wear", site.clock.now(), develop_s=8 * 3600)
    site.run(loop, 3 * 3600)
    latest = {d: s for d, s in q(site.conn, "SELECT DISTINCT ON (device_id) device_id, status FROM rul_estimates "
                                            "ORDER BY device_id, estimated_at DESC")}
    assert latest.pop(target) == "degrading"
    assert set(latest.values()) == {"healthy"}
    failures = predicted_failures(site.conn)
    assert [(f["device_id"], f["fault_mode"], f["signal"]) for f in failures] == [
        (target, "bearing_wear", "vibration_mm_s")]
    f = failures[0]
    now = to_datetime(site.clock.now())
    assert now < f["failure_earliest_at"] <= f["failure_at"] < now + timedelta(hours=8)
    assert f["likely_parts"] and f["skills"] == ["mechanical"]  # from the knowledge base: spares' demand
    site.conn.commit()

    from fastapi.testclient import TestClient

    from api.app import create_app
    from quietfix.seed import DEMO_PASSWORD

    owner = q(site.conn, "SELECT u.username FROM users u JOIN devices d ON d.customer_id = u.customer_id "
                         "WHERE d.id = %s", target)[0][0]
    other = q(site.conn, "SELECT u.username FROM users u WHERE u.role = 'customer' AND u.customer_id <> "
                         "(SELECT customer_id FROM devices WHERE id = %s) LIMIT 1", target)
    app = create_app(settings)
    app.state.clock = site.clock  # the API's "now" is the simulated one, as in the demo
    with TestClient(app) as client:
        def login(user: str) -> dict[str, str]:
            r = client.post("/api/auth/token", json={"username": user, "password": DEMO_PASSWORD})
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        h = login(owner)
        r = client.get(f"/api/assets/{target}/rul", headers=h)
        assert r.status_code == 200 and r.json()["latest"]["status"] == "degrading"
        assert len(r.json()["history"]) >= 1
        detail = client.get(f"/api/assets/{target}", headers=h).json()
        assert detail["id"] == target and detail["rul"]["fault_mode"] == "bearing_wear"
        assert [p["device_id"] for p in client.get("/api/predicted-failures", headers=h).json()] == [target]
        if other:
            ho = login(other[0][0])
            assert client.get(f"/api/assets/{target}/rul", headers=ho).status_code == 404
            assert client.get(f"/api/assets/{target}", headers=ho).status_code == 404
            assert client.get("/api/predicted-failures", headers=ho).json() == []
        assert client.get(f"/api/assets/{target}/rul").status_code == 401
        hd = login("dispatcher")
        assert [p["device_id"] for p in client.get("/api/predicted-failures?within_h=12", headers=hd).json()] == [
            target]


# paho leaves its wake-up socket pair to the garbage collector after loop_stop(); collected here, not our leak.
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_automatic_remote_fix_result_is_recognised_by_ingest_no_dead_letter(site: Site, settings, tmp_path) -> None:
    """Real broker (a private one: results would otherwise reach other checkouts' ingest), real ingest worker,
    the diagnose loop's MQTT command channel, and a device that answers its command."""
    import time as _time

    from core.clock import SystemClock
    from core.mqtt import InboundMessage, ServerMqtt
    from diagnostics.remote import mqtt_channel
    from ingest.runner import start_ingest
    from tests.helpers import wait_for
    from tests.services import PrivateBroker

    broker = PrivateBroker(tmp_path / "broker", settings.mqtt_username, settings.mqtt_password)
    broker.start()
    settings.mqtt_url = broker.url
    target = site.pump()
    dev: ServerMqtt | None = None

    def answer(msg: InboundMessage) -> None:  # the edge agent: act on the reset, publish the result
        cmd = json.loads(msg.payload)
        site.equipment[target].reset()
        assert dev is not None
        dev.publish(f"qf/v1/{target}/cmd/result", json.dumps({"v": 1, "id": cmd["id"], "ok": True,
                                                                "result": {"cleared": ["motor_trip"]}}).encode())

    dev = ServerMqtt(settings.mqtt_url, f"fake-{target}", username=settings.mqtt_username,
                     password=settings.mqtt_password, subscriptions=[(f"qf/v1/{target}/cmd", 1)],
                     on_message=answer, manual_ack=False, persistent=False)
    ingest = start_ingest(settings, SystemClock())
    channel = mqtt_channel(settings, client_id=f"diagnose-test-{settings.ingest.worker_id}", session_expiry_s=60)
    dev.start()
    try:
        assert dev.connected.wait(10) and channel.mqtt.connected.wait(10) and ingest.mqtt.connected.wait(10)
        _time.sleep(0.5)  # SUBSCRIBE follows CONNACK
        loop = make_loop(site, channel)
        site.run(loop, 1800)
        site.equipment[target].inject("motor_trip", site.clock.now(), develop_s=0)
        site.run(loop, 1200)
        (cid,), = q(site.conn, "SELECT command_id FROM remote_fix_attempts")
        wait_for(lambda: q(site.conn, "SELECT status FROM commands WHERE id = %s", cid) == [("succeeded",)],
                 timeout_s=20)

        def acked() -> bool:
            loop.tick(site.loop_conn)  # the loop drains the channel's results
            return q(site.conn, "SELECT status FROM remote_fix_attempts") == [("acked",)]

        wait_for(acked, timeout_s=20)
        assert q(site.conn, "SELECT count(*) FROM dead_letters") == [(0,)]
        assert q(site.conn, "SELECT issued_by FROM commands") == [("diagnostics",)]
    finally:
        dev.stop()
        channel.stop()
        ingest.stop()
        broker.stop()


# --- 5. coverage hours of the covering contract ---------------------------------------------------------------

def test_incident_opened_out_of_coverage_hours_starts_its_sla_clocks_when_coverage_opens(site: Site) -> None:
    from datetime import time

    from diagnostics import SlaDeadlines, sla_class
    from diagnostics import repository as diag_repo

    target = site.pump()
    (customer_id,), = q(site.conn, "SELECT customer_id FROM devices WHERE id = %s", target)
    site.conn.execute("DELETE FROM contracts WHERE device_id = %s", (target,))  # the customer-wide one covers it
    site.conn.execute("UPDATE contracts SET coverage_days = '{1,2,3,4,5}', coverage_start = '07:00', "
                      "coverage_end = '19:00' WHERE customer_id = %s AND device_id IS NULL", (customer_id,))
    site.conn.commit()
    loop = make_loop(site)
    ctx = diag_repo.device_context(site.conn, target)
    site.conn.commit()
    assert ctx is not None and (ctx.coverage_days, ctx.coverage_start, ctx.coverage_end) == ([1, 2, 3, 4, 5], time(7), time(19))
    site.run(loop, 1800)
    site.equipment[target].inject("sensor_spike", site.clock.now(), develop_s=600, signal="pressure_bar")
    site.run(loop, 2400)  # Thursday 2026-01-01 ~01:00 UTC: outside Mon-Fri 07-19
    (opened, sev, response, onsite, repair, tier), = q(
        site.conn, "SELECT i.opened_at, i.severity, i.response_due, i.onsite_due, i.repair_due, "
                   "coalesce(dc.sla_tier, c.tier) FROM incidents i JOIN customers c ON c.id = i.customer_id "
                   "LEFT JOIN device_contracts dc ON dc.device_id = i.device_id WHERE i.device_id = %s", target)
    opens = opened.replace(hour=7, minute=0, second=0, microsecond=0)
    assert opened < opens
    sla = sla_class(sev, SlaDeadlines(*q(site.conn, "SELECT response_min, onsite_min, repair_h * 60 FROM "
                                         "sla_tier_defaults WHERE tier = %s", tier)[0]))
    assert (response - opens, onsite - opens, repair - opens) == (
        timedelta(minutes=sla.response_min), timedelta(minutes=sla.on_site_min), timedelta(minutes=sla.repair_min))
    for (due,) in q(site.conn, "SELECT w.onsite_due FROM work_orders w JOIN incidents i ON i.id = w.incident_id "
                               "WHERE i.device_id = %s", target):
        assert due >= opens + timedelta(minutes=sla.on_site_min)  # the visit's deadline counts from 07:00 too
    # The service targets do not wait for coverage: on site within 2 h of the opening (settings' defaults).
    targets = q(site.conn, "SELECT i.response_target, i.onsite_target, i.repair_target, w.onsite_target "
                           "FROM incidents i LEFT JOIN work_orders w ON w.incident_id = i.id WHERE i.device_id = %s",
                target)
    for response_t, onsite_t, repair_t, wo_onsite_t in targets:
        assert (response_t - opened, onsite_t - opened, repair_t - opened) == (
            timedelta(minutes=15), timedelta(hours=2), timedelta(hours=24))
        assert wo_onsite_t in (None, onsite_t)  # a visit carries the incident's target, not a restarted one
    # 24x7 (or no contract): clocks start at once, as before.
    site.conn.execute("UPDATE contracts SET coverage_days = '{1,2,3,4,5,6,7}', coverage_start = '00:00', "
                      "coverage_end = '24:00' WHERE customer_id = %s", (customer_id,))
    ctx = diag_repo.device_context(site.conn, target)
    site.conn.commit()
    assert ctx is not None and ctx.coverage_end == time(23, 59, 59, 999999)
