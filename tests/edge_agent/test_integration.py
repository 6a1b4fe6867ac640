"""Against real Mosquitto: telemetry, retained status, last will, buffering across outages, commands.

No ingest runs here, so the agents use ``server_ack=False`` (the broker's PUBACK deletes a batch); the
end-to-end ack with ingest is tested in tests/ingest/test_faults_integration.py.

Waits poll with generous deadlines (a slow machine only makes them wait longer); nothing asserts on timing.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent import DeviceSpec, Fleet
from edge_agent.buffer import fresh_seq_base
from tests.services import free_port

pytestmark = pytest.mark.integration

BROKER = ("127.0.0.1", 1883)
MOSQUITTO = "/usr/sbin/mosquitto"
WAIT_S = 15.0  # generous upper bound for any single wait; tests normally finish far sooner


def _wait(cond: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


class Sub:
    """A test subscriber collecting messages by topic suffix."""

    def __init__(
        self, host: str, port: int, topic: str, *, client_id: str | None = None, persistent: bool = False
    ) -> None:
        self.msgs: list[tuple[str, dict[str, Any], bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.c = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"t-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5,
        )
        self.c.on_message = self._on_message
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.c.on_subscribe = lambda *a: self.subscribed.set()
        props = None
        if persistent:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 300  # survive the broker restarts of the test
        self.c.reconnect_delay_set(0.1, 0.5)
        self.c.connect(host, port, clean_start=not persistent, properties=props)
        self.c.loop_start()
        assert self.subscribed.wait(WAIT_S)

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.msgs.append((msg.topic, json.loads(msg.payload), bool(msg.retain)))

    def on(self, suffix: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for t, m, _ in self.msgs if t.endswith(suffix)]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _spec(et: str = "pump") -> DeviceSpec:
    did = f"{et}-it{uuid.uuid4().hex[:8]}"  # unique: no retained leftovers from earlier runs
    return DeviceSpec(did, et, did, f"{did}-secret")


def _fast_clock(speed: float = 60.0) -> Callable[[], float]:
    wall0 = time.time()
    return lambda: wall0 + (time.time() - wall0) * speed


def _clear_retained(host: str, port: int, device_id: str) -> None:
    c = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    c.connect(host, port)
    c.loop_start()
    c.publish(f"qf/v1/{device_id}/status", b"", qos=1, retain=True).wait_for_publish(WAIT_S)
    c.disconnect()
    c.loop_stop()


@pytest.fixture()
def broker_up() -> None:
    try:
        socket.create_connection(BROKER, timeout=2).close()
    except OSError:
        pytest.skip("no Mosquitto on 127.0.0.1:1883")


def test_batches_arrive_with_increasing_seq_and_retained_status(broker_up: None, tmp_path: Path) -> None:
    spec = _spec()
    sub = Sub(*BROKER, f"qf/v1/{spec.device_id}/#")
    base = fresh_seq_base(time.time())
    fleet = Fleet(
        [spec],
        server_ack=False,
        host=BROKER[0],
        port=BROKER[1],
        clock=_fast_clock(),
        batch_interval_s=5.0,
        buffer_dir=tmp_path,
    )  # default seq base: wall-clock microseconds, so a fresh run is never mistaken for a replay
    try:
        fleet.start()
        _wait(lambda: len(sub.on("/telemetry")) >= 5, "5 batches")
        late = Sub(*BROKER, f"qf/v1/{spec.device_id}/status")
        _wait(lambda: bool(late.on("/status")), "retained status")
        late.close()
        assert late.msgs[0][1]["state"] == "online" and late.msgs[0][2] is True
    finally:
        fleet.stop()
    try:
        last = fleet.agent(spec.device_id).buffer.next_seq - 1
        first = min(b["seq"] for b in sub.on("/telemetry"))
        # acked by the broker does not mean delivered to us yet: wait for the tail before closing
        _wait(lambda: {b["seq"] for b in sub.on("/telemetry")} >= set(range(first, last + 1)), "every seq")
        _wait(lambda: sub.on("/status")[-1]["state"] == "offline", "offline on clean stop")
    finally:
        sub.close()
        _clear_retained(*BROKER, spec.device_id)
    seqs = [b["seq"] for b in sub.on("/telemetry")]
    assert seqs == sorted(seqs) and seqs[0] >= base
    assert set(seqs) == set(range(seqs[0], last + 1))
    assert fleet.stats()["acked_messages"] == len(seqs) and fleet.stats()["buffered"] == 0


def test_last_will_when_socket_dies(broker_up: None, tmp_path: Path) -> None:
    spec = _spec("chiller")
    sub = Sub(*BROKER, f"qf/v1/{spec.device_id}/status")
    fleet = Fleet(
        [spec],
        server_ack=False,
        host=BROKER[0],
        port=BROKER[1],
        clock=_fast_clock(),
        buffer_dir=tmp_path,
        seq_base=0,
    )
    try:
        fleet.start()
        _wait(lambda: any(m["state"] == "online" for m in sub.on("/status")), "online")
        fleet.connection(spec.device_id).kill_socket()
        _wait(lambda: {"v": 1, "state": "offline"} in sub.on("/status"), "last will")
        _wait(lambda: sub.on("/status")[-1]["state"] == "online", "reconnect")
    finally:
        fleet.stop()
        sub.close()
        _clear_retained(*BROKER, spec.device_id)


def test_command_gets_result(broker_up: None, tmp_path: Path) -> None:
    spec = _spec("compressor")
    sub = Sub(*BROKER, f"qf/v1/{spec.device_id}/cmd/result")
    fleet = Fleet(
        [spec],
        server_ack=False,
        host=BROKER[0],
        port=BROKER[1],
        clock=_fast_clock(),
        buffer_dir=tmp_path,
        seq_base=0,
    )
    try:
        fleet.start()
        _wait(lambda: fleet.stats()["connected"] == 1 and fleet.stats()["acked_messages"] > 0, "connected")
        fleet.inject_fault(spec.device_id, "motor_trip")
        now_ms = int(time.time() * 1000)
        for cid, cmd, exp in [
            ("c-ping", "ping", now_ms + 10**9),
            ("c-old", "ping", now_ms - 10**7),
            ("c-reset", "reset", now_ms + 10**9),
        ]:
            body = {
                "v": 1,
                "id": cid,
                "cmd": cmd,
                "args": {},
                "issued_at": now_ms - 1,
                "expires_at": exp,
                "issued_by": "it",
            }
            sub.c.publish(f"qf/v1/{spec.device_id}/cmd", json.dumps(body), qos=1)
        _wait(lambda: len(sub.on("/cmd/result")) >= 3, "3 results")
    finally:
        fleet.stop()
        sub.close()
        _clear_retained(*BROKER, spec.device_id)
    res = {r["id"]: r for r in sub.on("/cmd/result")}
    assert res["c-ping"]["ok"] and res["c-ping"]["result"] == {"pong": True}
    assert not res["c-old"]["ok"] and res["c-old"]["result"]["reason"] == "expired"
    assert res["c-reset"]["ok"] and res["c-reset"]["result"]["cleared"] == ["motor_trip"]


class OwnBroker:
    """A throwaway Mosquitto with persistence, so a subscriber's session survives a graceful restart."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp / "mosq"
        self.dir.mkdir()
        self.conf = tmp / "mosq.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser root\n"
            f"persistence true\npersistence_location {self.dir}/\nmax_queued_messages 0\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def accepting() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False

        _wait(accepting, "own broker")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)  # graceful: mosquitto saves sessions and queued messages
            self.proc.wait(WAIT_S)
            self.proc = None


