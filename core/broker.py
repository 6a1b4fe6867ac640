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
import re
import secrets
import signal
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Mosquitto 2.0's own default iteration count for $7$ hashes; it verifies whatever count the line states.
PBKDF2_ITERATIONS = 101

ACL_TEXT = """\
# quietfix broker ACL. Service accounts see the whole tree (ingest publishes acks, diagnose commands); a device
# (username == device id) may publish only under its own topics and subscribe only to its own cmd and ack topics.
user {service_user}
topic readwrite qf/v1/#

pattern write qf/v1/%u/telemetry
pattern readwrite qf/v1/%u/status
pattern write qf/v1/%u/event
pattern write qf/v1/%u/cmd/result
pattern read qf/v1/%u/cmd
pattern read qf/v1/%u/ack
"""


# A username goes verbatim into the password file ("user:hash" lines) and, as %u, into ACL topic patterns: only
# the characters of a device id (docs/contracts.md) are safe in both; ':' '\n' '+' '#' '/' would not be.
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def validate_username(user: str) -> str:
    """Refuse names that could inject a password-file line or widen an ACL pattern."""
    if not USERNAME_RE.match(user):
        raise ValueError(f"invalid broker username {user!r}: allowed are [A-Za-z0-9_.-], 1 to 64 characters")
    return user


@contextmanager
def passwd_lock(path: Path) -> Iterator[None]:
    """Serialise read-modify-write of the password file across processes (two provisioners must not race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def upsert_credentials(path: Path, credentials: Iterable[tuple[str, str]]) -> int:
    """Add or replace users; returns how many entries changed."""
    pairs = [(validate_username(user), password) for user, password in credentials]
    with passwd_lock(path):
        entries = read_passwd(path)
        for user, password in pairs:
            entries[user] = hash_password(password)
        write_passwd(path, entries)
    return len(pairs)


def revoke(path: Path, users: Iterable[str]) -> int:
    names = [validate_username(user) for user in users]
    with passwd_lock(path):
        entries = read_passwd(path)
        removed = sum(1 for user in names if entries.pop(user, None) is not None)
        write_passwd(path, entries)
    return removed


def write_acl(path: Path, service_user: str) -> None:
    path.write_text(ACL_TEXT.format(service_user=validate_username(service_user)))


def render_config(template: Path, run_dir: Path, port: int, *, bind: str = "127.0.0.1",
                  tls_template: Path | None = None, tls_port: int | None = None,
                  tls_dir: Path | None = None) -> str:
    """The broker configuration for ``run_dir``: the plain listener, plus a TLS listener when asked.

    Same substitutions as scripts/setup.sh (@RUN@, @PORT@), so tests run a throwaway broker on exactly the
    project's configuration. ``tls_dir`` holds ca.crt, server.crt and server.key (deploy/tls/make-dev-ca.sh).
    """
    text = template.read_text().replace("@RUN@", str(run_dir)).replace("@PORT@", str(port))
    text = text.replace(f"listener {port} 127.0.0.1", f"listener {port} {bind}")
    if tls_template is not None:
        if tls_port is None or tls_dir is None:
            raise ValueError("a TLS listener needs tls_port and tls_dir")
        text += "\n" + tls_template.read_text().replace("@TLS_PORT@", str(tls_port)).replace(
            "@TLS_DIR@", str(tls_dir)).replace("@BIND@", bind)
    return text


def reload_broker(pid_file: Path) -> bool:
    """Ask Mosquitto to re-read its password and ACL files (SIGHUP); False if it is not running."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
        return True
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
