"""Who is calling: password login (argon2 hashes), signed bearer tokens, and the role/scope of the caller.

Object-level scope travels in the token's principal: a customer is bound to one customer id, a technician to
one technician id. Every query that lists or fetches data applies that scope (see ``api/queries.sql``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

ROLES = ("admin", "dispatcher", "technician", "customer")
# A working shift; a stolen token is useless by tomorrow.
TOKEN_TTL_S = 12 * 3600
_hasher = PasswordHasher()
_bearer = HTTPBearer(auto_error=False)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


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

    @property
    def sees_everything(self) -> bool:
        return self.role in ("admin", "dispatcher")


def issue_token(principal: Principal, secret: str, now: float | None = None) -> str:
    now = time.time() if now is None else now
    claims = {"sub": str(principal.user_id), "name": principal.username, "role": principal.role,
              "cid": principal.customer_id, "tid": principal.technician_id,
              "iat": int(now), "exp": int(now + TOKEN_TTL_S)}
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
                     claims.get("tid"))


def current_principal(request: Request,
                      creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    if creds is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "authentication required",
                            headers={"WWW-Authenticate": "Bearer"})
    return decode_token(creds.credentials, request.app.state.settings.api.secret_key)


def require_roles(*roles: str):  # noqa: ANN201 - returns a FastAPI dependency
    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "role not allowed")
        return principal
    return check


AnyUser = Annotated[Principal, Depends(current_principal)]
Staff = Annotated[Principal, Depends(require_roles("admin", "dispatcher"))]
