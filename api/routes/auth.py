"""Sign-in and sign-out. Bearer tokens in the Authorization header, never cookies, so no CSRF token is needed:
a browser never attaches the header to a cross-site request on its own (docs/security.md)."""
from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status

from api import audit, security_repo
from api import repository as repo
from api.auth import AnyUser, Principal, burn_verify, issue_token, key_holder, revocations, verify_password
from api.deps import Conn
from api.ratelimit import SlidingWindowLimiter, retry_after_header
from api.schemas import LocalePatch, Token, TokenRequest
from core import metrics
from core.clock import SystemClock, to_datetime
from i18n import resolve_locale


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    found = getattr(app.state, "revocations", None)
    if found is not None:  # created on first authenticated request; holds its own database connection
        found.close()
        app.state.revocations = None


router = APIRouter(prefix="/api/auth", tags=["auth"], lifespan=_lifespan)
_lock = threading.Lock()


def _limiter(request: Request) -> SlidingWindowLimiter:
    found = getattr(request.app.state, "login_limiter", None)
    if found is None:
        with _lock:
            found = getattr(request.app.state, "login_limiter", None)
            if found is None:
                sec = request.app.state.settings.security
                found = request.app.state.login_limiter = SlidingWindowLimiter(sec.login_attempts,
                                                                               sec.login_window_s)
    return found


@router.post("/token", response_model=Token,
             responses={401: {"description": "wrong username or password"},
                        429: {"description": "too many attempts; see Retry-After"}})
def login(body: TokenRequest, request: Request, conn: Conn) -> Token:
    ip = audit.client_ip(request) or "unknown"
    wait_s = _limiter(request).hit(body.username, ip)
    if wait_s:
        metrics.LOGIN_THROTTLED.inc()
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many sign-in attempts",
                            headers=retry_after_header(wait_s))
    user = repo.user_by_name(conn, body.username)
    if user is None:
        burn_verify(body.password)
    if user is None or not verify_password(user["password_hash"], body.password):
        audit.record(conn, body.username, "auth.login_failed", "user", body.username, client_ip=ip)
        conn.commit()
        metrics.LOGIN_FAILURES.inc()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    principal = Principal(user["id"], user["username"], user["role"], user["customer_id"], user["technician_id"])
    audit.record(conn, principal, "auth.login", "user", user["username"], client_ip=ip)
    conn.commit()
    return Token(access_token=issue_token(principal, key_holder(request.app).ring.current), role=user["role"])


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(principal: AnyUser, request: Request, conn: Conn) -> Response:
    """Revoke the presented token (its jti goes on the denylist until the token would have expired anyway)."""
    if principal.jti and principal.expires_at:
        security_repo.revoke(conn, principal.jti, principal.user_id, principal.expires_at)
        audit.record(conn, principal, "auth.logout", "user", principal.username, client_ip=audit.client_ip(request))
        conn.commit()
        revocations(request.app).add(principal.jti)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me")
def me(principal: AnyUser, conn: Conn) -> dict[str, object]:
    """Who is signed in, and the language and zone their pages use (None: the browser's; i18n.resolve_locale)."""
    row = repo.user_locale(conn, principal.user_id) or {}
    choice = resolve_locale(user_language=row.get("language"), user_timezone=row.get("timezone"),
                            chosen_at=row.get("locale_chosen_at"), linked_language=row.get("linked_language"),
                            linked_timezone=row.get("linked_timezone"))
    return {"username": principal.username, "role": principal.role, "customer_id": principal.customer_id,
            "technician_id": principal.technician_id, "language": choice.language, "timezone": choice.timezone}


@router.patch("/me", responses={422: {"description": "not a supported language or not an IANA zone"}})
def set_my_locale(body: LocalePatch, principal: AnyUser, request: Request, conn: Conn) -> dict[str, object]:
    """A person changes their own language or zone (the switch on every page); audited with before/after."""
    if body.language is None and body.timezone is None:
        return me(principal, conn)  # nothing to change, nothing chosen
    before = repo.user_locale(conn, principal.user_id) or {}
    at = to_datetime(getattr(request.app.state, "clock", SystemClock()).now())  # the demo's clock when set
    repo.set_user_locale(conn, principal.user_id, body.language, body.timezone, at)
    audit.record(conn, principal, "auth.locale_changed", "user", principal.username,
                 {"before": {"language": before.get("language"), "timezone": before.get("timezone")},
                  "after": {"language": body.language or before.get("language"),
                            "timezone": body.timezone or before.get("timezone")}},
                 client_ip=audit.client_ip(request))
    conn.commit()
    return me(principal, conn)
