"""Every malformed or hostile credential is a 401, never a 500 (docs/trust.md, "Tokens").

Hypothesis signs arbitrary claim sets with the right key: ``decode_token`` either returns a principal whose every
field has the right type, or raises the 401; through the app, no such token is ever answered with a 5xx. A user
that was deleted or disabled, or whose role changed, loses their tokens at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from api import keys
from api.app import create_app
from api.auth import ROLES, InvalidToken, Principal, decode_token, issue_token, key_holder
from core.settings import Settings
from quietfix.seed import seed
from tests.helpers import login

KEY = secrets.token_urlsafe(64)  # long enough for HS512 too (the other-algorithm cases)
RING = keys.configured(KEY)
NOW = int(time.time())

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True), st.text(max_size=30), st.sampled_from(["1", "admin", "0", "-1",
                                                                                       "1e3", " 1", "9" * 25]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                      max_leaves=6)
# Mostly our own claim names, with plausible and hostile values, so the interesting branches are reached.
claim_sets = st.dictionaries(
    st.one_of(st.sampled_from(["sub", "role", "name", "cid", "tid", "exp", "iat", "jti", "nbf", "aud"]),
              st.text(max_size=8)),
    st.one_of(values, st.sampled_from(list(ROLES)), st.just(NOW + 3600), st.just(NOW - 10)), max_size=9)


def _sign(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    return jwt.encode(claims, RING.current.secret, algorithm="HS256",
                      headers={"kid": RING.current.kid, **(header or {})})


def _raw(header: Any, claims: Any) -> str:
    """A token built by hand, for headers and payloads PyJWT refuses to produce."""
    def part(value: Any) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")
    signing_input = part(header) + b"." + part(claims)
    mac = hmac.new(RING.current.secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()


@hsettings(max_examples=600, deadline=None)
@given(claim_sets)
def test_any_signed_claim_set_is_a_typed_principal_or_a_401(claims: dict[str, Any]) -> None:
    try:
        p = decode_token(_sign(claims), RING)
    except InvalidToken as exc:
        assert exc.status_code == 401
        return
    assert type(p.user_id) is int and p.user_id > 0 and str(p.user_id) == claims["sub"]
    assert p.role in ROLES and isinstance(p.username, str) and type(p.expires_at) is int
    assert p.customer_id is None or type(p.customer_id) is int
    assert p.technician_id is None or type(p.technician_id) is int


@pytest.mark.parametrize("token", [
    "", "a.b.c", "....", "Bearer x",
    jwt.encode({"sub": "1", "role": "admin", "exp": NOW + 60}, key=None, algorithm="none"),
    jwt.encode({"sub": "1", "role": "admin", "exp": NOW + 60}, KEY, algorithm="HS512"),
    jwt.encode({"sub": "1", "role": "admin", "exp": NOW + 60}, KEY, algorithm="HS384"),
    _sign({"sub": "admin", "role": "admin", "exp": NOW + 60}),
    _sign({"sub": 1, "role": "admin", "exp": NOW + 60}),
    _sign({"sub": "1", "role": "root", "exp": NOW + 60}),
    _sign({"sub": "1", "role": "admin"}),
    _sign({"role": "admin", "exp": NOW + 60}),
    _sign({"sub": "1", "role": "customer", "exp": NOW + 60}),  # a customer bound to no customer
    _sign({"sub": "1", "role": "admin", "exp": NOW + 60, "cid": "2"}),
    _sign({"sub": "1", "role": "admin", "exp": NOW + 60, "cid": True}),
    _sign({"sub": "1", "role": "admin", "exp": str(NOW + 60)}),
    _raw({"alg": "HS256", "kid": 5}, {"sub": "1", "role": "admin", "exp": NOW + 60}),
    _raw({"alg": "HS256", "kid": RING.current.kid}, ["not", "an", "object"]),
    _raw({"alg": "HS256", "kid": RING.current.kid, "crit": ["x"]}, {"sub": "1", "role": "admin", "exp": NOW + 60}),
    _sign({"sub": "1", "role": "admin", "exp": NOW + 60}, {"kid": "someone-else"}),
    _sign({"sub": "99999999999999999999", "role": "admin", "exp": NOW + 60}),
])
def test_hostile_tokens_are_401(token: str) -> None:
    with pytest.raises(InvalidToken) as err:
        decode_token(token, RING)
    assert err.value.status_code == 401


@pytest.fixture()
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[TestClient]:
    seed(conn, devices=2, technicians=1, users=True)
    conn.commit()
    settings.security.revocation_refresh_s = 0.0  # every request re-reads users and revocations: no waiting here
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.mark.integration
def test_no_signed_claim_set_makes_the_api_answer_5xx(client: TestClient) -> None:
    current = key_holder(client.app).ring.current
    seen: set[int] = set()

    @hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(claim_sets)
    def probe(claims: dict[str, Any]) -> None:
        token = jwt.encode(claims, current.secret, algorithm="HS256", headers={"kid": current.kid})
        r = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        seen.add(r.status_code)
        assert r.status_code < 500, (claims, r.status_code, r.text)

    probe()
    assert 401 in seen


@pytest.mark.integration
def test_deleted_disabled_or_changed_users_lose_their_tokens(client: TestClient, db_url: str) -> None:
    current = key_holder(client.app).ring.current
    with psycopg.connect(db_url) as c:
        users = {r[1]: r for r in c.execute("SELECT id, username, role, customer_id, technician_id FROM users")}

    def token(username: str, **change: Any) -> dict[str, str]:
        uid, name, role, cid, tid = users[username]
        p = Principal(uid, name, role, cid, tid)
        return {"Authorization": f"Bearer {issue_token(Principal(**{**p.__dict__, **change}), current)}"}

    assert client.get("/api/auth/me", headers=token("dispatcher")).status_code == 200
    # A role the user does not hold (an old token after a demotion, or a forged claim with the right key).
    assert client.get("/api/auth/me", headers=token("dispatcher", role="admin")).status_code == 401
    assert client.get("/api/auth/me", headers=token("dispatcher", user_id=999_999)).status_code == 401
    staff = login(client, "dispatcher")
    with psycopg.connect(db_url) as c:
        c.execute("UPDATE users SET disabled = true WHERE username = 'dispatcher'")
    # Refused within security.revocation_refresh_s (0 here: at the next request).
    assert client.get("/api/auth/me", headers=staff).status_code == 401
    assert client.post("/api/auth/token", json={"username": "dispatcher", "password": "quietfix-demo"}) \
        .status_code == 401
    customer = login(client, "customer001")
    with psycopg.connect(db_url) as c:
        c.execute("DELETE FROM users WHERE username = 'customer001'")
    assert client.get("/api/auth/me", headers=customer).status_code == 401


@pytest.mark.integration
def test_an_unknown_username_costs_one_argon2_verification_too(client: TestClient,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Response time must not tell which usernames exist: an unknown one is verified against a dummy hash."""
    from api import auth

    calls: list[str] = []
    real = auth._hasher

    class Counting:
        def verify(self, hashed: str, password: str) -> bool:
            calls.append(hashed)
            return real.verify(hashed, password)

    monkeypatch.setattr(auth, "_hasher", Counting())
    assert client.post("/api/auth/token", json={"username": "nobody-here", "password": "x"}).status_code == 401
    assert client.post("/api/auth/token", json={"username": "dispatcher", "password": "x"}).status_code == 401
    assert len(calls) == 2 and calls[0] == auth._DUMMY_HASH and calls[1] != auth._DUMMY_HASH
