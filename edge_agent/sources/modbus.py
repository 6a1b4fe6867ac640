"""Modbus TCP and RTU sources (pymodbus): holding/input registers, coils and discrete inputs.

Register types int16/uint16/int32/uint32/float32 (and 64-bit) with the word order of the device, then the
signal's scale and offset. Modbus has no timestamps: every signal of one poll carries the gateway's time at the
start of that poll, so they land in one sample.

A Modbus exception response for one register (illegal address, device busy) fails that *signal* only; a timeout
or a dropped connection fails the whole source (the sink reports both, and the poll loop reconnects).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from edge_agent.sources.base import PollingSource, SignalSpec, Sink, SourceError

TABLES = ("holding", "input", "coil", "discrete")
DATA_TYPES = ("int16", "uint16", "int32", "uint32", "float32", "int64", "uint64", "float64")
WORD_ORDERS = ("big", "little")
_WORDS = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "int64": 4, "uint64": 4, "float64": 4}


def registers_needed(address: Mapping[str, Any]) -> int:
    if address.get("table") in ("coil", "discrete"):
        return 1
    return _WORDS[str(address.get("type", "uint16"))]


class ModbusSource(PollingSource):
    """One Modbus device (or several unit ids behind one gateway/serial line)."""

    def __init__(
        self,
        name: str,
        signals: Sequence[SignalSpec],
        interval_s: float,
        *,
        kind: str,
        host: str = "",
        port: int = 502,
        serial_port: str = "",
        baudrate: int = 19200,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
        unit_id: int = 1,
        timeout_s: float = 1.0,
        retries: int = 0,
    ) -> None:
        super().__init__(name, signals, interval_s)
        self.kind = kind
        self.unit_id = unit_id
        self._params: dict[str, Any] = {"host": host, "port": port, "serial_port": serial_port, "baudrate": baudrate, "parity": parity,
                            "stopbits": stopbits, "bytesize": bytesize, "timeout": timeout_s, "retries": retries}
        self._client: Any = None
        # pymodbus logs every timeout as an ERROR; the sink reports an outage once, as a health event
        logging.getLogger("pymodbus.logging").setLevel(logging.CRITICAL)

    def _make_client(self) -> Any:
        from pymodbus.client import (  # optional dependency (extra "modbus")
            ModbusSerialClient,
            ModbusTcpClient,
        )

        p = self._params
        if self.kind == "modbus_tcp":
            return ModbusTcpClient(str(p["host"]), port=int(p["port"]), timeout=float(p["timeout"]),
                                   retries=int(p["retries"]), reconnect_delay=0)
        # RTU: a serial device (/dev/ttyUSB0), or any pyserial URL (rfc2217://, socket:// for a serial server)
        return ModbusSerialClient(str(p["serial_port"]), baudrate=int(p["baudrate"]), parity=str(p["parity"]),
                                  stopbits=int(p["stopbits"]), bytesize=int(p["bytesize"]),
                                  timeout=float(p["timeout"]), retries=int(p["retries"]), reconnect_delay=0)

    def connect(self) -> None:
        self._client = self._make_client()
        if not self._client.connect():
            where = self._params["host"] or self._params["serial_port"]
            raise SourceError(f"cannot connect to {where}:{self._params['port']}" if self.kind == "modbus_tcp"
                              else f"cannot open {where}")

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()

    def poll(self, sink: Sink) -> None:
        from pymodbus.exceptions import ModbusIOException  # optional dependency (extra "modbus")

        t_ms = sink.now_ms()
        for spec in self.signals:
            try:
                raw = self._read(spec.address)
            except ModbusIOException as exc:
                raise SourceError(f"no answer from unit {spec.address.get('unit_id', self.unit_id)}: {exc}") from exc
            except SourceError as exc:  # an exception response: this register only
                sink.failed(self.name, str(exc), signal=spec.name, t_ms=t_ms)
                continue
            sink.value(self.name, spec, raw, t_ms)

    def _read(self, a: Mapping[str, Any]) -> float:
        c = self._client
        unit = int(a.get("unit_id", self.unit_id))
        table, addr = str(a.get("table", "holding")), int(a["register"])
        count = registers_needed(a)
        if table == "coil":
            rr = c.read_coils(addr, count=1, device_id=unit)
        elif table == "discrete":
            rr = c.read_discrete_inputs(addr, count=1, device_id=unit)
        elif table == "input":
            rr = c.read_input_registers(addr, count=count, device_id=unit)
        else:
            rr = c.read_holding_registers(addr, count=count, device_id=unit)
        if rr.isError():
            raise SourceError(f"unit {unit} {table} {addr}: Modbus exception {getattr(rr, 'exception_code', rr)}")
        if table in ("coil", "discrete"):
            return 1.0 if rr.bits[0] else 0.0
        if len(rr.registers) != count:
            raise SourceError(f"unit {unit} {table} {addr}: {len(rr.registers)} registers, expected {count}")
        dtype = getattr(c.DATATYPE, str(a.get("type", "uint16")).upper())
        return float(c.convert_from_registers(rr.registers, dtype, word_order=str(a.get("word_order", "big"))))
