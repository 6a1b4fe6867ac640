"""Real protocol servers, in-process, for the gateway's integration tests and ``bench.edge_real``.

- ``ModbusServer``: pymodbus' own TCP server (or RTU framing over TCP, which pyserial's ``socket://`` reaches
  like a serial line), registers set from outside, every answer it sends logged with its time.
- ``OpcUaServer``: asyncua's server with float variables whose values and SourceTimestamps are set from outside.
- ``BlackHole``: accepts TCP connections and never answers (a controller that hangs: a real timeout).
- CAN needs no server: python-can's virtual bus is the bus; ``j1939_frame`` builds frames from a DBC.

Every server runs its own asyncio loop in a daemon thread; ports are on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

FC = {"coil": 5, "holding": 6, "input": 4}  # write function codes select the table in async_setValues


class _Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_rest() -> None:  # a server's leftover tasks (session timeouts) end with the loop
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in rest:
                t.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        self.call(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def float32_registers(value: float, word_order: str = "big") -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo] if word_order == "big" else [lo, hi]


def int32_registers(value: int, word_order: str = "big") -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">i", value))
    return [hi, lo] if word_order == "big" else [lo, hi]


class ModbusServer:
    def __init__(self, port: int, *, rtu: bool = False, device_ids: tuple[int, ...] = (1,)) -> None:
        self.port, self.rtu, self.device_ids = port, rtu, device_ids
        # (time sent, function code, start address, registers) of every answer; one client at a time (requests
        # and answers alternate per connection, so each answer is paired with the request before it)
        self.served: list[tuple[float, int, int, list[int]]] = []
        self._request: tuple[int, int] = (0, -1)
        self._rt: _Loop | None = None
        self.server: Any = None

    def _trace(self, sending: bool, pdu: Any) -> Any:
        if not sending:
            self._request = (int(pdu.function_code), int(getattr(pdu, "address", -1)))
        else:
            fc, address = self._request
            self.served.append((time.time(), fc, address, list(getattr(pdu, "registers", []) or [])))
        return pdu

    def start(self) -> ModbusServer:
        devices = [SimDevice(d, simdata=(
            [SimData(0, count=100, datatype=DataType.BITS)], [SimData(0, count=100, datatype=DataType.BITS)],
            [SimData(0, count=200, datatype=DataType.REGISTERS)], [SimData(0, count=200, datatype=DataType.REGISTERS)],
        )) for d in self.device_ids]
        self._rt = _Loop()

        async def make() -> Any:
            return ModbusTcpServer(devices, address=("127.0.0.1", self.port), trace_pdu=self._trace,
                                   framer=FramerType.RTU if self.rtu else FramerType.SOCKET)

        self.server = self._rt.call(make())
        asyncio.run_coroutine_threadsafe(self.server.serve_forever(), self._rt.loop)
        _wait_port(self.port)
        return self

    def set(self, table: str, address: int, values: list[int], device_id: int = 1) -> None:
        assert self._rt is not None
        self._rt.call(self.server.async_setValues(device_id, FC[table], address, values))

    def stop(self) -> None:
        if self._rt is not None:
            self._rt.call(self.server.shutdown())
            self._rt.close()
            self._rt = None


async def make_certificate(directory: Path, name: str, app_uri: str, server: bool) -> tuple[Path, Path]:
    """A self-signed OPC UA application certificate (DER) and its key (PEM), as asyncua's tools make them."""
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key, cert = directory / f"{name}-key.pem", directory / f"{name}-cert.der"
    use = [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
    await setup_self_signed_certificate(key, cert, app_uri, "127.0.0.1", use, {"commonName": name})
    return cert, key


class OpcUaServer:
    """``secure_dir``: only Basic256Sha256 SignAndEncrypt, with a server certificate made there."""

    def __init__(self, port: int, names: list[str], secure_dir: Path | None = None) -> None:
        self.port, self.names, self.secure_dir = port, names, secure_dir
        self.endpoint = f"opc.tcp://127.0.0.1:{port}/qf/"
        self.nodes: dict[str, Any] = {}
        self.ns = 0
        self._rt: _Loop | None = None
        self.server: Any = None

    def start(self) -> OpcUaServer:
        from asyncua import Server

        self._rt = _Loop()

        async def make() -> None:
            self.server = Server()
            await self.server.init()
            self.server.set_endpoint(self.endpoint)
            if self.secure_dir is not None:
                from asyncua import ua

                cert, key = await make_certificate(self.secure_dir, "server", "urn:quietfix:test:server", True)
                await self.server.load_certificate(str(cert))
                await self.server.load_private_key(str(key))
                self.server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
            self.ns = await self.server.register_namespace("urn:quietfix:test")
            obj = await self.server.nodes.objects.add_object(self.ns, "Machine")
            for name in self.names:
                self.nodes[name] = await obj.add_variable(f"ns={self.ns};s=Machine.{name}", name, 0.0)
            await self.server.start()

        self._rt.call(make(), timeout=30)
        return self

    def node_id(self, name: str) -> str:
        return f"ns={self.ns};s=Machine.{name}"

    def write(self, name: str, value: float, t: float | None = None, status: int = 0) -> None:
        """Set a value with its device time (SourceTimestamp); ``status`` != 0 marks it Bad."""
        from asyncua import ua

        assert self._rt is not None
        ts = datetime.fromtimestamp(time.time() if t is None else t, UTC)
        dv = ua.DataValue(ua.Variant(float(value), ua.VariantType.Double),  # asyncua's stubs type datetime
                          StatusCode=ua.StatusCode(ua.UInt32(status)),  # as its own DateTime alias
                          SourceTimestamp=ts, ServerTimestamp=ts)  # type: ignore[arg-type]
        self._rt.call(self.server.write_attribute_value(self.nodes[name].nodeid, dv))

    def stop(self) -> None:
        if self._rt is not None:
            self._rt.call(self.server.stop(), timeout=30)
            self._rt.close()
            self._rt = None


class BlackHole:
    """A listener that accepts and never answers: the client's request times out."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)
            except OSError:
                continue

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        for c in self.accepted:
            c.close()
        self.sock.close()


def _wait_port(port: int, timeout_s: float = 10) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


J1939_DBC = """VERSION ""

NS_ :

BS_:

BU_: ENGINE

BO_ 2364540158 EEC1: 8 ENGINE
 SG_ EngineSpeed : 24|16@1+ (0.125,0) [0|8031.875] "rpm" Vector__XXX
 SG_ ActualEnginePercentTorque : 16|8@1+ (1,-125) [-125|125] "%" Vector__XXX

BO_ 2566844158 ET1: 8 ENGINE
 SG_ EngineCoolantTemperature : 0|8@1+ (1,-40) [-40|210] "degC" Vector__XXX

BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","reserved","J1939PG";
BA_ "VFrameFormat" BO_ 2364540158 3;
BA_ "VFrameFormat" BO_ 2566844158 3;
"""
# EEC1 = PGN 61444 (0xF004), ET1 = PGN 65262 (0xFEEE); ids carry priority 3 (EEC1) and 6 (ET1) and source address 0xFE (the DBC's
# placeholder); frames on the bus use the engine's address 0x00, which the gateway ignores when matching PGNs.


def j1939_frame(db: Any, message: str, values: dict[str, float], source_address: int = 0x00) -> tuple[int, bytes]:
    """(29-bit id, data) of a DBC message encoded from physical values, sent from ``source_address``."""
    msg = db.get_message_by_name(message)
    data = msg.encode(values, strict=False)
    frame_id = (msg.frame_id & 0x1FFFFF00) | source_address
    return frame_id, bytes(data)
