"""The edge gateway against real protocol servers, end to end into the database.

    python -m bench.edge_real --seconds 30 [--db-name qf_edge]

In-process servers whose values change on a known schedule: pymodbus' TCP server (an int16 and a little-endian
float32 register), asyncua's server (two variables, each value written with its SourceTimestamp), and a
python-can virtual bus carrying J1939 frames encoded from a DBC (one signal decoded by the DBC, one by its SPN
position). One gateway runs from a TOML file against a private Mosquitto (the project's configuration), ingest
runs in-process on a scratch database, dropped at the end.

``max_abs_error`` compares every stored value with what the server served for that reading, after the mapping's
scaling: Modbus by the server's own log of each answer (the first answer after the poll's timestamp), OPC UA by
the SourceTimestamp written, CAN by the frame's timestamp. ``lost`` = readings the gateway batched but the
database lacks; ``duplicated`` = stored rows beyond one per (device, signal, time); per pushed source,
``served_not_stored`` = values the server sent between the first and the last stored reading that are not stored. Progress on stderr; the last
stdout line is JSON.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import shutil
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import can
import cantools
import psycopg

from core.broker import upsert_credentials
from core.clock import SystemClock
from core.db import drop_database, ensure_database
from core.migrate import migrate
from core.settings import load_settings
from edge_agent.config import load
from edge_agent.gateway import Gateway
from ingest import start_ingest
from quietfix.seed import seed
from tests.edge_agent.servers import J1939_DBC, ModbusServer, OpcUaServer, float32_registers, j1939_frame
from tests.services import free_port

STEP_S = {"modbus_tcp": 0.7, "opcua": 0.3, "can_j1939": 0.2}  # how often each server's values change
DRAIN_TIMEOUT_S = 60.0
PW = "edge-real-pw"  # the device's broker password, handed over in an environment variable as on a gateway


def port_in_range(taken: set[int]) -> int:
    """15020–15039 first (this bench's reserved range on a shared machine), else any free port."""
    import socket

    for port in range(15020, 15040):
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    return free_port()


class Schedules:
    """The servers' values over time, and what each served (the ground truth for max_abs_error)."""

    def __init__(self, modbus: ModbusServer, opcua: OpcUaServer, bus: Any, db: Any) -> None:
        self.modbus, self.opcua, self.bus, self.db = modbus, opcua, bus, db
        self.opcua_served: dict[str, dict[int, float]] = {"temp": {}, "vib": {}}
        self.can_served: dict[str, dict[int, float]] = {"rpm": {}, "coolant_raw": {}}
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._modbus, self._opcua, self._can)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self.threads:
            t.join(5)

    def _every(self, step: float, fn: Any) -> None:
        k = 0
        next_t = time.monotonic()
        while not self._stop.is_set():
            fn(k)
            k += 1
            next_t += step
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def _modbus(self) -> None:
        def update(k: int) -> None:
            raw = (k * 37) % 900 - 300  # int16, negative too
            self.modbus.set("holding", 0, [struct.unpack(">H", struct.pack(">h", raw))[0]])
            self.modbus.set("holding", 10, float32_registers(100.0 + k * 0.25, "little"))
        self._every(STEP_S["modbus_tcp"], update)

    def _opcua(self) -> None:
        def update(k: int) -> None:
            t_ms = int(time.time() * 1000)
            temp, vib = 50.0 + (k % 40) * 0.5, 2.0 + k * 0.01
            self.opcua.write("temp", temp, t=t_ms / 1000)
            self.opcua.write("vib", vib, t=t_ms / 1000)
            self.opcua_served["temp"][t_ms] = temp
            self.opcua_served["vib"][t_ms] = vib
        self._every(STEP_S["opcua"], update)

    def _can(self) -> None:
        def update(k: int) -> None:
            t_ms = int(time.time() * 1000)
            rpm = 800 + ((k * 13) % 1000) * 0.125
            coolant_raw = 100 + k % 50
            frames: list[tuple[str, dict[str, float]]] = [
                ("EEC1", {"EngineSpeed": rpm, "ActualEnginePercentTorque": 10.0}),
                ("ET1", {"EngineCoolantTemperature": coolant_raw - 40.0})]
            for message, values in frames:
                fid, data = j1939_frame(self.db, message, values)
                self.bus.send(can.Message(arbitration_id=fid, data=data, is_extended_id=True, timestamp=t_ms / 1000))
            self.can_served["rpm"][t_ms] = rpm
            self.can_served["coolant_raw"][t_ms] = coolant_raw
        self._every(STEP_S["can_j1939"], update)

    def modbus_served(self, address: int, t_ms: int) -> list[int] | None:
        """The registers of the first answer for ``address`` sent at or after the poll's time."""
        log = [(t, regs) for t, fc, a, regs in self.modbus.served if fc == 3 and a == address]
        i = bisect.bisect_left([t for t, _ in log], t_ms / 1000 - 0.0005)
        return log[i][1] if i < len(log) else None


