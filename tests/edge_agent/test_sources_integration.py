"""Each source against its real protocol server, in-process: values and scaling, device timestamps, a timeout
followed by recovery, a malformed value or frame (a health report, no crash, the other sources unaffected)."""

from __future__ import annotations

import json
import math
import struct
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import can
import cantools
import pytest

from edge_agent.config import SourceConfig, parse_sources
from edge_agent.sources import Health, Reading, Sink, build_source
from tests.edge_agent.servers import (
    J1939_DBC,
    BlackHole,
    ModbusServer,
    OpcUaServer,
    float32_registers,
    int32_registers,
    j1939_frame,
)
from tests.helpers import wait_for
from tests.services import bindable, free_port

pytestmark = pytest.mark.integration


def edge_port() -> int:
    """A free port in 15020–15039 (this project's range for protocol test servers), else any free port."""
    return next((port for port in range(15020, 15040) if bindable(port)), None) or free_port()


class Collector:
    """Everything the sources delivered so far (the agent would drain the sink instead)."""

    def __init__(self) -> None:
        self.sink = Sink()
        self.readings: list[Reading] = []
        self.health: list[Health] = []

    def pull(self) -> Collector:
        r, h = self.sink.drain()
        self.readings += r
        self.health += h
        return self

    def values(self, signal: str) -> list[float]:
        return [r.value for r in self.pull().readings if r.signal == signal]

    def failed(self, contains: str, signal: str = "") -> list[Health]:
        return [h for h in self.pull().health if not h.ok and contains in h.error and h.signal == signal]

    def recovered(self, signal: str = "") -> list[Health]:
        return [h for h in self.pull().health if h.ok and h.signal == signal]


def sources(raw: list[dict[str, Any]]) -> tuple[SourceConfig, ...]:
    return parse_sources(raw, default_interval_s=0.1, base_dir=Path.cwd())


@pytest.fixture()
def modbus() -> Iterator[ModbusServer]:
    server = ModbusServer(edge_port()).start()
    yield server
    server.stop()


def modbus_source(port: int, signals: list[dict[str, Any]], name: str = "plc", **extra: Any) -> dict[str, Any]:
    return {"type": "modbus_tcp", "name": name, "host": "127.0.0.1", "port": port, "timeout_s": 0.3,
            "interval_s": 0.1, "signals": signals, **extra}


def test_modbus_types_word_order_scale_offset_and_unit_ids(modbus: ModbusServer) -> None:
    modbus.set("holding", 0, [struct.unpack(">H", struct.pack(">h", -1234))[0]])
    modbus.set("holding", 1, [60000])
    modbus.set("holding", 2, int32_registers(-70000, "little"))
    modbus.set("input", 10, float32_registers(12.25, "big"))
    modbus.set("coil", 3, [1])
    cfg = sources([modbus_source(modbus.port, [
        {"name": "a", "register": 0, "type": "int16", "scale": 0.1, "offset": 100},
        {"name": "b", "register": 1, "type": "uint16"},
        {"name": "c", "register": 2, "type": "int32", "word_order": "little", "scale": 0.001},
        {"name": "d", "table": "input", "register": 10, "type": "float32", "unit_id": 1},
        {"name": "e", "table": "coil", "register": 3},
    ])])
    col = Collector()
    build_source(cfg[0]).read_once(col.sink, 2.0)
    got = {r.signal: r.value for r in col.pull().readings}
    assert got == {"a": pytest.approx(-23.4), "b": 60000.0, "c": pytest.approx(-70.0), "d": 12.25, "e": 1.0}
    assert not col.health  # healthy from the start: no event
    assert len({r.t_ms for r in col.readings}) == 1  # one poll = one device time = one sample


