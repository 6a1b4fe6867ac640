"""Provisioning's refusals need no broker: names that would inject password-file lines or widen the ACL."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import broker
from core.provision import provision, revoke
from core.settings import load_settings


@pytest.mark.parametrize("bad", ["a:b", "pump\nqf-service", "+", "#", "qf/v1", "", "x" * 65, "pump a", "%u"])
def test_unsafe_device_ids_are_refused(tmp_path: Path, bad: str) -> None:
    settings = load_settings(broker_dir=tmp_path)
    with pytest.raises(ValueError):
        provision(settings, [bad])
    with pytest.raises(ValueError):
        revoke(settings, [bad])
    assert not (tmp_path / "passwd").exists()


def test_the_service_account_cannot_be_provisioned_as_a_device(tmp_path: Path) -> None:
    settings = load_settings(broker_dir=tmp_path)
    with pytest.raises(ValueError, match="service account"):
        provision(settings, [settings.mqtt_username])


def test_provision_without_a_running_broker_writes_files(tmp_path: Path) -> None:
    settings = load_settings(broker_dir=tmp_path)
    creds = provision(settings, ["pump-1", "pump-2", "pump-1"])
    assert sorted(creds) == ["pump-1", "pump-2"]
    entries = broker.read_passwd(tmp_path / "passwd")
    assert sorted(entries) == ["pump-1", "pump-2"]
    assert "pattern read qf/v1/%u/cmd" in (tmp_path / "acl").read_text()
    assert oct((tmp_path / "passwd").stat().st_mode & 0o777) == "0o600"
    assert revoke(settings, ["pump-1", "pump-9"]) == 1
    assert sorted(broker.read_passwd(tmp_path / "passwd")) == ["pump-2"]


def test_hash_format_is_mosquittos_pbkdf2_sha512() -> None:
    parts = broker.hash_password("secret", salt=b"0123456789ab").split("$")
    assert parts[1:3] == ["7", str(broker.PBKDF2_ITERATIONS)] and len(parts) == 5
    assert broker.hash_password("secret", salt=b"0123456789ab") != broker.hash_password("other", salt=b"0123456789ab")


def test_concurrent_provisioners_lose_no_entry(tmp_path: Path) -> None:
    """The password file's read-modify-write is serialised (``broker.passwd_lock``): 8 writers, 8 entries."""
    import threading

    passwd = tmp_path / "passwd"
    start = threading.Barrier(8)

    def write(i: int) -> None:
        start.wait()
        broker.upsert_credentials(passwd, [(f"dev-{i}", f"pw-{i}")])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(broker.read_passwd(passwd)) == sorted(f"dev-{i}" for i in range(8))
