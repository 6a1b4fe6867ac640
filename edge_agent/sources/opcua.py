"""OPC UA source (asyncua): node ids read by subscription (the server pushes changes) or by polling.

Values keep the server's ``SourceTimestamp`` (the device time of the measurement; ``ServerTimestamp`` or the
gateway clock only when the server sends none). A node whose status is not Good fails that signal only; a lost
session fails the source and is re-established with back-off.

asyncua is asynchronous: the source owns one event loop in its own thread, so nothing of it touches the agent.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from edge_agent.sources.base import (
    RETRY_MAX_S,
    RETRY_MIN_S,
    SignalSpec,
    Sink,
    SourceError,
    ThreadedSource,
    describe,
)

log = logging.getLogger(__name__)

MODES = ("subscription", "polling")
SECURITY_POLICIES = ("None", "Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss")
SECURITY_MODES = ("None", "Sign", "SignAndEncrypt")


def _ms(dt: datetime | None) -> int | None:
    return None if dt is None else round(dt.timestamp() * 1000)


class OpcUaSource(ThreadedSource):
    kind = "opcua"
    #: an asyncua session closes with a round-trip to the server, so it gets longer than the other sources
    join_timeout_s = 15.0

    def __init__(
        self,
        name: str,
        signals: Sequence[SignalSpec],
        interval_s: float,
        *,
        endpoint: str,
        mode: str = "subscription",
        timeout_s: float = 4.0,
        security_policy: str = "None",
        security_mode: str = "None",
        certificate: str = "",
        private_key: str = "",
        server_certificate: str = "",
        username: str = "",
        password: str = "",
    ) -> None:
        self.name, self.signals, self.interval_s = name, list(signals), interval_s
        self.endpoint, self.mode, self.timeout_s = endpoint, mode, timeout_s
        self.security = (security_policy, security_mode, certificate, private_key, server_certificate)
        self.username, self.password = username, password
        # asyncua logs a lost session as ERROR once per second until it is closed; the source reports the outage
        # once, as a health event, and reconnects itself
        logging.getLogger("asyncua.client.ua_session").setLevel(logging.CRITICAL)
        self._init_thread()

    # ---- Source interface ------------------------------------------------------------------------------------
    def start(self, sink: Sink) -> None:
        self._start_thread(lambda: asyncio.run(self._main(sink)))

    def read_once(self, sink: Sink, timeout_s: float) -> None:
        async def once() -> None:
            client = await self._connect()
            try:
                await self._read_all(client, sink)
            finally:
                await self._disconnect(client)

        try:
            _run_on_own_thread(lambda: asyncio.wait_for(once(), timeout_s))
            sink.ok(self.name)
        except Exception as exc:  # noqa: BLE001 - any protocol failure is a health report, never a crash
            sink.failed(self.name, describe(exc))

    # ---- internals -------------------------------------------------------------------------------------------
    async def _connect(self) -> Any:
        from asyncua import Client  # optional dependency (extra "opcua")

        client = Client(self.endpoint, timeout=self.timeout_s)
        policy, mode, cert, key, server_cert = self.security
        if policy != "None":
            parts = [policy, mode, cert, key] + ([server_cert] if server_cert else [])
            await client.set_security_string(",".join(parts))
        if self.username:
            client.set_user(self.username)
            client.set_password(self.password)
        await client.connect()
        return client

    @staticmethod
    async def _disconnect(client: Any) -> None:
        try:
            await client.disconnect()
        except Exception:
            log.debug("OPC UA disconnect failed", exc_info=True)

    def _deliver(self, sink: Sink, spec: SignalSpec, dv: Any) -> None:
        status = getattr(dv, "StatusCode", None)
        if status is not None and not status.is_good():
            sink.failed(self.name, f"node {spec.address['node_id']} status {status.name}", signal=spec.name)
            return
        variant = dv.Value
        raw = getattr(variant, "Value", variant)
        if isinstance(raw, bool):
            raw = 1.0 if raw else 0.0
        if not isinstance(raw, int | float):
            sink.failed(self.name, f"node {spec.address['node_id']} holds {type(raw).__name__}, not a number",
                        signal=spec.name)
            return
        sink.value(self.name, spec, raw, _ms(dv.SourceTimestamp) or _ms(dv.ServerTimestamp))

    async def _read_all(self, client: Any, sink: Sink) -> None:
        from asyncua import ua

        nodes = [client.get_node(str(s.address["node_id"])) for s in self.signals]
        values = await client.read_attributes(nodes, ua.AttributeIds.Value)
        for spec, dv in zip(self.signals, values, strict=True):
            self._deliver(sink, spec, dv)

    async def _main(self, sink: Sink) -> None:
        delay = RETRY_MIN_S
        while not self._stop.is_set():
            client = None
            try:
                client = await self._connect()
                sink.ok(self.name)
                delay = RETRY_MIN_S
                if self.mode == "polling":
                    await self._poll(client, sink)
                else:
                    await self._subscribe(client, sink)
            except Exception as exc:  # noqa: BLE001 - health report, then reconnect
                sink.failed(self.name, describe(exc))
            finally:
                if client is not None:
                    await self._disconnect(client)
            if self._stop.is_set():
                break
            await self._sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking early on stop (checked every 0.1 s: the thread has no other way to be told)."""
        end = asyncio.get_running_loop().time() + seconds
        while not self._stop.is_set() and (left := end - asyncio.get_running_loop().time()) > 0:
            await asyncio.sleep(min(0.1, left))

    async def _poll(self, client: Any, sink: Sink) -> None:
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while not self._stop.is_set():
            await asyncio.wait_for(self._read_all(client, sink), self.timeout_s)
            sink.ok(self.name)
            next_t = max(next_t + self.interval_s, loop.time())
            await self._sleep(next_t - loop.time())

    async def _subscribe(self, client: Any, sink: Sink) -> None:
        source = self
        nodes = [client.get_node(str(s.address["node_id"])) for s in self.signals]
        by_node = {n.nodeid: spec for n, spec in zip(nodes, self.signals, strict=True)}

        class Handler:
            def datachange_notification(self, node: Any, _val: Any, data: Any) -> None:
                spec = by_node.get(node.nodeid)
                if spec is not None:
                    source._deliver(sink, spec, data.monitored_item.Value)

            def status_change_notification(self, status: Any) -> None:
                sink.failed(source.name, f"subscription status {status}")

        sub = await client.create_subscription(self.interval_s * 1000, Handler())
        await sub.subscribe_data_change(nodes)
        while not self._stop.is_set():
            await self._sleep(min(1.0, self.timeout_s))
            if self._stop.is_set():
                break
            # a server that went away shows up here (the subscription itself just goes quiet)
            try:
                await asyncio.wait_for(client.check_connection(), self.timeout_s)
                await asyncio.wait_for(client.nodes.server_state.read_value(), self.timeout_s)
            except Exception as exc:
                raise SourceError(f"session lost: {describe(exc)}") from exc


def _run_on_own_thread(make: Any) -> Any:
    """Run ``make()``'s coroutine to completion on a fresh thread with its own event loop: ``read_once`` is
    called from synchronous code that may itself sit inside a running loop (a host application, a test runner
    with a browser driver), where ``asyncio.run`` refuses to start."""
    result: dict[str, Any] = {}

    def body() -> None:
        try:
            result["value"] = asyncio.run(make())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=body, name="qf-opcua-once", daemon=True)
    worker.start()
    worker.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")