def test_modbus_timeout_then_recovery() -> None:
    port = edge_port()
    hole = BlackHole(port)  # accepts, never answers: every request times out
    cfg = sources([modbus_source(port, [{"name": "p", "register": 0}])])
    src = build_source(cfg[0])
    col = Collector()
    src.start(col.sink)
    try:
        wait_for(lambda: col.failed("no answer"), 10)
        hole.close()
        server = ModbusServer(port).start()
        try:
            server.set("holding", 0, [77])
            wait_for(lambda: col.recovered(), 20)  # reconnect back-off starts at 1 s
            wait_for(lambda: 77.0 in col.values("p"), 10)
        finally:
            src.stop()
            server.stop()
    finally:
        hole.close()
    assert len(col.failed("no answer")) == 1  # one event per outage, not one per poll


def test_modbus_bad_values_report_health_and_others_keep_running(modbus: ModbusServer) -> None:
    modbus.set("holding", 0, float32_registers(float("nan")))
    modbus.set("holding", 2, [500])  # 50.0 after scaling, above max 40
    modbus.set("holding", 3, [21])
    cfg = sources([
        modbus_source(modbus.port, [{"name": "nan_sensor", "register": 0, "type": "float32"},
                                    {"name": "ranged", "register": 2, "scale": 0.1, "min": 0, "max": 40},
                                    {"name": "good", "register": 3},
                                    {"name": "missing", "register": 150, "unit_id": 1, "table": "input"}]),
        modbus_source(modbus.port, [{"name": "other", "register": 3}], name="plc2"),
    ])
    col = Collector()
    started = [build_source(c) for c in cfg]
    for s in started:
        s.start(col.sink)
    try:
        wait_for(lambda: len(col.values("good")) >= 3 and len(col.values("other")) >= 3, 10)
        assert col.failed("not a finite number", "nan_sensor")
        assert col.failed("out of range", "ranged")
        modbus.set("holding", 2, [300])  # back in range: recovers, value delivered
        wait_for(lambda: 30.0 in col.values("ranged"), 10)
        assert col.recovered("ranged")
        assert not col.values("nan_sensor")
        assert all(h.signal != "" or h.ok for h in col.health)  # the sources themselves never failed
    finally:
        for s in started:
            s.stop()


def test_modbus_rtu_framing_over_a_serial_server_socket() -> None:
    server = ModbusServer(edge_port(), rtu=True, device_ids=(7,)).start()
    try:
        server.set("holding", 4, [1234], device_id=7)
        cfg = sources([{"type": "modbus_rtu", "name": "rs485", "serial_port": f"socket://127.0.0.1:{server.port}",
                        "unit_id": 7, "timeout_s": 0.5, "signals": [{"name": "x", "register": 4, "scale": 0.01}]}])
        col = Collector()
        build_source(cfg[0]).read_once(col.sink, 2.0)
        assert [r.value for r in col.pull().readings] == [pytest.approx(12.34)]
    finally:
        server.stop()


@pytest.fixture()
def opcua() -> Iterator[OpcUaServer]:
    server = OpcUaServer(edge_port(), ["temp", "pressure"]).start()
    yield server
    server.stop()


def ua_source(server: OpcUaServer, mode: str, name: str = "ua") -> dict[str, Any]:
    return {"type": "opcua", "name": name, "endpoint": server.endpoint, "mode": mode, "interval_s": 0.1,
            "timeout_s": 2.0, "signals": [
                {"name": "temp_c", "node_id": server.node_id("temp"), "scale": 0.5, "offset": 1},
                {"name": "pressure_bar", "node_id": server.node_id("pressure"), "max": 100}]}


@pytest.mark.parametrize("mode", ["subscription", "polling"])
def test_opcua_values_keep_source_timestamps(opcua: OpcUaServer, mode: str) -> None:
    t0 = math.floor(time.time()) - 60.0
    opcua.write("temp", 40.0, t=t0)
    opcua.write("pressure", 5.0, t=t0)
    src = build_source(sources([ua_source(opcua, mode)])[0])
    col = Collector()
    src.start(col.sink)
    try:
        wait_for(lambda: col.values("temp_c"), 15)
        opcua.write("temp", 50.0, t=t0 + 1.5)
        wait_for(lambda: 26.0 in col.values("temp_c"), 10)
        opcua.write("pressure", 500.0, t=t0 + 2)  # implausible: a health event, the value dropped
        wait_for(lambda: col.failed("out of range", "pressure_bar"), 10)
        opcua.write("temp", 1.0, t=t0 + 3, status=0x80000000)  # Bad status
        wait_for(lambda: col.failed("status", "temp_c"), 10)
    finally:
        src.stop()
    by_value = {r.value: r.t_ms for r in col.pull().readings if r.signal == "temp_c"}
    assert by_value[21.0] == t0 * 1000 and by_value[26.0] == (t0 + 1.5) * 1000
    assert 500.0 not in col.values("pressure_bar")


