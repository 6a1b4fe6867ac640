"""CAN source with SAE J1939 decoding (python-can for the bus, cantools for DBC files).

A signal is found either by name in a DBC (``dbc_signal``, optionally ``message``), matched on the frame's
*PGN* (priority and source address vary between machines, so the full 29-bit id is not compared), or by a J1939
SPN position without a DBC (``pgn``, ``start_bit``, ``length``; little-endian as J1939 defines), then the
mapping's scale and offset (for an SPN: its resolution and offset; for a DBC signal on top of the DBC's own).

J1939 reserves the top raw values: all ones = "not available", the range just below = "error indicator". Such a
value, or a frame too short for the signal, fails that signal (a health event), never the bus. CAN is pushed,
so a *timeout* is a PGN that stopped arriving for ``timeout_s``. Values keep the frame's receive timestamp.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edge_agent.sources.base import RETRY_MAX_S, RETRY_MIN_S, SignalSpec, Sink, ThreadedSource, describe

log = logging.getLogger(__name__)

RECV_WAIT_S = 0.2  # recv() blocks at most this long, so stop and silence checks stay responsive


def pgn_of(frame_id: int) -> int:
    """The J1939 parameter group number of a 29-bit id (PDU1: destination address byte masked out)."""
    pf = (frame_id >> 16) & 0xFF
    pgn = (frame_id >> 8) & 0x3FFFF
    return pgn & 0x3FF00 if pf < 240 else pgn


def source_address_of(frame_id: int) -> int:
    return frame_id & 0xFF


@dataclass(frozen=True)
class _Decoder:
    spec: SignalSpec
    pgn: int
    start_bit: int
    length: int
    factor: float  # DBC scaling applied before the mapping's own (1/0 for an SPN table entry)
    offset: float
    signed: bool


def raw_bits(data: bytes, start_bit: int, length: int) -> int | None:
    """Little-endian (Intel) bit field as J1939 lays out SPNs; None when the frame is too short."""
    if start_bit + length > len(data) * 8:
        return None
    return (int.from_bytes(data, "little") >> start_bit) & ((1 << length) - 1)


def j1939_invalid(raw: int, length: int) -> str | None:
    """J1939-71 reserved ranges. From one byte up the top byte decides: 0xFF not available, 0xFE error indicator,
    0xFB-0xFD reserved (valid data ends at 0xFA..). Shorter fields: all ones = not available, one less = error."""
    if length >= 8:
        hi = raw >> (length - 8)
        if hi == 0xFF:
            return "not available (0xFF)"
        if hi == 0xFE:
            return "error indicator (0xFE)"
        if hi > 0xFA:
            return f"reserved value (0x{hi:02X})"
        return None
    top = (1 << length) - 1
    if length >= 2 and raw == top:
        return "not available (all ones)"
    if length >= 2 and raw == top - 1:
        return "error indicator"
    return None


class CanJ1939Source(ThreadedSource):
    kind = "can"

    def __init__(
        self,
        name: str,
        signals: Sequence[SignalSpec],
        interval_s: float,
        *,
        interface: str = "socketcan",
        channel: str = "can0",
        bitrate: int | None = None,
        dbc: str = "",
        timeout_s: float = 5.0,
        source_address: int | None = None,
    ) -> None:
        self.name, self.signals, self.interval_s = name, list(signals), interval_s
        self.interface, self.channel, self.bitrate = interface, channel, bitrate
        self.timeout_s, self.source_address = timeout_s, source_address
        self.decoders = self._decoders(dbc)
        self.by_pgn: dict[int, list[_Decoder]] = {}
        for d in self.decoders:
            self.by_pgn.setdefault(d.pgn, []).append(d)
        self._init_thread()
        self.frames = 0

    def _decoders(self, dbc: str) -> list[_Decoder]:
        db: Any = None
        if dbc:
            import cantools  # optional dependency (extra "can")

            db = cantools.database.load_file(dbc)
        out = []
        for spec in self.signals:
            a = spec.address
            if "dbc_signal" in a:
                if db is None:
                    raise ValueError(f"signal {spec.name}: dbc_signal needs the source's 'dbc' file")
                msgs = [db.get_message_by_name(a["message"])] if "message" in a else db.messages
                found = [(m, s) for m in msgs for s in m.signals if s.name == a["dbc_signal"]]
                if not found:
                    raise ValueError(f"signal {spec.name}: {a['dbc_signal']!r} is not in {dbc}")
                msg, sig = found[0]
                if sig.byte_order != "little_endian":
                    raise ValueError(f"signal {spec.name}: J1939 signals are little-endian; {sig.name} is not")
                out.append(_Decoder(spec, pgn_of(msg.frame_id), sig.start, sig.length, float(sig.scale),
                                    float(sig.offset), bool(sig.is_signed)))
            else:
                out.append(_Decoder(spec, int(a["pgn"]), int(a["start_bit"]), int(a["length"]), 1.0, 0.0, False))
        return out

    # ---- decoding (pure) ----------------------------------------------------------------------------------
    def decode(self, sink: Sink, frame_id: int, data: bytes, t_ms: int) -> int:
        """Hand every configured signal of this frame to the sink; returns how many matched."""
        if self.source_address is not None and source_address_of(frame_id) != self.source_address:
            return 0
        decoders = self.by_pgn.get(pgn_of(frame_id), [])
        for d in decoders:
            raw = raw_bits(data, d.start_bit, d.length)
            if raw is None:
                sink.failed(self.name, f"bad frame: PGN {d.pgn} has {len(data)} bytes, signal needs bits "
                                       f"{d.start_bit}..{d.start_bit + d.length - 1}", signal=d.spec.name, t_ms=t_ms)
                continue
            bad = j1939_invalid(raw, d.length)
            if bad is not None:
                sink.failed(self.name, f"PGN {d.pgn}: {bad}", signal=d.spec.name, t_ms=t_ms)
                continue
            if d.signed and raw >= 1 << (d.length - 1):
                raw -= 1 << d.length
            sink.value(self.name, d.spec, raw * d.factor + d.offset, t_ms)
        return len(decoders)

    # ---- Source interface ------------------------------------------------------------------------------------
    def _open(self) -> Any:
        import can  # optional dependency (extra "can")

        kwargs: dict[str, Any] = {"interface": self.interface, "channel": self.channel}
        if self.bitrate:
            kwargs["bitrate"] = self.bitrate
        return can.Bus(**kwargs)

    def start(self, sink: Sink) -> None:
        self._start_thread(lambda: self._run(sink))

    def read_once(self, sink: Sink, timeout_s: float) -> None:
        """Listen until every configured PGN was seen once, or ``timeout_s``."""
        try:
            bus = self._open()
        except Exception as exc:  # noqa: BLE001 - health report
            sink.failed(self.name, describe(exc))
            return
        try:
            missing = set(self.by_pgn)
            end = time.monotonic() + timeout_s
            while missing and time.monotonic() < end:
                msg = bus.recv(min(RECV_WAIT_S, max(0.0, end - time.monotonic())))
                if msg is not None and msg.is_extended_id and self.decode(
                        sink, msg.arbitration_id, bytes(msg.data), round(msg.timestamp * 1000)):
                    missing.discard(pgn_of(msg.arbitration_id))
            if missing:
                sink.failed(self.name, f"no frame for PGN {sorted(missing)} within {timeout_s} s")
            else:
                sink.ok(self.name)
        finally:
            bus.shutdown()

    def _run(self, sink: Sink) -> None:
        delay = RETRY_MIN_S
        while not self._stop.is_set():
            bus = None
            try:
                bus = self._open()
                delay = RETRY_MIN_S
                self._listen(bus, sink)
            except Exception as exc:  # noqa: BLE001 - health report, then reopen the bus
                sink.failed(self.name, describe(exc))
            finally:
                if bus is not None:
                    bus.shutdown()
            if self._stop.wait(delay):
                break
            delay = min(RETRY_MAX_S, delay * 2)

    def _listen(self, bus: Any, sink: Sink) -> None:
        last_seen = {pgn: time.monotonic() for pgn in self.by_pgn}
        silent: set[int] = set()
        while not self._stop.is_set():
            msg = bus.recv(RECV_WAIT_S)
            now = time.monotonic()
            if msg is not None and msg.is_extended_id and not msg.is_error_frame:
                pgn = pgn_of(msg.arbitration_id)
                if self.decode(sink, msg.arbitration_id, bytes(msg.data), round(msg.timestamp * 1000)):
                    self.frames += 1
                    last_seen[pgn] = now
            quiet = {pgn for pgn, t in last_seen.items() if now - t > self.timeout_s}
            if quiet and not silent:
                sink.failed(self.name, f"timeout: no frame for PGN {sorted(quiet)} in {self.timeout_s} s")
            elif silent and not quiet:
                sink.ok(self.name)
            silent = quiet
