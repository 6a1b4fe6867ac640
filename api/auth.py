"""Who is calling: password login (argon2 hashes), signed bearer tokens, and the role/scope of the caller.

Object-level scope travels in the token's principal: a customer is bound to one customer id, a technician to
one technician id. Every query that lists or fetches data applies that scope (see ``api/queries.sql``).
"""

from __future__ import annotations

import logging
import re
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

from api import keys
from api.keys import Keyring, SigningKey
from api.ratelimit import SlidingWindowLimiter, retry_after_header

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
# Stored signing keys are re-read this often, so a rotation by another process is seen well within a token's life.
KEYRING_REFRESH_S = 60.0
# A token naming an unknown key triggers a re-read of the keys at most this often: the header is not signed, so
# an attacker could otherwise make every request read the database.
MISS_RELOAD_S = 1.0
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


def issue_token(principal: Principal, key: SigningKey | str, now: float | None = None) -> str:
    """A signed token for ``principal``; ``key`` is the keyring's current key (a str: a configured secret)."""
    if isinstance(key, str):
        key = keys.configured(key).current
    now = time.time() if now is None else now
    claims = {"sub": str(principal.user_id), "name": principal.username, "role": principal.role,
              "cid": principal.customer_id, "tid": principal.technician_id,
              "iat": int(now), "exp": int(now + TOKEN_TTL_S), "jti": uuid.uuid4().hex}
    return jwt.encode(claims, key.secret, algorithm="HS256", headers={"kid": key.kid})


class InvalidToken(HTTPException):
    """401 for any credential we cannot trust, whatever was wrong with it (the client learns nothing more)."""

    def __init__(self, detail: str = "invalid or expired token") -> None:
        super().__init__(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


class UnknownKey(InvalidToken):
    """The token names a key this process does not know (yet): the caller may reload the keyring once."""


# PostgreSQL bigint: ids beyond it cannot name a row, and would make a query fail instead of find nothing.
_BIGINT_MAX = 2**63 - 1
_SUB_RE = re.compile(r"[1-9][0-9]{0,18}")
# Token ids are uuid4 hex (32 chars); anything much longer is not ours.
_JTI_MAX = 64


def decode_token(token: str, ring: Keyring | str, now: float | None = None) -> Principal:
    """The principal a token names, or :class:`InvalidToken` (401) for anything malformed or hostile: a bad
    signature, another algorithm or ``none``, an unknown key, a missing claim, a claim of the wrong type, an
    unknown role, a role without its scope id. Never any other exception."""
    if isinstance(ring, str):
        ring = keys.configured(ring)
    now = time.time() if now is None else now
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken() from None
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidToken()
    secret = ring.secret_for(kid, now)
    if secret is None:
        raise UnknownKey()
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub", "role"]})
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError):
        raise InvalidToken() from None
    return _principal(claims)


