"""A whole gateway from its TOML file: a real Modbus server, a private Mosquitto with the project's ACL, the
command channel. Readings arrive with device timestamps, a failing source is a health event while the other keeps
publishing, and a pushed mapping is validated, tried, and rejected (old mapping kept) or applied."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.settings import load_settings
from edge_agent.config import load
from edge_agent.gateway import MAPPING_FILE, Gateway
from tests.edge_agent.servers import BlackHole, ModbusServer
from tests.edge_agent.test_sources_integration import edge_port
from tests.helpers import wait_for
from tests.services import PrivateBroker

pytestmark = pytest.mark.integration
DEVICE = "pump-gw01"


class Service:
    """The server side of the broker: sees the device's topics and sends it commands."""

    def __init__(self, port: int) -> None:
        base = load_settings()
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"svc-{uuid.uuid4().hex[:6]}",
                             protocol=mqtt.MQTTv5)
        self.c.username_pw_set(base.mqtt_username, base.mqtt_password)
        self.c.on_message = lambda _c, _u, m: self._got(m.topic, m.payload)
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(f"qf/v1/{DEVICE}/#", qos=1)
        self.c.loop_start()

    def _got(self, topic: str, payload: bytes) -> None:
        with self.lock:
            self.got.append((topic.rsplit(f"{DEVICE}/", 1)[1], json.loads(payload)))

    def of(self, leaf: str) -> list[dict[str, Any]]:
        with self.lock:
            return [p for t, p in self.got if t == leaf]

    def signals(self) -> dict[str, list[tuple[int, float]]]:
        out: dict[str, list[tuple[int, float]]] = {}
        for batch in self.of("telemetry"):
            for s in batch["samples"]:
                for name, v in s["m"].items():
                    out.setdefault(name, []).append((s["t"], v))
        return out

    def command(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        cid = uuid.uuid4().hex
        self.c.publish(f"qf/v1/{DEVICE}/cmd", json.dumps({"v": 1, "id": cid, "cmd": cmd, "args": args,
                                                          "issued_at": int(time.time() * 1000)}), qos=1)
        return wait_for(lambda: next((r for r in self.of("cmd/result") if r["id"] == cid), None), 30)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture()
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    base = load_settings()
    b = PrivateBroker(tmp_path / "broker", base.mqtt_username, base.mqtt_password)
    b.add_device(DEVICE, "gw-secret")
    b.start()
    yield b
    b.stop(kill=True)


def write_config(tmp_path: Path, broker_port: int, modbus_port: int, dead_port: int) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(f"""
device_id = "{DEVICE}"
equipment_type = "pump"
sample_interval_s = 0.2
batch_interval_s = 0.5
state_dir = "state"

[broker]
url = "mqtt://127.0.0.1:{broker_port}"
password_env = "QF_TEST_GW_PASSWORD"

[[sources]]
name = "plc"
type = "modbus_tcp"
host = "127.0.0.1"
port = {modbus_port}
timeout_s = 0.5
  [[sources.signals]]
  name = "pressure_bar"
  register = 0
  scale = 0.01

[[sources]]
name = "dead"
type = "modbus_tcp"
host = "127.0.0.1"
port = {dead_port}
timeout_s = 0.3
  [[sources.signals]]
  name = "flow_lpm"
  register = 0
""")
    return path


def test_gateway_publishes_reports_health_and_rolls_back_a_bad_mapping(
        tmp_path: Path, broker: PrivateBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QF_TEST_GW_PASSWORD", "gw-secret")
    modbus = ModbusServer(edge_port()).start()
    hole = BlackHole(edge_port())
    modbus.set("holding", 0, [412])
    modbus.set("holding", 1, [7])
    service = Service(broker.port)
    cfg = load(write_config(tmp_path, broker.port, modbus.port, hole.sock.getsockname()[1]))
    gw = Gateway(cfg, server_ack=False)
    gw.start()
    try:
        wait_for(lambda: len(service.signals().get("pressure_bar", [])) >= 3, 20)
        health = wait_for(lambda: [e for e in service.of("event") if e["kind"] == "sensor_health"], 20)
        assert health[0]["data"]["source"] == "dead" and health[0]["data"]["state"] == "failed"
        assert "no answer" in health[0]["data"]["error"]
        t_first, v_first = service.signals()["pressure_bar"][0]
        assert v_first == 4.12 and abs(t_first / 1000 - time.time()) < 30

        # invalid mapping: rejected at validation, the key path named
        bad = service.command("set_mapping", {"sources": [{"type": "modbus_tcp", "name": "plc", "host": "127.0.0.1",
                                                           "signals": [{"name": "pressure_bar", "register": -1}]}]})
        assert not bad["ok"] and "sources[0].signals[0].register: must be within" in bad["result"]["reason"]

        # valid but unreachable mapping: tried, rejected, the old mapping keeps publishing
        unreachable = {"type": "modbus_tcp", "name": "plc", "host": "127.0.0.1", "port": edge_port(),
                       "timeout_s": 0.3, "signals": [{"name": "pressure_bar", "register": 1}]}
        rejected = service.command("set_mapping", {"sources": [unreachable]})
        assert not rejected["ok"] and "old mapping kept" in rejected["result"]["reason"]
        seen = len(service.signals()["pressure_bar"])
        wait_for(lambda: len(service.signals()["pressure_bar"]) > seen + 2, 20)
        assert {v for _, v in service.signals()["pressure_bar"]} == {4.12}  # still register 0, scale 0.01
        assert not (tmp_path / "state" / MAPPING_FILE).exists()

        # a good mapping: applied, the new signal flows, the failing source is gone, kept for restarts
        good = {"type": "modbus_tcp", "name": "plc", "host": "127.0.0.1", "port": modbus.port,
                "signals": [{"name": "flow_lpm", "register": 1, "scale": 10}]}
        applied = service.command("set_mapping", {"sources": [good]})
        assert applied["ok"] and applied["result"]["signals"] == ["flow_lpm"]
        wait_for(lambda: (70.0 in [v for _, v in service.signals().get("flow_lpm", [])]), 20)
        assert (tmp_path / "state" / MAPPING_FILE).exists()
        snap = service.command("snapshot", {})
        assert snap["result"]["mapping_version"] == 1 and snap["result"]["failing"] == []
        # every (signal, device time) went out once
        for name, pts in service.signals().items():
            assert len(pts) == len(set(pts)), name
    finally:
        gw.stop()
        service.close()
        modbus.stop()
        hole.close()
    assert not gw.errors


def test_check_and_run_from_the_command_line(tmp_path: Path, broker: PrivateBroker,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    import os
    import subprocess
    import sys

    from edge_agent.gateway_cli import main

    modbus = ModbusServer(edge_port()).start()
    hole = BlackHole(edge_port())
    try:
        modbus.set("holding", 0, [250])
        path = write_config(tmp_path, broker.port, modbus.port, hole.sock.getsockname()[1])
        assert main(["check", "--config", str(path), "--timeout", "2"]) == 1  # the dead source fails the check
        out = capsys.readouterr().out.splitlines()
        assert "plc (modbus_tcp): ok" in out and "dead (modbus_tcp): FAILED" in out
        result = json.loads(out[-1])
        assert result["plc"]["readings"]["pressure_bar"]["value"] == 2.5 and not result["dead"]["ok"]

        service = Service(broker.port)
        env = {**os.environ, "QF_TEST_GW_PASSWORD": "gw-secret"}  # no ingest here: PUBACK deletes batches
        proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(path), "--seconds", "3",
                               "--no-server-ack"],
                              env=env, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
                              check=False)
        service.close()
        assert proc.returncode == 0, proc.stderr
        stats = json.loads(proc.stdout.splitlines()[-1])
        assert stats["readings"] > 0 and stats["connected"] is False and stats["buffered"] == 0
        assert any(v == 2.5 for _, v in service.signals()["pressure_bar"])
    finally:
        modbus.stop()
        hole.close()
