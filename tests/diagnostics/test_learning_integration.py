"""Learning in the product, on the real database (issue #16 items 1 and 2).

History is the edge simulator's (quietfix/seed_telemetry_history.py, the demo's own seed); `quietfix train`'s job
trains from it; the diagnose loop and the API read what it stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from core.clock import to_datetime
from core.settings import TrainingSettings
from diagnostics import learning_repository as lrepo
from diagnostics.rul_learned import CYCLE_S, LearnedRulModel, bucket_history
from diagnostics.trainer import TrainingJob
from quietfix.seed import DEMO_PASSWORD
from quietfix.seed_telemetry_history import seed_telemetry
from tests.diagnostics.site import Site, open_site
from tests.diagnostics.test_live_service_integration import make_loop, make_site, q

pytestmark = pytest.mark.integration
FAST = TrainingSettings(min_span_s=12 * 3600, rul_min_failures=4)


@pytest.fixture()
def slow_site(conn: psycopg.Connection, db_url: str) -> Iterator[Site]:
    yield from make_site(conn, db_url, step_s=60.0)


@pytest.fixture()
def fleet_site(conn: psycopg.Connection, db_url: str) -> Iterator[Site]:
    """Twelve devices (four of each type): enough pumps to learn from and to hold one out."""
    with open_site(conn, db_url, devices=12, users=True, step_s=60.0, days=2) as site:
        yield site


def _seed(site: Site, only: str | None = None, **kw: object) -> None:
    devices = [(d, e.equipment_type) for d, e in site.equipment.items() if only in (None, e.equipment_type)]
    seed_telemetry(site.conn, devices, site.clock.now(), hours=24, step_s=120, **kw)  # type: ignore[arg-type]
    site.conn.commit()


def _client(settings, site: Site) -> TestClient:
    from api.app import create_app

    app = create_app(settings)
    app.state.clock = site.clock
    return TestClient(app)


def _login(client: TestClient, user: str) -> dict[str, str]:
    r = client.post("/api/auth/token", json={"username": user, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_normal_models_train_from_healthy_history_are_listed_and_diagnose_switches_versions(slow_site: Site,
                                                                                          settings) -> None:
    site = slow_site
    _seed(site, failures_per_type=0)
    pump = site.pump()
    now = site.clock.now()
    # An incident on the pump 6 h ago: its samples around it are not healthy and must not be trained on.
    site.conn.execute(
        "INSERT INTO incidents (device_id, customer_id, fault_mode, detector, severity, status, summary, opened_at,"
        " response_due, onsite_due, repair_due, resolved_at, closed_at) SELECT id, customer_id, 'bearing_wear',"
        " 'model', 2, 'closed', 'x', %(o)s, %(o)s, %(o)s, %(o)s, %(c)s, %(c)s FROM devices WHERE id = %(d)s",
        {"o": to_datetime(now - 6 * 3600), "c": to_datetime(now - 5 * 3600), "d": pump})
    site.conn.commit()
    loop = make_loop(site)
    site.run(loop, 600)  # before training: no model, drift detectors off
    assert loop._models == {}
    assert not any(sc.get("drift") for sc in loop._fleet.block(pump).cfg["signals"].values())

    job = TrainingJob(lambda: site.loop_conn, FAST, site.clock)
    done = job.tick(site.loop_conn)
    types = {e.equipment_type for e in site.equipment.values()}
    assert {d["equipment_type"] for d in done if d["model"] == "normal"} == types and job.rul_trained == 0
    versions = {v["equipment_type"]: v for v in lrepo.normal_model_versions(site.conn)}
    site.conn.commit()
    other = next(t for t in types if t != "pump")
    # 24 h seeded at 2 min (720) + 10 live minutes at 1 min (10) per device; the pump loses the 299 samples
    # strictly inside (opened - 8 h, closed + 1 h), a 10-hour stretch
    assert versions[other]["samples"] == 730 * versions[other]["devices"]
    assert versions["pump"]["samples"] == 730 * versions["pump"]["devices"] - 299
    assert versions["pump"]["window_end"] - versions["pump"]["window_start"] >= timedelta(hours=23)
    assert 0 <= versions["pump"]["metrics"]["holdout_false_alarm_rate"] < 0.1
    assert job.tick(site.loop_conn) == []  # nothing due until the model ages

    site.run(loop, 600)  # the loop's next refresh: the model is in use, drift detectors on
    assert loop._models["pump"].version == "pump-v1"
    assert all(sc.get("drift") for sc in loop._fleet.block(pump).cfg["signals"].values())

    with _client(settings, site) as client:
        body = client.get("/api/models", headers=_login(client, "dispatcher")).json()
        assert [(v["equipment_type"], v["version"], v["current"]) for v in body["normal"]
                if v["equipment_type"] == "pump"] == [("pump", 1, True)]
        assert {e["equipment_type"]: (e["drift_detectors"], e["rul_method"]) for e in body["equipment_types"]}[
            "pump"] == (True, "trend")
        customer = q(site.conn, "SELECT username FROM users WHERE role = 'customer' LIMIT 1")[0][0]
        assert client.get("/api/models", headers=_login(client, customer)).status_code == 403

    aged = TrainingJob(lambda: site.loop_conn, FAST.model_copy(update={"retrain_after_s": 0.0}), site.clock)
    assert {d["version"] for d in aged.tick(site.loop_conn)} == {2}
    site.run(loop, 600)  # picked up without a restart
    assert loop._models["pump"].version == "pump-v2"


def test_live_rul_is_learned_from_repaired_failures_and_falls_back_to_the_trend(fleet_site: Site, settings) -> None:
    site = fleet_site
    pumps = [d for d, e in site.equipment.items() if e.equipment_type == "pump"]
    _seed(site, only="pump", failures_per_type=len(pumps), modes=("bearing_wear",))  # every pump failed once
    for other in ("chiller", "compressor"):
        _seed(site, only=other, failures_per_type=0)
    loop = make_loop(site)
    site.run(loop, 1200)
    methods = q(site.conn, "SELECT DISTINCT method FROM rul_estimates")
    assert methods == [("trend",)]  # no learned model yet: every estimate is the trend's, and says so

    job = TrainingJob(lambda: site.loop_conn, FAST, site.clock)
    job.tick(site.loop_conn)
    rul = {v["equipment_type"]: v for v in lrepo.rul_model_versions(site.conn)}
    site.conn.commit()
    # Only pumps had repaired failures (4 >= rul_min_failures): the others stay on the trend.
    assert set(rul) == {"pump"} and rul["pump"]["failures"] == len(pumps)
    assert rul["pump"]["metrics"]["holdout_rmse_h"] > 0
    assert job.tick(site.loop_conn) == []  # no new failure labelled, not aged: no new version
    aged = TrainingJob(lambda: site.loop_conn, FAST.model_copy(update={"retrain_after_s": 0.0}), site.clock)
    assert {(d["model"], d["equipment_type"], d["version"]) for d in aged.tick(site.loop_conn)
            if d["model"] == "rul"} == {("rul", "pump", 2)}

    target = pumps[0]
    site.equipment[target].inject("bearing_wear", site.clock.now(), develop_s=4 * 3600)
    site.run(loop, 3.5 * 3600)
    latest = {r[0]: r[1:] for r in q(site.conn, "SELECT DISTINCT ON (device_id) device_id, method, status, rul_s, "
                                                "rul_low_s FROM rul_estimates ORDER BY device_id, estimated_at DESC, "
                                                "id DESC")}
    for device_id, e in site.equipment.items():
        assert latest[device_id][0] == ("learned" if e.equipment_type == "pump" else "trend"), device_id
    _, status, rul_s, low = latest[target]
    assert status == "degrading" and rul_s < 4 * 3600 and low <= rul_s
    # The loop keeps only the spans the features read (life's head, last window): same estimate as the full
    # history read back from the database.
    model = LearnedRulModel.from_doc(lrepo.latest_rul_models(site.conn)["pump"][1])
    at = q(site.conn, "SELECT extract(epoch FROM max(estimated_at))::float8 FROM rul_estimates")[0][0]
    start = lrepo.last_repairs(site.conn, [target])[target].timestamp()  # every pump was repaired once
    until = at - at % CYCLE_S
    full = bucket_history(lrepo.cycle_means(site.conn, target, model.signals, to_datetime(start),
                                            to_datetime(until), CYCLE_S), model.signals, start, until)
    site.conn.commit()
    assert model.predict_last(full) * CYCLE_S == pytest.approx(rul_s)
    healthy = [latest[p][1] for p in pumps[1:]]
    assert healthy.count("healthy") >= len(healthy) - 1  # the unworn pumps: no failure in sight

    with _client(settings, site) as client:
        h = _login(client, "dispatcher")
        asset = client.get(f"/api/assets/{target}", headers=h).json()
        assert asset["rul"]["method"] == "learned" and asset["rul"]["status"] == "degrading"
        owner = q(site.conn, "SELECT u.username FROM users u JOIN devices d ON d.customer_id = u.customer_id "
                             "WHERE d.id = %s AND u.role = 'customer'", target)[0][0]
        cards = client.get("/api/portal/assets", headers=_login(client, owner)).json()
        mine = next(c for c in cards if c["id"] == target)
        assert mine["rul"]["method"] == "learned" and mine["rul"]["rul_s"] == pytest.approx(rul_s)
