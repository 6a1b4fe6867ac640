"""Who is calling: password login (argon2 hashes), signed bearer tokens, and the role/scope of the caller.

Object-level scope travels in the token's principal: a customer is bound to one customer id, a technician to
one technician id. Every query that lists or fetches data applies that scope (see ``api/queries.sql``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

# support = remote technical support (escalation tier 2), engineering = tier 3: they work escalation queues only
# (planning.escalation.ROLE_TIERS); neither dispatches nor is bound to a customer or technician.
ROLES = ("admin", "dispatcher", "technician", "customer", "support", "engineering")
# A working shift; a stolen token is useless by tomorrow.
TOKEN_TTL_S = 12 * 3600
_hasher = PasswordHasher()
_bearer = HTTPBearer(auto_error=False)
_state_lock = threading.Lock()
# Verified tokens remembered per app process (a token string is ~300 bytes): far above the users of one control
# room; when full the cache is simply emptied and refills from the next requests.
VERIFIED_TOKENS_MAX = 10_000
log = logging.getLogger(__name__)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


_DUMMY_HASH = _hasher.hash("quietfix-no-such-user")


def burn_verify(password: str) -> None:
    """Spend the same argon2 time for an unknown username as for a known one, so response time does not tell
    an attacker which usernames exist."""
    verify_password(_DUMMY_HASH, password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: str
    customer_id: int | None = None
    technician_id: int | None = None
    # Token id and expiry (epoch s), present when the principal came from a token; logout revokes the jti.
    jti: str | None = None
    expires_at: int | None = None

    @property
    def sees_everything(self) -> bool:
        return self.role in ("admin", "dispatcher")


def issue_token(principal: Principal, secret: str, now: float | None = None) -> str:
    now = time.time() if now is None else now
    claims = {"sub": str(principal.user_id), "name": principal.username, "role": principal.role,
              "cid": principal.customer_id, "tid": principal.technician_id,
              "iat": int(now), "exp": int(now + TOKEN_TTL_S), "jti": uuid.uuid4().hex}
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_token(token: str, secret: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired token",
                            headers={"WWW-Authenticate": "Bearer"}) from None
    if claims.get("role") not in ROLES:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token role")
    return Principal(int(claims["sub"]), str(claims.get("name", "")), claims["role"], claims.get("cid"),
                     claims.get("tid"), claims.get("jti"), int(claims["exp"]))


class RevocationList:
    """Token ids revoked before expiry (logout), cached per process and re-read from the database every
    ``refresh_s``: checking a set costs nothing per request, and a logout handled by another API process takes
    effect within ``refresh_s``. One request refreshes while the others keep using the current set, so a slow
    database never queues requests here; if it cannot be read, the last known set stays in force."""

    def __init__(self, load: Any, refresh_s: float, close: Any = None) -> None:
        self._load = load  # () -> set[str]
        self._close = close  # () -> None, releases what ``load`` holds
        self._refresh_s = refresh_s
        self._jtis: set[str] = set()
        self._loaded_at = float("-inf")
        self._refreshing = threading.Lock()

    def add(self, jti: str) -> None:
        self._jtis = self._jtis | {jti}

    def close(self) -> None:
        with self._refreshing:
            if self._close is not None:
                self._close()

    def __contains__(self, jti: object) -> bool:
        if time.monotonic() - self._loaded_at >= self._refresh_s:
            self._refresh(wait=self._loaded_at == float("-inf"))
        return jti in self._jtis

    async def holds(self, jti: str) -> bool:
        """``jti in self`` for the event loop: the set lookup runs inline; only a due refresh (one request per
        ``refresh_s``, or the very first) takes a thread hop, the same request that would have refreshed in the
        synchronous check. Requests arriving while another refresh runs use the current set, as before."""
        if time.monotonic() - self._loaded_at >= self._refresh_s:
            first = self._loaded_at == float("-inf")
            if first or not self._refreshing.locked():
                await run_in_threadpool(self._refresh, first)
        return jti in self._jtis

    def _refresh(self, wait: bool) -> None:
        # The very first load must finish (no set yet); later ones are skipped if another thread is at it.
        if not self._refreshing.acquire(blocking=wait):
            return
        try:
            if time.monotonic() - self._loaded_at < self._refresh_s:
                return
            try:
                self._jtis = set(self._load())
            except Exception as exc:  # noqa: BLE001 - any database error: keep the last known set
                log.warning("revoked-token list not refreshed", extra={"error": str(exc)[:200]})
            self._loaded_at = time.monotonic()
        finally:
            self._refreshing.release()


def revocations(app: Any) -> RevocationList:
    """The app's revocation list, created on first use (no lifespan hook needed)."""
    found = getattr(app.state, "revocations", None)
    if found is None:
        with _state_lock:
            found = getattr(app.state, "revocations", None)
            if found is None:
                from api import security_repo

                loader = security_repo.RevokedLoader(app.state.settings.database_url)
                found = RevocationList(loader.load, app.state.settings.security.revocation_refresh_s, loader.close)
                app.state.revocations = found
    return found


def verified_principal(app: Any, token: str) -> Principal:
    """``decode_token`` remembered per exact token string: a caller's repeat requests skip the HMAC and JSON
    parse (~10 % of the API's CPU under bench/api_load.py). Only tokens that passed the signature check are kept,
    keyed on the whole string (any change to a claim or the signature is a miss, verified afresh), and expiry is
    checked on every use exactly as PyJWT does (``exp <= now`` is expired). Revocation is checked by the caller on
    every request, cached or not."""
    cache: dict[str, Principal] | None = getattr(app.state, "verified_tokens", None)
    if cache is None:
        cache = app.state.verified_tokens = {}
    principal = cache.get(token)
    if principal is not None and principal.expires_at is not None and time.time() < principal.expires_at:
        return principal
    principal = decode_token(token, app.state.settings.api.secret_key)
    if len(cache) >= VERIFIED_TOKENS_MAX:
        cache.clear()
    cache[token] = principal
    return principal


async def current_principal(request: Request,
                            creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """``async def`` on purpose: the signature check is a few microseconds of CPU and the revocation check a set
    lookup, so running them on the event loop is cheaper than the thread-pool hop a sync dependency costs (the
    largest share of the API's CPU under bench/api_load.py). Revocation semantics are unchanged: a logout in
    this process is refused at once, one in another process within ``security.revocation_refresh_s``."""
    if creds is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "authentication required",
                            headers={"WWW-Authenticate": "Bearer"})
    principal = verified_principal(request.app, creds.credentials)
    if principal.jti is not None and await revocations(request.app).holds(principal.jti):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "token revoked", headers={"WWW-Authenticate": "Bearer"})
    return principal


def require_roles(*roles: str):
    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "role not allowed")
        return principal
    return check


AnyUser = Annotated[Principal, Depends(current_principal)]
Staff = Annotated[Principal, Depends(require_roles("admin", "dispatcher"))]
# Whoever works or oversees escalation queues; which tiers each role sees and works is per escalation.
EscalationDesk = Annotated[Principal, Depends(require_roles("admin", "dispatcher", "support", "engineering"))]