@pytest.fixture()
def own_broker(tmp_path: Path) -> Iterator[OwnBroker]:
    if shutil.which(MOSQUITTO) is None:
        pytest.skip("mosquitto binary not installed")
    b = OwnBroker(tmp_path)
    yield b
    b.stop()


def test_buffers_through_outages_and_delivers_every_batch(own_broker: OwnBroker, tmp_path: Path) -> None:
    spec = _spec()
    own_broker.start()
    sub = Sub(
        "127.0.0.1", own_broker.port, f"qf/v1/{spec.device_id}/telemetry", client_id="it-sub", persistent=True
    )
    own_broker.stop()  # broker down before the agent ever connects: it must buffer
    fleet = Fleet(
        [spec],
        server_ack=False,
        host="127.0.0.1",
        port=own_broker.port,
        clock=_fast_clock(),
        batch_interval_s=5.0,
        buffer_dir=tmp_path / "buf",
        seq_base=0,
    )
    try:
        fleet.start()
        _wait(lambda: fleet.stats()["buffered"] >= 5, "buffering while broker down")
        own_broker.start()
        _wait(lambda: len(sub.on("/telemetry")) >= 8, "replay after broker start")
        own_broker.stop()  # second outage in the middle of the stream
        mark = fleet.stats()["buffered"]
        _wait(lambda: fleet.stats()["buffered"] >= mark + 3, "buffering in second outage")
        own_broker.start()
        _wait(
            lambda: (
                fleet.stats()["acked_messages"] >= fleet.stats()["published_messages"] > 0
                and fleet.stats()["connected"] == 1
            ),
            "recovery",
        )
    finally:
        fleet.stop()
    stats = fleet.stats()
    assert stats["buffered"] == 0 and stats["dropped"] == 0
    last = fleet.agent(spec.device_id).buffer.next_seq - 1
    _wait(lambda: {b["seq"] for b in sub.on("/telemetry")} >= set(range(last + 1)), "every seq")
    sub.close()
    seqs = [b["seq"] for b in sub.on("/telemetry")]
    assert set(seqs) == set(range(last + 1))  # none missing; duplicates allowed (server dedups)


def test_tls_connection_with_ca_file(tmp_path: Path) -> None:
    """The agent verifies the broker certificate against ``tls_ca`` and delivers over TLS."""
    openssl = shutil.which("openssl")
    if openssl is None or shutil.which(MOSQUITTO) is None:
        pytest.skip("openssl or mosquitto not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    broker = OwnBroker(tmp_path)
    broker.conf.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous true\nuser root\ncertfile {cert}\nkeyfile {key}\n"
    )
    broker.start()
    spec = _spec()
    fleet = Fleet(
        [spec],
        server_ack=False,
        host="127.0.0.1",
        port=broker.port,
        clock=_fast_clock(),
        batch_interval_s=5.0,
        buffer_dir=tmp_path / "buf",
        seq_base=0,
        tls_ca=str(cert),
    )
    try:
        fleet.start()
        _wait(lambda: fleet.stats()["acked_messages"] >= 3, "acks over TLS")
    finally:
        fleet.stop()
        broker.stop()
    assert fleet.stats()["buffered"] == 0