def config_text(device_id: str, broker_port: int, modbus: ModbusServer, opcua: OpcUaServer, channel: str,
                state: Path) -> str:
    return f"""
device_id = "{device_id}"
equipment_type = "pump"
sample_interval_s = 0.25
batch_interval_s = 1.0
state_dir = "{state}"

[broker]
url = "mqtt://127.0.0.1:{broker_port}"
password_env = "QF_EDGE_REAL_PASSWORD"

[[sources]]
name = "modbus_tcp"
type = "modbus_tcp"
host = "127.0.0.1"
port = {modbus.port}
  [[sources.signals]]
  name = "pressure_bar"
  register = 0
  type = "int16"
  scale = 0.01
  offset = 4.0
  [[sources.signals]]
  name = "flow_lpm"
  register = 10
  type = "float32"
  word_order = "little"

[[sources]]
name = "opcua"
type = "opcua"
endpoint = "{opcua.endpoint}"
mode = "subscription"
interval_s = 0.1
timeout_s = 3.0
  [[sources.signals]]
  name = "motor_temp_c"
  node_id = "{opcua.node_id('temp')}"
  [[sources.signals]]
  name = "vibration_mm_s"
  node_id = "{opcua.node_id('vib')}"
  scale = 0.5

[[sources]]
name = "can_j1939"
type = "can"
interface = "virtual"
channel = "{channel}"
dbc = "engine.dbc"
  [[sources.signals]]
  name = "engine_rpm"
  dbc_signal = "EngineSpeed"
  [[sources.signals]]
  name = "coolant_temp_c"
  pgn = 65262
  start_bit = 0
  length = 8
  offset = -40
"""


SOURCE_OF = {"pressure_bar": "modbus_tcp", "flow_lpm": "modbus_tcp", "motor_temp_c": "opcua",
             "vibration_mm_s": "opcua", "engine_rpm": "can_j1939", "coolant_temp_c": "can_j1939"}


