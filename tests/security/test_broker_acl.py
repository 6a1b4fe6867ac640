"""Per-device credentials on a real Mosquitto running the project's configuration (own process, see conftest).

Every forbidden path is tried, not only the allowed ones: publishing as another device, reading another
device's commands, sending commands to oneself, wildcard reads, anonymous and revoked access.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from core import broker
from core.provision import provision, revoke
from core.settings import PROJECT_ROOT
from tests.helpers import wait_for
from tests.security.conftest import OwnBroker
from tests.security.mqtt_probe import Probe

pytestmark = pytest.mark.integration

NOT_AUTHORISED = 0x87  # MQTT 5 reason code "Not authorized"
REFUSED_CONNACK = {0x86, 0x87}  # bad user name or password / not authorized
# MQTT 3.1.1 CONNECT, client id "x", clean session, keep-alive 60 s: what a misconfigured client sends in clear.
PLAIN_CONNECT = b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01x"


def accepted(puback: int) -> bool:
    """Success reason codes are below 0x80 (0x10 'no matching subscribers' is a success too)."""
    return puback < 0x80


@pytest.fixture(scope="module")
def devices(own_broker: OwnBroker) -> dict[str, str]:
    return provision(own_broker.settings(), ["pump-a", "pump-b"])


@pytest.fixture()
def watcher(own_broker: OwnBroker) -> Probe:
    probe = Probe(own_broker.port, "qf-service", own_broker.service_password)
    assert probe.subscribe("qf/v1/#") == [1]
    yield probe
    probe.close()


@pytest.fixture()
def dev_a(own_broker: OwnBroker, devices: dict[str, str]) -> Probe:
    probe = Probe(own_broker.port, "pump-a", devices["pump-a"])
    assert probe.accepted
    yield probe
    probe.close()


def test_passwords_are_random_and_stored_only_as_hashes(own_broker: OwnBroker, devices: dict[str, str]) -> None:
    assert len(set(devices.values())) == 2 and all(len(p) >= 24 for p in devices.values())
    text = (own_broker.run_dir / "passwd").read_text()
    assert all(p not in text for p in devices.values())
    assert broker.read_passwd(own_broker.run_dir / "passwd")["pump-a"].startswith("$7$")


def test_device_publishes_under_its_own_topics_only(watcher: Probe, dev_a: Probe) -> None:
    assert accepted(dev_a.publish("qf/v1/pump-a/telemetry", b"own"))
    forbidden = ["qf/v1/pump-b/telemetry", "qf/v1/pump-b/status", "qf/v1/pump-b/cmd/result",
                 "qf/v1/pump-a/cmd",  # a device cannot issue commands, not even to itself
                 "qf/v1/other/cmd", "qf/v2/pump-a/telemetry", "elsewhere"]
    for topic in forbidden:
        assert dev_a.publish(topic, b"forged") == NOT_AUTHORISED, topic
    dev_a.publish("qf/v1/pump-a/event", b"marker")
    got = watcher.wait_for(b"marker")
    assert (("qf/v1/pump-a/telemetry", b"own") in got) and all(p != b"forged" for _, p in got)


def test_device_reads_only_its_own_command_topic(own_broker: OwnBroker, watcher: Probe, dev_a: Probe) -> None:
    assert dev_a.subscribe("qf/v1/pump-a/cmd") == [1]
    # Mosquitto 2.0 grants a SUBACK for a forbidden filter and then checks read access on every message it
    # would deliver; newer versions answer 0x87. Either way nothing of another device may arrive.
    for topic in ("qf/v1/pump-b/cmd", "qf/v1/+/cmd", "qf/v1/#", "#", "qf/v1/pump-b/telemetry"):
        assert dev_a.subscribe(topic) in ([1], [NOT_AUTHORISED]), topic
    server = Probe(own_broker.port, "qf-service", own_broker.service_password)
    try:
        server.publish("qf/v1/pump-b/cmd", b"for-b")
        server.publish("qf/v1/pump-b/telemetry", b"b-data")
        server.publish("qf/v1/pump-a/cmd", b"for-a")
    finally:
        server.close()
    got = dev_a.wait_for(b"for-a")
    assert {p for _, p in got} == {b"for-a"}  # overlapping filters may each deliver a copy of its own


def test_wrong_password_and_anonymous_are_refused(own_broker: OwnBroker, devices: dict[str, str]) -> None:
    for username, password in (("pump-a", "guess"), ("pump-a", devices["pump-b"]), (None, None),
                               ("nobody", "x")):
        probe = Probe(own_broker.port, username, password)
        try:
            assert probe.connack in REFUSED_CONNACK, (username, probe.connack)
        finally:
            probe.close()


def test_revoked_device_is_disconnected_and_cannot_reconnect(own_broker: OwnBroker) -> None:
    settings = own_broker.settings()
    creds = provision(settings, ["pump-r"])
    live = Probe(own_broker.port, "pump-r", creds["pump-r"])
    assert live.accepted
    try:
        assert revoke(settings, ["pump-r", "never-provisioned"]) == 1
        wait_for(live.disconnected.is_set, timeout_s=5)
        again = Probe(own_broker.port, "pump-r", creds["pump-r"])
        again.close()
        assert again.connack in REFUSED_CONNACK
    finally:
        live.close()


def test_rotation_replaces_the_old_password(own_broker: OwnBroker) -> None:
    settings = own_broker.settings()
    old = provision(settings, ["pump-rot"])["pump-rot"]
    new = provision(settings, ["pump-rot"])["pump-rot"]
    stale, fresh = Probe(own_broker.port, "pump-rot", old), Probe(own_broker.port, "pump-rot", new)
    stale.close()
    fresh.close()
    assert stale.connack in REFUSED_CONNACK and fresh.accepted


def test_tls_listener_accepts_the_dev_ca_and_refuses_plain_text(own_broker: OwnBroker, devices: dict[str, str],
                                                                 tmp_path: Path) -> None:
    secure = Probe(own_broker.tls_port, "pump-a", devices["pump-a"], ca_file=own_broker.ca_file)
    try:
        assert secure.accepted
        assert accepted(secure.publish("qf/v1/pump-a/telemetry", b"over-tls"))
        assert secure.publish("qf/v1/pump-b/telemetry", b"forged") == NOT_AUTHORISED
    finally:
        secure.close()
    # A plain-text MQTT CONNECT on the TLS port never gets a CONNACK (0x20): credentials never travel in clear.
    with socket.create_connection(("127.0.0.1", own_broker.tls_port), timeout=5) as raw:
        raw.sendall(PLAIN_CONNECT)
        try:
            first = raw.recv(1)
        except (ConnectionResetError, TimeoutError):
            first = b""
        assert first[:1] != b"\x20"
    # A server certificate checked against another CA (the client talking to an impostor) fails verification.
    other_ca = tmp_path / "other"
    subprocess.run(["bash", str(PROJECT_ROOT / "deploy/tls/make-dev-ca.sh"), str(other_ca)], check=True,
                   capture_output=True)
    context = ssl.create_default_context(cafile=str(other_ca / "ca.crt"))
    with socket.create_connection(("127.0.0.1", own_broker.tls_port), timeout=5) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(raw, server_hostname="localhost").close()
    # The right CA and name pass the same check.
    good = ssl.create_default_context(cafile=str(own_broker.ca_file))
    with socket.create_connection(("127.0.0.1", own_broker.tls_port), timeout=5) as raw, \
            good.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_provision_over_tls_settings_confirms_the_reload(own_broker: OwnBroker) -> None:
    settings = own_broker.settings(mqtt_url=f"mqtts://localhost:{own_broker.tls_port}",
                                   mqtt_ca_file=own_broker.ca_file)
    creds = provision(settings, ["pump-tls"])
    probe = Probe(own_broker.tls_port, "pump-tls", creds["pump-tls"], ca_file=own_broker.ca_file)
    probe.close()
    assert probe.accepted