def test_opcua_server_gone_then_back() -> None:
    port = edge_port()
    server = OpcUaServer(port, ["temp", "pressure"]).start()
    src = build_source(sources([ua_source(server, "subscription")])[0])
    col = Collector()
    src.start(col.sink)
    try:
        server.write("temp", 10.0)
        wait_for(lambda: 6.0 in col.values("temp_c"), 15)
        server.stop()
        wait_for(lambda: col.failed(""), 20)
        server = OpcUaServer(port, ["temp", "pressure"]).start()
        server.write("temp", 20.0)
        wait_for(lambda: 11.0 in col.values("temp_c"), 30)
        assert col.recovered()
    finally:
        src.stop()
        server.stop()


def test_opcua_timeout_then_recovery() -> None:
    port = edge_port()
    hole = BlackHole(port)  # the endpoint accepts TCP and never answers the OPC UA hello
    cfg = sources([{"type": "opcua", "name": "ua", "endpoint": f"opc.tcp://127.0.0.1:{port}/qf/", "timeout_s": 0.5,
                    "signals": [{"name": "temp_c", "node_id": "ns=2;s=Machine.temp"}]}])
    src = build_source(cfg[0])
    col = Collector()
    src.start(col.sink)
    server = None
    try:
        wait_for(lambda: col.failed("Timeout"), 15)
        hole.close()
        server = OpcUaServer(port, ["temp"]).start()
        assert server.node_id("temp") == "ns=2;s=Machine.temp"
        server.write("temp", 12.5)
        wait_for(lambda: 12.5 in col.values("temp_c"), 30)
        assert col.recovered()
    finally:
        src.stop()
        hole.close()
        if server is not None:
            server.stop()


def test_opcua_basic256sha256_sign_and_encrypt_with_certificates(tmp_path: Path) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from tests.edge_agent.servers import make_certificate

    server = OpcUaServer(edge_port(), ["temp", "pressure"], secure_dir=tmp_path).start()
    try:
        server.write("temp", 30.0)
        # On a loop of its own: in a whole-suite run the browser tests' driver keeps a loop running on this thread.
        with ThreadPoolExecutor(1) as own_loop:
            cert, key = own_loop.submit(asyncio.run, make_certificate(tmp_path, "client", "urn:freeopcua:client",
                                                                      False)).result()
        plain = ua_source(server, "polling")
        secure = {**plain, "name": "ua_secure", "security_policy": "Basic256Sha256",
                  "security_mode": "SignAndEncrypt", "certificate": str(cert), "private_key": str(key)}
        col = Collector()
        for cfg in sources([plain]) + sources([secure]):
            build_source(cfg).read_once(col.sink, 10.0)
        assert [(h.source, h.ok) for h in col.pull().health] == [("ua", False)]  # no security: refused
        assert 16.0 in col.values("temp_c")  # 30 * 0.5 + 1, read over the encrypted channel
    finally:
        server.stop()


@pytest.fixture()
def dbc(tmp_path: Path) -> Path:
    path = tmp_path / "engine.dbc"
    path.write_text(J1939_DBC)
    return path


def can_source(channel: str, dbc: Path, timeout_s: float = 5.0) -> dict[str, Any]:
    return {"type": "can", "name": "j1939", "interface": "virtual", "channel": channel, "dbc": str(dbc),
            "timeout_s": timeout_s, "signals": [
                {"name": "engine_rpm", "dbc_signal": "EngineSpeed"},
                {"name": "coolant_temp_c", "dbc_signal": "EngineCoolantTemperature"},
                {"name": "torque_pct", "pgn": 61444, "start_bit": 16, "length": 8, "offset": -125}]}