def expected(sched: Schedules, signal: str, t_ms: int) -> float | None:
    """What the server served for this reading, after the gateway's mapping."""
    if signal == "pressure_bar":
        regs = sched.modbus_served(0, t_ms)
        return None if regs is None else struct.unpack(">h", struct.pack(">H", regs[0]))[0] * 0.01 + 4.0
    if signal == "flow_lpm":
        regs = sched.modbus_served(10, t_ms)
        return None if regs is None else struct.unpack(">f", struct.pack(">HH", regs[1], regs[0]))[0]
    if signal == "motor_temp_c":
        v = sched.opcua_served["temp"].get(t_ms)
        return None if v is None else v * 1.0 + 0.0
    if signal == "vibration_mm_s":
        v = sched.opcua_served["vib"].get(t_ms)
        return None if v is None else v * 0.5 + 0.0
    if signal == "engine_rpm":
        v = sched.can_served["rpm"].get(t_ms)
        return None if v is None else round(v / 0.125) * 0.125 + 0.0
    if signal == "coolant_temp_c":
        v = sched.can_served["coolant_raw"].get(t_ms)
        return None if v is None else v * 1.0 - 40.0
    return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    base = load_settings()
    tmp = Path(tempfile.mkdtemp(prefix="qf-bench-edge-real-"))
    db_url = psycopg.conninfo.make_conninfo(base.database_url, dbname=args.db_name)
    from tests.services import PrivateBroker

    broker = PrivateBroker(tmp / "broker", base.mqtt_username, base.mqtt_password)
    drop_database(db_url)
    ensure_database(db_url)
    migrate(db_url)
    with psycopg.connect(db_url) as conn:
        device = seed(conn, devices=1, technicians=1, users=False)[0]
        conn.commit()
    upsert_credentials(broker.dir / "passwd", [(device.device_id, PW)])
    broker.start()
    settings = load_settings(database_url=db_url, mqtt_url=broker.url)
    settings.ingest.worker_id = f"bench-edge-real-{os.getpid()}"
    settings.ingest.metrics_port = args.metrics_port
    ingest = start_ingest(settings, SystemClock())
    taken: set[int] = set()
    modbus = ModbusServer(port_in_range(taken)).start()
    opcua = OpcUaServer(port_in_range(taken), ["temp", "vib"]).start()
    channel = f"qf-edge-real-{os.getpid()}"
    bus = can.Bus(interface="virtual", channel=channel, preserve_timestamps=True)
    (tmp / "engine.dbc").write_text(J1939_DBC)
    sched = Schedules(modbus, opcua, bus, cantools.database.load_file(str(tmp / "engine.dbc")))
    cfg_path = tmp / "gateway.toml"
    cfg_path.write_text(config_text(device.device_id, broker.port, modbus, opcua, channel, tmp / "state"))
    os.environ["QF_EDGE_REAL_PASSWORD"] = PW
    gw: Gateway | None = None
    try:
        if not ingest.mqtt.connected.wait(10):
            raise RuntimeError("ingest did not connect")
        sched.start()
        gw = Gateway(load(cfg_path))
        gw.start()
        start = time.monotonic()
        while (left := args.seconds - (time.monotonic() - start)) > 0:
            time.sleep(min(5.0, left))
            print(f"bench.edge_real: {json.dumps(gw.stats())}", file=sys.stderr)
        gw.stop(timeout_s=DRAIN_TIMEOUT_S)
        sched.stop()
        stats = gw.stats()
        with psycopg.connect(db_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT signal, (extract(epoch FROM ts) * 1000)::bigint, value FROM telemetry WHERE device_id = %s",
                (device.device_id,)).fetchall()
            events = conn.execute("SELECT kind, data FROM device_events WHERE device_id = %s",
                                  (device.device_id,)).fetchall()
    finally:
        if gw is not None:
            gw.stop(timeout_s=5)
        sched.stop()
        ingest.stop()
        broker.stop(kill=True)
        modbus.stop()
        opcua.stop()
        bus.shutdown()
        drop_database(db_url)
        shutil.rmtree(tmp, ignore_errors=True)
    per: dict[str, dict[str, Any]] = {s: {"readings_stored": 0, "max_abs_error": 0.0, "unmatched": 0}
                                      for s in ("modbus_tcp", "opcua", "can_j1939")}
    for signal, t_ms, value in rows:
        src = per[SOURCE_OF[signal]]
        src["readings_stored"] += 1
        want = expected(sched, signal, int(t_ms))
        if want is None:
            src["unmatched"] += 1
            src["max_abs_error"] = float("inf")
            continue
        src["max_abs_error"] = max(src["max_abs_error"], abs(float(value) - want))
    # pushed sources: every value served between the first and last stored reading must be stored
    stored_at: dict[str, set[int]] = {}
    for signal, t_ms, _ in rows:
        stored_at.setdefault(signal, set()).add(int(t_ms))
    for src, signal, served in (("opcua", "motor_temp_c", sched.opcua_served["temp"]),
                                ("opcua", "vibration_mm_s", sched.opcua_served["vib"]),
                                ("can_j1939", "engine_rpm", sched.can_served["rpm"]),
                                ("can_j1939", "coolant_temp_c", sched.can_served["coolant_raw"])):
        got = stored_at.get(signal, set())
        window = [t for t in served if got and min(got) <= t <= max(got)]
        per[src]["served_not_stored"] = per[src].get("served_not_stored", 0) + len(set(window) - got)
    distinct = len({(s, t) for s, t, _ in rows})
    health = [d for k, d in events if k == "sensor_health"]
    return {"sources": per, "lost": stats["readings"] - distinct, "duplicated": len(rows) - distinct,
            "batched_readings": stats["readings"], "stale_dropped": stats["stale"], "health_events": len(health),
            "buffered_at_end": stats["buffered"], "sink_overflowed": stats["overflowed"], "seconds": args.seconds,
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.edge_real", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--db-name", default="qf_edge", help="scratch database, created and dropped")
    ap.add_argument("--metrics-port", type=int, default=9171, help="ingest's Prometheus port")
    args = ap.parse_args(argv)
    print(f"bench.edge_real: {' '.join(sys.argv[1:]) or '(defaults)'}; load {os.getloadavg()[0]:.2f}",
          file=sys.stderr)
    result = run(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
