"""A throwaway Mosquitto per test module, on the project's own configuration plus a TLS listener.

The shared broker on 18830 belongs to every checkout on the machine: tests that change credentials, reload or
listen with TLS start their own broker process here instead, rendered from deploy/mosquitto/*.conf.in exactly
as scripts/setup.sh renders it, with a development CA from deploy/tls/make-dev-ca.sh.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core import broker
from core.settings import PROJECT_ROOT, Settings, load_settings
from tests.services import free_port, port_open

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
SERVICE_PASSWORD = "svc-test-password"


@dataclass(frozen=True)
class OwnBroker:
    run_dir: Path
    port: int
    tls_port: int
    ca_file: Path
    service_password: str

    def settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = {"broker_dir": self.run_dir, "mqtt_url": f"mqtt://127.0.0.1:{self.port}",
                                     "mqtt_password": self.service_password}
        return load_settings(**{**values, **overrides})


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    run = tmp_path_factory.mktemp("mosquitto")
    (run / "data").mkdir()
    tls_dir = run / "tls"
    subprocess.run(["bash", str(PROJECT_ROOT / "deploy/tls/make-dev-ca.sh"), str(tls_dir)], check=True,
                   capture_output=True)
    port, tls_port = free_port(), free_port()
    conf = broker.render_config(PROJECT_ROOT / "deploy/mosquitto/quietfix.conf.in", run, port,
                                tls_template=PROJECT_ROOT / "deploy/mosquitto/tls.conf.in", tls_port=tls_port,
                                tls_dir=tls_dir)
    if os.getuid() == 0:
        conf += "\nuser root\n"  # as scripts/setup.sh: otherwise Mosquitto drops to 'mosquitto' and cannot read
    (run / "mosquitto.conf").write_text(conf)
    settings = load_settings(broker_dir=run)
    broker.write_acl(run / "acl", settings.mqtt_username)
    broker.upsert_credentials(run / "passwd", [(settings.mqtt_username, SERVICE_PASSWORD)])
    proc = subprocess.Popen([MOSQUITTO, "-c", str(run / "mosquitto.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not (port_open(port) and port_open(tls_port)):
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (run / "mosquitto.log").read_text() if (run / "mosquitto.log").exists() else ""
                pytest.fail(f"own mosquitto did not start: {log[-2000:]}")
            time.sleep(0.05)
        if not (run / "mosquitto.pid").exists():
            (run / "mosquitto.pid").write_text(str(proc.pid))
        yield OwnBroker(run, port, tls_port, tls_dir / "ca.crt", SERVICE_PASSWORD)
    finally:
        proc.terminate()
        proc.wait(10)