def test_can_j1939_decoding_bad_frames_and_silence(dbc: Path) -> None:
    channel = f"qf-test-{uuid.uuid4().hex[:8]}"
    db = cantools.database.load_file(str(dbc))
    src = build_source(sources([can_source(channel, dbc, timeout_s=1.0)])[0])
    col = Collector()
    bus = can.Bus(interface="virtual", channel=channel)
    src.start(col.sink)
    try:
        time.sleep(0.3)  # the source's bus is open before frames are sent (a virtual bus keeps no history)

        def send(message: str, values: dict[str, float]) -> None:
            fid, data = j1939_frame(db, message, values, source_address=0x00)
            bus.send(can.Message(arbitration_id=fid, data=data, is_extended_id=True))

        send("EEC1", {"EngineSpeed": 1500.125, "ActualEnginePercentTorque": 30})
        send("ET1", {"EngineCoolantTemperature": 88})
        wait_for(lambda: col.values("engine_rpm") and col.values("coolant_temp_c"), 5)
        assert col.values("engine_rpm") == [1500.125]
        assert col.values("torque_pct") == [30.0]
        assert col.values("coolant_temp_c") == [88.0]
        fid, _ = j1939_frame(db, "EEC1", {"EngineSpeed": 0, "ActualEnginePercentTorque": 0})
        bus.send(can.Message(arbitration_id=fid, data=bytes([0, 0, 155]), is_extended_id=True))  # too short
        wait_for(lambda: col.failed("bad frame", "engine_rpm"), 5)
        wait_for(lambda: col.values("torque_pct") == [30.0, 30.0], 5)  # what the frame does hold still counts
        send("EEC1", {"EngineSpeed": 1000, "ActualEnginePercentTorque": 30})
        wait_for(lambda: col.recovered("engine_rpm"), 5)
        bus.send(can.Message(arbitration_id=fid, data=bytes([0, 0, 155, 0xFF, 0xFF, 0, 0, 0]), is_extended_id=True))
        wait_for(lambda: col.failed("not available", "engine_rpm"), 5)
        wait_for(lambda: col.failed("timeout"), 5)  # nothing sent for > 1 s
        send("EEC1", {"EngineSpeed": 800, "ActualEnginePercentTorque": 10})
        send("ET1", {"EngineCoolantTemperature": 90})
        wait_for(lambda: 800.0 in col.values("engine_rpm"), 5)
        wait_for(lambda: col.recovered(), 5)
        wait_for(lambda: len(col.recovered("engine_rpm")) == 2, 5)
    finally:
        src.stop()
        bus.shutdown()
    assert 1000.0 in col.values("engine_rpm") and len(col.failed("timeout")) == 1


def test_http_push_accepts_json_and_reports_bad_bodies() -> None:
    port = edge_port()
    src = build_source(sources([{"type": "http_push", "name": "ctrl", "listen": f"127.0.0.1:{port}",
                                 "timeout_s": 1.0, "signals": [{"name": "level_m", "key": "lvl", "scale": 0.01}]}])[0])
    col = Collector()
    src.start(col.sink)

    def post(body: bytes) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/readings", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    try:
        t = 1_790_000_000_000
        assert post(json.dumps({"samples": [{"t": t, "m": {"lvl": 250, "x": 1}}]}).encode()) == (
            200, {"accepted": 1, "unknown_keys": 1})
        assert col.pull().readings == [Reading("level_m", t, 2.5)]
        status, answer = post(b"{not json")
        assert status == 400 and "not JSON" in answer["error"]
        assert col.failed("bad payload")
        assert post(json.dumps({"t": t + 1000, "m": {"lvl": 300}}).encode())[0] == 200
        assert len(col.recovered()) == 1
        wait_for(lambda: col.failed("timeout"), 5)  # the controller stopped pushing
        assert post(json.dumps({"t": t + 9000, "m": {"lvl": 310}}).encode())[0] == 200
        assert len(col.recovered()) == 2
        assert col.values("level_m") == [2.5, 3.0, 3.1]
    finally:
        src.stop()
