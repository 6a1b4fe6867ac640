"""Local broker credentials: Mosquitto password-file entries and the ACL that confines each device to its tree.

The device id is its username, so one ``pattern`` ACL line gives every device exactly its own topics. Hashes use
Mosquitto's PBKDF2-SHA512 format (``$7$``), written directly so provisioning thousands of devices takes
milliseconds instead of one ``mosquitto_passwd`` process each.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import secrets
import signal
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Mosquitto 2.0's own default iteration count for $7$ hashes; it verifies whatever count the line states.
PBKDF2_ITERATIONS = 101

ACL_TEXT = """\
# quietfix broker ACL. Service accounts see the whole tree; a device (username == device id) may publish only
# under its own topics and subscribe only to its own command topic.
user {service_user}
topic readwrite qf/v1/#

pattern write qf/v1/%u/telemetry
pattern readwrite qf/v1/%u/status
pattern write qf/v1/%u/event
pattern write qf/v1/%u/cmd/result
pattern read qf/v1/%u/cmd
"""


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def read_passwd(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    entries = {}
    for line in path.read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            user, hashed = line.split(":", 1)
            entries[user] = hashed
    return entries


def write_passwd(path: Path, entries: dict[str, str]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{user}:{hashed}\n" for user, hashed in sorted(entries.items())))
    os.chmod(tmp, 0o600)
    tmp.replace(path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise read-modify-write of the password file across processes (tests, demo, provisioning)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def upsert_credentials(path: Path, credentials: Iterable[tuple[str, str]]) -> int:
    """Add or replace users; returns how many entries changed."""
    hashed = [(user, hash_password(password)) for user, password in credentials]
    with _locked(path):
        entries = read_passwd(path)
        entries.update(hashed)
        write_passwd(path, entries)
    return len(hashed)


def revoke(path: Path, users: Iterable[str]) -> int:
    with _locked(path):
        entries = read_passwd(path)
        removed = sum(1 for user in list(users) if entries.pop(user, None) is not None)
        write_passwd(path, entries)
    return removed


def write_acl(path: Path, service_user: str) -> None:
    path.write_text(ACL_TEXT.format(service_user=service_user))


def reload_broker(pid_file: Path) -> bool:
    """Ask Mosquitto to re-read its password and ACL files (SIGHUP); False if it is not running."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
        return True
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
