from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status

from api import repository as repo
from api.auth import AnyUser, Principal, issue_token, verify_password
from api.deps import Conn
from api.schemas import Token, TokenRequest

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def login(body: TokenRequest, request: Request, conn: Conn) -> Token:
    user = repo.user_by_name(conn, body.username)
    if user is None or not verify_password(user["password_hash"], body.password):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    principal = Principal(user["id"], user["username"], user["role"], user["customer_id"], user["technician_id"])
    return Token(access_token=issue_token(principal, request.app.state.settings.api.secret_key), role=user["role"])


@router.get("/me")
def me(principal: AnyUser) -> dict[str, object]:
    return {"username": principal.username, "role": principal.role, "customer_id": principal.customer_id,
            "technician_id": principal.technician_id}
