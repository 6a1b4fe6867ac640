"""Device provisioning: per-device broker credentials, the ACL that confines them, and revocation.

A device's MQTT username is its id; its password is a random token generated here and shown once (the broker
keeps only a PBKDF2 hash). The ACL is one ``pattern`` per topic kind, so provisioning never edits the ACL per
device: adding a password-file line is what gives a device its tree. The broker re-reads both files on SIGHUP;
on that reload Mosquitto re-checks connected clients, so a revoked device is also disconnected, not only refused
on its next connect.

The CLI (``quietfix provision`` / ``quietfix revoke``) calls :func:`provision` and :func:`revoke`.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core import broker
from core.mqtt import BrokerAddress
from core.settings import Settings

log = logging.getLogger(__name__)

# 18 random bytes = 144 bits as 24 URL-safe characters: beyond brute force, so the broker's cheap hash iteration
# count (Mosquitto's default) costs no security, and short enough to type into a device's set-up screen.
PASSWORD_BYTES = 18
# Mosquitto applies a SIGHUP asynchronously; a reload on this machine takes a few ms, 5 s covers a loaded host.
RELOAD_CONFIRM_TIMEOUT_S = 5.0
RELOAD_POLL_S = 0.05


def _paths(settings: Settings) -> tuple[Path, Path, Path]:
    run = settings.broker_dir
    return run / "passwd", run / "acl", run / "mosquitto.pid"


def _check_ids(settings: Settings, device_ids: Iterable[str]) -> list[str]:
    ids = list(dict.fromkeys(device_ids))  # de-duplicate, keep order
    for device_id in ids:
        broker.validate_username(device_id)
        if device_id == settings.mqtt_username:
            # Provisioning the service account's name would replace its password and give a "device" the
            # whole topic tree.
            raise ValueError(f"{device_id!r} is the service account, not a device")
    return ids


def _connect_rc(settings: Settings, username: str, password: str) -> int:
    """Try one MQTT connect; returns the CONNACK reason code value (0 = accepted, 134/135 = refused)."""
    address = BrokerAddress.from_url(settings.mqtt_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"qf-provision-check-{uuid.uuid4().hex[:8]}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    if address.tls:
        client.tls_set(ca_certs=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None)
    result: dict[str, int] = {}
    answered = threading.Event()

    def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        result["rc"] = int(getattr(reason, "value", 255))
        answered.set()

    client.on_connect = on_connect
    # connect_async: a refused TCP connection is the network thread's business (it retries until stopped), and
    # that thread owns, and on stop closes, every socket paho opened.
    client.connect_async(address.host, address.port, keepalive=10)
    client.loop_start()
    try:
        answered.wait(RELOAD_CONFIRM_TIMEOUT_S)
        client.disconnect()
    finally:
        client.loop_stop()
    return result.get("rc", 255)


def _await(settings: Settings, username: str, password: str, accepted: bool) -> bool:
    deadline = time.monotonic() + RELOAD_CONFIRM_TIMEOUT_S
    while time.monotonic() < deadline:
        if (_connect_rc(settings, username, password) == 0) == accepted:
            return True
        time.sleep(RELOAD_POLL_S)
    return False


def ensure_acl(settings: Settings) -> None:
    """(Re)write the pattern ACL; it depends only on the service account name, so this is idempotent."""
    _, acl, _ = _paths(settings)
    acl.parent.mkdir(parents=True, exist_ok=True)
    broker.write_acl(acl, settings.mqtt_username)


def provision(settings: Settings, device_ids: Iterable[str], *, confirm: bool = True) -> dict[str, str]:
    """Create (or rotate) credentials for ``device_ids``; returns device id -> new password, shown only once.

    With ``confirm`` the call returns only once the broker accepts the first new credential, so a device
    started right after provisioning is not refused by a broker that has not finished its reload yet.
    """
    ids = _check_ids(settings, device_ids)
    if not ids:
        return {}
    passwd, _, pid = _paths(settings)
    ensure_acl(settings)
    creds = {device_id: secrets.token_urlsafe(PASSWORD_BYTES) for device_id in ids}
    broker.upsert_credentials(passwd, creds.items())
    reloaded = broker.reload_broker(pid)
    log.info("devices provisioned", extra={"count": len(ids), "broker_reloaded": reloaded})
    if reloaded and confirm:
        first = ids[0]
        if not _await(settings, first, creds[first], accepted=True):
            log.warning("broker did not accept a new credential in time", extra={"device_id": first})
    return creds


def revoke(settings: Settings, device_ids: Iterable[str], *, confirm: bool = True) -> int:
    """Remove the devices' credentials; returns how many existed. Connected sessions are dropped on reload."""
    ids = _check_ids(settings, device_ids)
    if not ids:
        return 0
    passwd, _, pid = _paths(settings)
    removed = broker.revoke(passwd, ids)
    reloaded = broker.reload_broker(pid)
    log.info("devices revoked", extra={"count": removed, "broker_reloaded": reloaded})
    if reloaded and confirm and removed:
        # A revoked user cannot be "confirmed" with its password (we do not have it); wait for the reload by
        # probing a throwaway credential that was never valid: once the broker answers, it has re-read the file.
        _connect_rc(settings, f"qf-revoke-probe-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(8))
    return removed
