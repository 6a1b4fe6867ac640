"""The keys that sign and verify API tokens: configured, or generated once and kept in the database.

Why the database: every API process (``quietfix api --workers N``, several hosts behind a balancer) must verify
the tokens the others signed, and the database is the one store they all share and that only the service reads.
A configured ``QUIETFIX_API__SECRET_KEY`` wins (a secret store in production); it must be at least 32 bytes and
never a value that was ever published in this repository, or the API refuses to start.

Rotation keeps sessions alive: a retired key verifies (never signs) until the last token it signed has expired.
Tokens name their key in the ``kid`` header; a token without ``kid`` is checked against the signing key only.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from core.sql import Queries

Q = Queries(__file__, "security.sql")
# HS256 keys shorter than the hash's output (32 bytes) are below its strength; RFC 7518 section 3.2 requires it.
MIN_SECRET_BYTES = 32
GENERATED_SECRET_BYTES = 32
# Every signing secret that was ever in this repository (old defaults and test literals; `git log -p -S
# secret_key`): public, so anyone could sign with them. Refused as a configured key.
PUBLISHED_SECRETS = frozenset({
    "dev-insecure-change-me",
    "dev-insecure-local-only-change-me-in-production",
    "another-secret-of-at-least-32-bytes!",
    "s" * 32,
})


class SigningKeyError(ValueError):
    """The configured key must not be used; the message is one line for the operator."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: bytes


@dataclass(frozen=True)
class Keyring:
    """The key that signs new tokens and every key that may verify one (kid -> secret, verify-until epoch s)."""

    current: SigningKey
    verifying: dict[str, tuple[bytes, float | None]] = field(default_factory=dict)

    def secret_for(self, kid: str | None, now: float) -> bytes | None:
        if kid is None:
            return self.current.secret
        found = self.verifying.get(kid)
        if found is None:
            return None
        secret, until = found
        return secret if until is None or now < until else None


def configured_kid(secret: bytes) -> str:
    """A stable, non-secret name for a configured key (a hash prefix: 48 bits say nothing about 256)."""
    return "cfg-" + hashlib.sha256(secret).hexdigest()[:12]


def check_configured(secret: str, name: str = "QUIETFIX_API__SECRET_KEY") -> None:
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise SigningKeyError(f"{name} is shorter than {MIN_SECRET_BYTES} bytes; unset it to have quietfix "
                              f"generate one, or set 32+ random bytes (python -c 'import secrets; "
                              f"print(secrets.token_urlsafe(32))')")
    if secret in PUBLISHED_SECRETS:
        raise SigningKeyError(f"{name} is a value published in the quietfix repository, so anyone can sign "
                              f"tokens with it; unset it or set 32+ random bytes")


def configured(secret: str, previous: str | None = None, previous_until: float | None = None) -> Keyring:
    """The keyring of explicitly configured keys (``previous`` verifies only, until ``previous_until``)."""
    key = SigningKey(configured_kid(secret.encode()), secret.encode())
    verifying: dict[str, tuple[bytes, float | None]] = {key.kid: (key.secret, None)}
    if previous:
        old = previous.encode()
        verifying[configured_kid(old)] = (old, previous_until)
    return Keyring(key, verifying)


def load(conn: psycopg.Connection, token_ttl_s: float, now: datetime | None = None) -> Keyring:
    """The stored keys, creating the first one if there is none (race-free across processes)."""
    now = now or datetime.now(UTC)
    rows = conn.execute(Q.signing_keys, {"now": now, "ttl_s": token_ttl_s}).fetchall()
    if not any(retired is None for _, _, retired in rows):
        conn.execute(Q.create_first_signing_key, {"kid": _new_kid(), "now": now,
                                                   "secret": secrets.token_bytes(GENERATED_SECRET_BYTES)})
        conn.commit()
        rows = conn.execute(Q.signing_keys, {"now": now, "ttl_s": token_ttl_s}).fetchall()
    current = next(SigningKey(kid, bytes(secret)) for kid, secret, retired in rows if retired is None)
    verifying = {kid: (bytes(secret), None if retired is None else retired.timestamp() + token_ttl_s)
                 for kid, secret, retired in rows}
    return Keyring(current, verifying)


def rotate(conn: psycopg.Connection, now: datetime | None = None) -> str:
    """Retire the current stored key and create a new one in one transaction; returns the new kid. Processes
    pick it up when they meet a token naming it, or restart; until then they keep signing with the old key,
    which every process still accepts for a token lifetime."""
    now = now or datetime.now(UTC)
    conn.execute(Q.retire_signing_key, {"now": now})
    kid = _new_kid()
    conn.execute(Q.create_first_signing_key, {"kid": kid, "now": now,
                                               "secret": secrets.token_bytes(GENERATED_SECRET_BYTES)})
    return kid


def _new_kid() -> str:
    return "db-" + secrets.token_hex(6)
