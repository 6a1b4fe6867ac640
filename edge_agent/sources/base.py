"""The one interface every equipment source implements, and what they share: signal mapping and health.

A source reads *raw* values from a protocol (a register, a node, a CAN signal, a pushed JSON key) and hands
them to a ``Sink`` with the device's own timestamp. Scaling, offset and the plausibility range are applied here,
once, so the adapters stay protocol-only and every source treats a bad value the same way: a sensor-health
event, the value dropped, the source and its neighbours still running.

Sources run in their own threads and never touch MQTT: the agent drains the sink from its own thread, so a
protocol that hangs (a Modbus timeout, an OPC UA server gone) never delays publishing or acknowledgements.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

RETRY_MIN_S = 1.0  # first reconnect soon: most outages are a controller reboot or a cable re-plugged
RETRY_MAX_S = 30.0  # cap: a dead PLC is not hammered, yet it is back in the data within 30 s of recovering
QUEUE_MAX = 100_000  # readings held in memory between agent drains (~ minutes at 1 kHz); oldest dropped past it


@dataclass(frozen=True)
class SignalSpec:
    """How one raw protocol value becomes one quietfix signal: ``value = raw * scale + offset``.

    ``valid_min``/``valid_max`` are the sensor's plausible range (a value outside is a broken sensor or a bad
    frame: health event, value dropped); ``alarm_low``/``alarm_high`` are process limits for local alarm events.
    ``address`` holds the protocol-specific part (register, node id, DBC signal, JSON key).
    """

    name: str
    unit: str = ""
    scale: float = 1.0
    offset: float = 0.0
    valid_min: float | None = None
    valid_max: float | None = None
    alarm_low: float | None = None
    alarm_high: float | None = None
    address: Mapping[str, Any] = field(default_factory=dict)

    def apply(self, raw: float) -> float:
        return float(raw) * self.scale + self.offset

    def problem(self, value: float) -> str | None:
        """Why a scaled value is not a plausible reading, or None."""
        if not math.isfinite(value):
            return "not a finite number"
        if self.valid_min is not None and value < self.valid_min:
            return f"{value} below the valid range minimum {self.valid_min}"
        if self.valid_max is not None and value > self.valid_max:
            return f"{value} above the valid range maximum {self.valid_max}"
        return None


@dataclass(frozen=True)
class Reading:
    signal: str
    t_ms: int  # device time, epoch milliseconds
    value: float


@dataclass(frozen=True)
class Health:
    """A change of a source's (or one signal's) health, published as a ``sensor_health`` event."""

    source: str
    ok: bool
    t_ms: int
    error: str = ""
    signal: str = ""


class SourceError(Exception):
    """A read failed in a way the source reports as health (timeout, bad frame, refused connection)."""


class Sink:
    """Thread-safe hand-over from source threads to the agent thread; also turns failures into health changes.

    Health is reported on *transitions* only (ok → failed, failed → ok) per source and per signal, so a PLC that
    stays down for an hour is one event, not 3,600.
    """

    def __init__(self, now: Callable[[], float] = time.time, max_items: int = QUEUE_MAX) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._readings: deque[Reading] = deque(maxlen=max_items)
        self._health: list[Health] = []
        self._failed: dict[tuple[str, str], str] = {}  # (source, signal or "") -> current error
        self.readings_in = 0
        self.rejected = 0
        self.overflowed = 0
        self.forward: Sink | None = None  # a trial sink forwards here once its mapping is accepted

    def now_ms(self) -> int:
        return round(self._now() * 1000)

    def value(self, source: str, spec: SignalSpec, raw: float, t_ms: int | None = None) -> None:
        """A raw value read for ``spec``; scaled, range-checked, then queued (or reported as bad)."""
        t = self.now_ms() if t_ms is None else int(t_ms)
        try:
            value = spec.apply(raw)
        except (TypeError, ValueError) as exc:
            self.failed(source, f"not a number: {exc}", signal=spec.name)
            return
        problem = spec.problem(value)
        if problem is not None:
            self.rejected += 1
            self.failed(source, f"out of range: {problem}", signal=spec.name, t_ms=t)
            return
        self.ok(source, signal=spec.name, t_ms=t)
        self.put(Reading(spec.name, t, value))

    def put(self, reading: Reading) -> None:
        with self._lock:
            target = self.forward
            if target is None:
                if len(self._readings) == self._readings.maxlen:
                    self.overflowed += 1  # the oldest reading is pushed out: counted, never silent
                self._readings.append(reading)
                self.readings_in += 1
        if target is not None:
            target.put(reading)

    def failed(self, source: str, error: str, *, signal: str = "", t_ms: int | None = None) -> None:
        self._transition(source, signal, error, t_ms)

    def ok(self, source: str, *, signal: str = "", t_ms: int | None = None) -> None:
        self._transition(source, signal, None, t_ms)

    def _transition(self, source: str, signal: str, error: str | None, t_ms: int | None) -> None:
        key = (source, signal)
        with self._lock:
            target = self.forward
            if target is None:
                before = self._failed.get(key)
                if error is None and before is None:
                    return
                if error is not None and before is not None:
                    return  # still failing: one event per outage (the first error is the informative one)
                if error is None:
                    del self._failed[key]
                else:
                    self._failed[key] = error
                t = self.now_ms() if t_ms is None else t_ms
                self._health.append(Health(source, error is None, t, error or "", signal))
        if target is not None:
            target._transition(source, signal, error, t_ms)
            return
        if error is not None:
            log.warning("source %s%s failed: %s", source, f" signal {signal}" if signal else "", error,
                        extra={"source": source, "signal": signal, "error": error})
        else:
            log.info("source %s%s recovered", source, f" signal {signal}" if signal else "",
                     extra={"source": source, "signal": signal})

    def drain(self) -> tuple[list[Reading], list[Health]]:
        with self._lock:
            readings = list(self._readings)
            self._readings.clear()
            health, self._health = self._health, []
        return readings, health

    def forget(self, keep: set[tuple[str, str]]) -> None:
        """Drop the failure state of sources/signals no longer mapped (a removed source cannot recover)."""
        with self._lock:
            self._failed = {k: v for k, v in self._failed.items() if k in keep}

    def failures(self) -> dict[tuple[str, str], str]:
        with self._lock:
            return dict(self._failed)


class Source(Protocol):
    """An equipment source. ``start`` runs it in its own thread(s) until ``stop``; ``read_once`` is for
    ``python -m edge_agent check`` and the trial of a pushed mapping (connect, read every signal, close)."""

    name: str
    kind: str
    signals: list[SignalSpec]
    interval_s: float

    def start(self, sink: Sink) -> None: ...
    def stop(self) -> None: ...
    def read_once(self, sink: Sink, timeout_s: float) -> None: ...


class ThreadedSource:
    """The one background thread a source reads on, and the event that stops it.

    Every source (polling, CAN listening, OPC UA subscriptions) runs the same way: ``start`` launches a daemon
    thread named after the source, ``stop`` sets the event its loops watch and waits a bounded time, so a wedged
    driver can delay the agent's shutdown but never hang it.
    """

    name: str
    #: how long ``stop`` waits for the thread; a driver blocked in I/O gets this long to notice the event
    join_timeout_s: float = 10.0

    def _init_thread(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _start_thread(self, target: Callable[[], object]) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=target, name=f"qf-src-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.join_timeout_s)
            self._thread = None


class PollingSource(ThreadedSource):
    """Base of request/response protocols (Modbus, OPC UA polling): a thread polls every ``interval_s``.

    Subclasses implement ``connect``, ``poll`` (one raw value per signal, via the sink) and ``close``. Any
    exception from them is a health failure; the connection is dropped and retried with back-off.
    """

    kind = "polling"

    def __init__(self, name: str, signals: Sequence[SignalSpec], interval_s: float) -> None:
        self.name = name
        self.signals = list(signals)
        self.interval_s = interval_s
        self._init_thread()
        self.polls = 0

    # to implement -------------------------------------------------------------------------------------------
    def connect(self) -> None:
        raise NotImplementedError

    def poll(self, sink: Sink) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # shared -------------------------------------------------------------------------------------------------
    def start(self, sink: Sink) -> None:
        self._start_thread(lambda: self._run(sink))

    def read_once(self, sink: Sink, timeout_s: float) -> None:
        try:
            self.connect()
            self.poll(sink)
            sink.ok(self.name)
        except Exception as exc:  # noqa: BLE001 - any protocol failure is a health report, never a crash
            sink.failed(self.name, describe(exc))
        finally:
            self._close_quietly()

    def _run(self, sink: Sink) -> None:
        connected = False
        delay = RETRY_MIN_S
        next_t = time.monotonic()
        while not self._stop.is_set():
            try:
                if not connected:
                    self.connect()
                    connected = True
                self.poll(sink)
                self.polls += 1
                sink.ok(self.name)
                delay = RETRY_MIN_S
            except Exception as exc:  # noqa: BLE001 - see read_once
                sink.failed(self.name, describe(exc))
                self._close_quietly()
                connected = False
                if self._stop.wait(delay):
                    break
                delay = min(RETRY_MAX_S, delay * 2)
                next_t = time.monotonic()
                continue
            next_t += self.interval_s
            wait = next_t - time.monotonic()
            if wait < 0:  # fell behind (slow device): skip missed slots rather than burst
                next_t = time.monotonic()
                wait = 0.0
            self._stop.wait(wait)
        self._close_quietly()

    def _close_quietly(self) -> None:
        try:
            self.close()
        except Exception:
            log.debug("closing source %s failed", self.name, exc_info=True)


def describe(exc: BaseException) -> str:
    """A short, human error: the exception type when the message is empty (TimeoutError())."""
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
