"""Operations clauses: /readyz refuses when the broker or the database is down, and every process (ingest,
diagnose, dispatch as real `quietfix` processes; the API at /metrics) exposes its Prometheus metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import PROJECT_ROOT, Settings
from tests.services import free_port

pytestmark = pytest.mark.integration

# What the issue asks each process to report (docs/operations.md, "Health and metrics").
PROCESS_METRICS = {
    "ingest": ["quietfix_ingest_messages_total", "quietfix_ingest_readings_total", "quietfix_ingest_lag_seconds",
               "quietfix_ingest_backlog_messages", "quietfix_dead_letters_total"],
    "diagnose": ["quietfix_detection_decision_latency_seconds"],
    "dispatch": ["quietfix_plan_age_seconds", "quietfix_sla_at_risk_work_orders"],
}


def test_readyz_is_200_only_with_database_and_broker(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json()["database"] is True and r.json()["broker"] is True

    broker_down = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{free_port()}"})
    with TestClient(create_app(broker_down)) as client:
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["broker"] is False and r.json()["database"] is True
        assert client.get("/healthz").status_code == 200  # liveness does not depend on the broker

    with TestClient(create_app(settings)) as client:
        client.app.state.pool.close()  # the database goes away under a running API
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["database"] is False and r.json()["status"] == "not ready"
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["database"] is False


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


@pytest.fixture()
def processes(settings: Settings, tmp_path: Path) -> Iterator[dict[str, int]]:
    ports = {name: free_port() for name in PROCESS_METRICS}
    env = {**os.environ, "QUIETFIX_DATABASE_URL": settings.database_url, "QUIETFIX_MQTT_URL": settings.mqtt_url,
           "QUIETFIX_LOG_LEVEL": "WARNING", "QUIETFIX_INGEST__METRICS_PORT": str(ports["ingest"]),
           "QUIETFIX_DIAGNOSTICS__METRICS_PORT": str(ports["diagnose"]),
           "QUIETFIX_DISPATCH__METRICS_PORT": str(ports["dispatch"]),
           "QUIETFIX_INGEST__SHARED_GROUP": f"ops{ports['ingest']}"}  # never takes other checkouts' messages
    procs = []
    try:
        for name in PROCESS_METRICS:
            args = [name, "--worker-id", f"ops-test-{ports[name]}"] if name == "ingest" else [name]
            with open(tmp_path / f"{name}.log", "ab") as out:
                procs.append(subprocess.Popen([sys.executable, "-m", "quietfix.cli", *args], env=env,
                                              cwd=PROJECT_ROOT, stdout=out, stderr=out))
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def test_each_process_serves_its_named_metrics(processes: dict[str, int], settings: Settings,
                                               tmp_path: Path) -> None:
    for name, port in processes.items():
        text = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = _scrape(port)
            if text and all(f"# TYPE {m} " in text for m in PROCESS_METRICS[name]):
                break
            time.sleep(0.2)
        log = (tmp_path / f"{name}.log").read_text(errors="replace")[-3000:]  # why, if it failed
        assert text is not None, f"{name} serves no metrics on {port}; its log ends:\n{log}"
        missing = [m for m in PROCESS_METRICS[name] if f"# TYPE {m} " not in text]
        assert missing == [], (name, missing)
    with TestClient(create_app(settings)) as client:  # the API serves the same registry at /metrics
        exposed = client.get("/metrics").text
    assert all(f"# TYPE {m} " in exposed for names in PROCESS_METRICS.values() for m in names)


def test_a_taken_metrics_port_is_logged_and_the_process_runs_on(caplog: pytest.LogCaptureFixture) -> None:
    """Two ingest workers on one host with the same port: the second warns and carries on (regression: the log
    call itself used a reserved LogRecord key and crashed the worker)."""
    import logging
    import socket

    from core.metrics import serve_process_metrics

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.INFO, logger="core.metrics"):
            assert serve_process_metrics("ingest", port) is False
    assert serve_process_metrics("ingest", None) is False
    warned = [r for r in caplog.records if r.getMessage() == "metrics port unavailable"]
    assert len(warned) == 1 and warned[0].port == port and warned[0].component == "ingest"