def _int_or_none(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 < value <= _BIGINT_MAX:
        raise InvalidToken()
    return value


def _principal(claims: Any) -> Principal:
    if not isinstance(claims, dict):
        raise InvalidToken()
    sub, role, name, exp, jti = (claims.get(k) for k in ("sub", "role", "name", "exp", "jti"))
    if not isinstance(sub, str) or not _SUB_RE.fullmatch(sub) or int(sub) > _BIGINT_MAX:
        raise InvalidToken()
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidToken("invalid token role")
    if name is not None and not isinstance(name, str):
        raise InvalidToken()
    if type(exp) is not int or (jti is not None and (not isinstance(jti, str) or len(jti) > _JTI_MAX)):
        raise InvalidToken()
    cid, tid = _int_or_none(claims.get("cid")), _int_or_none(claims.get("tid"))
    if (role == "customer" and cid is None) or (role == "technician" and tid is None):
        raise InvalidToken()
    return Principal(int(sub), name or "", role, cid, tid, jti, exp)


class RevocationList:
    """A set kept in the database, cached per process: the token ids revoked before expiry (logout), and (a
    second instance) the users that may use a token. Re-read from the database every ``refresh_s``: checking a set costs nothing per request, and a logout handled by another API process takes
    effect within ``refresh_s``. One request refreshes while the others keep using the current set, so a slow
    database never queues requests here; if it cannot be read, the last known set stays in force."""

    def __init__(self, load: Any, refresh_s: float, close: Any = None) -> None:
        self._load = load  # () -> set of hashable members (token ids; active users' (id, role, cid, tid))
        self._close = close  # () -> None, releases what ``load`` holds
        self._refresh_s = refresh_s
        self._jtis: set[Any] = set()
        self._loaded_at = float("-inf")
        self._refreshing = threading.Lock()

    def add(self, jti: Any) -> None:
        self._jtis = self._jtis | {jti}

    def close(self) -> None:
        with self._refreshing:
            if self._close is not None:
                self._close()

    def __contains__(self, jti: Any) -> bool:
        if time.monotonic() - self._loaded_at >= self._refresh_s:
            self._refresh(wait=self._loaded_at == float("-inf"))
        return jti in self._jtis

    async def holds(self, jti: Any) -> bool:
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
                # Same connection, same refresh: users that exist and are enabled, with their current role/scope.
                app.state.active_users = RevocationList(loader.active_users,
                                                        app.state.settings.security.revocation_refresh_s)
                app.state.user_lookup = loader.user_active
    return found


def active_users(app: Any) -> RevocationList:
    revocations(app)
    return app.state.active_users


class KeyHolder:
    """The process's keyring; stored keys are re-read every ``KEYRING_REFRESH_S`` and when a token names a key
    not seen yet (rotated by another process), at most once per ``MISS_RELOAD_S``."""

    def __init__(self, ring: Keyring, load: Any = None) -> None:
        self.ring = ring
        self._load = load  # () -> Keyring; None for configured keys, which never change while running
        self._loaded_at = time.monotonic()

    @property
    def stale(self) -> bool:
        return self._load is not None and time.monotonic() - self._loaded_at >= KEYRING_REFRESH_S

    async def reload(self, on_miss: bool = False) -> bool:
        if self._load is None or (on_miss and time.monotonic() - self._loaded_at < MISS_RELOAD_S):
            return False
        self._loaded_at = time.monotonic()
        try:
            self.ring = await run_in_threadpool(self._load)
        except Exception as exc:  # noqa: BLE001 - database unreachable: keep verifying with the keys we have
            log.warning("signing keys not reloaded", extra={"error": str(exc)[:200]})
            return False
        return True


def key_holder(app: Any) -> KeyHolder:
    """The app's keys: set up by the lifespan (api/app.py); built here for apps used without it."""
    found = getattr(app.state, "keys", None)
    if found is None:
        with _state_lock:
            found = getattr(app.state, "keys", None)
            if found is None:
                found = app.state.keys = make_key_holder(app.state.settings)
    return found


def make_key_holder(settings: Any) -> KeyHolder:
    """Configured keys when ``QUIETFIX_API__SECRET_KEY`` is set (checked: :func:`api.keys.check_configured`),
    else the database's, generated on first use."""
    api = settings.api
    if api.secret_key is not None:
        keys.check_configured(api.secret_key)
        return KeyHolder(keys.configured(api.secret_key, api.previous_secret_key, time.time() + TOKEN_TTL_S))
    import psycopg

    def load() -> Keyring:
        with psycopg.connect(settings.database_url, connect_timeout=5) as conn:
            return keys.load(conn, TOKEN_TTL_S)

    return KeyHolder(load(), load)


def verified_principal(app: Any, token: str) -> Principal:
    """``decode_token`` remembered per exact token string: a caller's repeat requests skip the HMAC and JSON
    parse (~10 % of the API's CPU under bench/api_load.py). Only tokens that passed the signature check are kept,
    keyed on the whole string (any change to a claim or the signature is a miss, verified afresh), and expiry is
    checked on every use exactly as PyJWT does (``exp <= now`` is expired). Revocation and whether the user still
    exists are checked by the caller on every request, cached or not."""
    cache: dict[str, Principal] | None = getattr(app.state, "verified_tokens", None)
    if cache is None:
        cache = app.state.verified_tokens = {}
    principal = cache.get(token)
    if principal is not None and principal.expires_at is not None and time.time() < principal.expires_at:
        return principal
    principal = decode_token(token, key_holder(app).ring)
    if len(cache) >= VERIFIED_TOKENS_MAX:
        cache.clear()
    cache[token] = principal
    return principal


async def current_principal(request: Request,
                            creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """``async def`` on purpose: the signature check is a few microseconds of CPU and the revocation and user
    checks set lookups, so running them on the event loop is cheaper than the thread-pool hop a sync dependency
    costs (the largest share of the API's CPU under bench/api_load.py). A logout in this process is refused at
    once, one in another process within ``security.revocation_refresh_s``; so is a deleted or disabled user, or
    one whose role or scope changed since the token was signed."""
    if creds is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "authentication required",
                            headers={"WWW-Authenticate": "Bearer"})
    app = request.app
    holder = key_holder(app)
    if holder.stale:
        await holder.reload()
    try:
        principal = verified_principal(app, creds.credentials)
    except UnknownKey:
        if not await holder.reload(on_miss=True):
            raise
        principal = verified_principal(app, creds.credentials)
    if principal.jti is not None and await revocations(app).holds(principal.jti):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "token revoked", headers={"WWW-Authenticate": "Bearer"})
    users = active_users(app)
    member = (principal.user_id, principal.role, principal.customer_id, principal.technician_id)
    if not await users.holds(member):
        # Not in this process's copy: a user created since it was read, or one deleted, disabled or changed.
        # One primary-key read decides (only a correctly signed token gets this far).
        if await run_in_threadpool(app.state.user_lookup, principal.user_id) != member:
            raise InvalidToken("user unknown, disabled or changed")
        users.add(member)
    request.state.principal = principal
    await _limit_writes(request, principal)
    return principal


async def _limit_writes(request: Request, principal: Principal) -> None:
    """Per-user budget of writes (``security.write_requests`` per ``write_window_s``): 429 + Retry-After."""
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    app = request.app
    limiter = getattr(app.state, "write_limiter", None)
    if limiter is None:
        sec = app.state.settings.security
        limiter = app.state.write_limiter = SlidingWindowLimiter(sec.write_requests, sec.write_window_s)
    wait_s = limiter.hit(f"user:{principal.user_id}", "writes")
    if wait_s:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many writes; slow down",
                            headers=retry_after_header(wait_s))


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
