"""User accounts and device credentials: the two kinds of secret an administrator hands out.

A new or reset password, and a newly provisioned device credential, are returned once to the caller and never
stored in clear or written to the audit log. Device credentials reuse core.provision (the broker's password
file and pattern ACL), so the page and ``quietfix provision`` give devices exactly the same rights.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import psycopg
from argon2 import PasswordHasher

from administration import repository as repo
from administration.errors import Conflict, NotFound, Rejected
from administration.models import Actor, UserAccount
from administration.reasons import field_error
from administration.service import _plain, _require, audit, changes
from core import provision
from core.settings import Settings

# 12 random bytes = 96 bits as 16 characters: a first password the user types once and then changes.
PASSWORD_BYTES = 12
MIN_PASSWORD = 10
_hasher = PasswordHasher()  # the same argon2 parameters as api/auth.py's hasher (library defaults)


def _scope(conn: psycopg.Connection, a: UserAccount) -> tuple[int | None, int | None]:
    """The customer / technician a user is bound to (a code nobody has is refused, as everywhere else)."""
    return (_require(conn, "customer_ids", a.customer_code, "customer_code", "customer") if a.customer_code else None,
            _require(conn, "technician_ids", a.technician_code, "technician_code", "technician")
            if a.technician_code else None)


def _password(given: str | None) -> str:
    if given is None:
        return secrets.token_urlsafe(PASSWORD_BYTES)
    if len(given) < MIN_PASSWORD or len(given) > 200:
        raise Rejected([field_error("password", "passwordLength", lo=MIN_PASSWORD, hi=200)])
    return given


def create_user(conn: psycopg.Connection, a: UserAccount, password: str | None, actor: Actor,
                at: datetime, *, password_hash: str | None = None) -> tuple[dict[str, Any], str]:
    """The new account and its first password (generated unless given), shown to the admin once.

    ``password_hash``: an argon2 hash of ``password`` made by the caller, for a batch of accounts sharing one
    known password (the demo's users): hashing is deliberately slow, and once is enough."""
    if repo.one(conn, "user_by_name", {"username": a.username}) is not None:
        raise Conflict(f"user {a.username!r} exists")
    customer_id, technician_id = _scope(conn, a)
    secret = _password(password)
    row = repo.one(conn, "insert_user", {
        "username": a.username, "password_hash": password_hash or _hasher.hash(secret), "role": a.role, "customer_id": customer_id,
        "technician_id": technician_id, "email": a.email, "language": a.language, "timezone": a.timezone})
    assert row is not None
    audit(conn, actor, at, "admin.user.created", "user", a.username, changes(None, row["row"]))
    return _plain(row["row"]), secret


def _user(conn: psycopg.Connection, username: str) -> tuple[int, dict[str, Any]]:
    row = repo.one(conn, "user_by_name", {"username": username})
    if row is None:
        raise NotFound(f"user {username!r} not found")
    return int(row["id"]), row["row"]


def update_user(conn: psycopg.Connection, a: UserAccount, actor: Actor, at: datetime) -> dict[str, Any]:
    """Role, scope, contact, language and zone. A role change takes effect at the user's next sign-in."""
    uid, before = _user(conn, a.username)
    customer_id, technician_id = _scope(conn, a)
    row = repo.one(conn, "update_user", {"id": uid, "role": a.role, "customer_id": customer_id,
                                         "technician_id": technician_id, "email": a.email, "language": a.language,
                                         "timezone": a.timezone})
    assert row is not None
    audit(conn, actor, at, "admin.user.updated", "user", a.username, changes(before, row["row"]))
    return _plain(row["row"])


def set_disabled(conn: psycopg.Connection, username: str, disabled: bool, actor: Actor, at: datetime) -> dict[str, Any]:
    uid, before = _user(conn, username)
    if disabled and actor.user_id == uid:
        raise Conflict("you cannot disable your own account")
    row = repo.one(conn, "set_user_disabled", {"id": uid, "disabled": disabled})
    assert row is not None
    audit(conn, actor, at, "admin.user.disabled" if disabled else "admin.user.enabled", "user", username,
          changes(before, row["row"]))
    return _plain(row["row"])


def reset_password(conn: psycopg.Connection, username: str, actor: Actor, at: datetime) -> str:
    """A new random password, shown once; the old one stops working at once."""
    uid, _ = _user(conn, username)
    secret = _password(None)
    conn.execute(repo.Q.set_user_password, {"id": uid, "password_hash": _hasher.hash(secret)})
    audit(conn, actor, at, "admin.user.password_reset", "user", username, {"before": None, "after": None})
    return secret


def provision_device(conn: psycopg.Connection, settings: Settings, device_id: str, actor: Actor,
                     at: datetime) -> str:
    """Create (or rotate) the device's broker credential; the caller shows it once. The audit row is written in
    ``conn``'s transaction; the broker's password file changes outside it (it cannot roll back), so the audit
    is written first and the caller commits only when this returns."""
    if repo.one(conn, "device_by_id", {"device_id": device_id}) is None:
        raise NotFound(f"device {device_id!r} not found")
    audit(conn, actor, at, "admin.device.provisioned", "device", device_id, {"credential": "issued (not logged)"})
    try:
        return provision.provision(settings, [device_id])[device_id]
    except ValueError as exc:
        raise Rejected([field_error("device_id", "notProvisionable", device=device_id, detail=str(exc))]) from None


def revoke_device(conn: psycopg.Connection, settings: Settings, device_id: str, actor: Actor, at: datetime) -> int:
    if repo.one(conn, "device_by_id", {"device_id": device_id}) is None:
        raise NotFound(f"device {device_id!r} not found")
    removed = provision.revoke(settings, [device_id])
    audit(conn, actor, at, "admin.device.revoked", "device", device_id, {"had_credential": bool(removed)})
    return removed
