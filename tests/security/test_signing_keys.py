"""Signing keys (docs/trust.md, "Signing keys"): generated once and shared through the database, a configured key
checked before start, rotation that keeps issued tokens valid until they expire."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api import auth, keys
from api.app import create_app
from api.auth import TOKEN_TTL_S, InvalidToken, Principal, decode_token, issue_token, key_holder
from api.keys import PUBLISHED_SECRETS, SigningKeyError
from core.settings import PROJECT_ROOT, Settings
from quietfix.seed import seed
from tests.helpers import login

pytestmark = pytest.mark.integration


@pytest.fixture()
def seeded(settings: Settings, conn: psycopg.Connection) -> Settings:
    seed(conn, devices=2, technicians=1, users=True)
    conn.commit()
    return settings


def test_every_api_process_signs_with_the_one_generated_key(seeded: Settings, db_url: str) -> None:
    with TestClient(create_app(seeded)) as one, TestClient(create_app(seeded)) as two:
        token = login(one, "dispatcher")
        assert two.get("/api/auth/me", headers=token).json()["role"] == "dispatcher"
    with psycopg.connect(db_url) as c:
        rows = c.execute("SELECT length(secret), retired_at FROM signing_keys").fetchall()
    assert rows == [(keys.GENERATED_SECRET_BYTES, None)]


@pytest.mark.parametrize("bad", sorted(PUBLISHED_SECRETS) + ["short-but-random-" + secrets.token_hex(4)])
def test_a_published_or_short_configured_key_refuses_to_start(settings: Settings, bad: str) -> None:
    with pytest.raises(SigningKeyError):
        create_app(settings.model_copy(update={"api": settings.api.model_copy(update={"secret_key": bad})}))


def test_quietfix_api_says_why_in_one_line(settings: Settings) -> None:
    env = {**os.environ, "QUIETFIX_DATABASE_URL": settings.database_url,
           "QUIETFIX_API__SECRET_KEY": "dev-insecure-local-only-change-me-in-production"}
    r = subprocess.run([sys.executable, "-m", "quietfix.cli", "api"], env=env, cwd=PROJECT_ROOT,
                       capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "QUIETFIX_API__SECRET_KEY" in lines[0] and "published" in lines[0], r.stderr


def test_a_configured_key_wins_and_its_predecessor_verifies_only(seeded: Settings) -> None:
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    before = seeded.model_copy(update={"api": seeded.api.model_copy(update={"secret_key": old})})
    with TestClient(create_app(before)) as c:
        old_token = login(c, "dispatcher")
        assert key_holder(c.app).ring.current.secret == old.encode()
    after = seeded.model_copy(update={"api": seeded.api.model_copy(
        update={"secret_key": new, "previous_secret_key": old})})
    with TestClient(create_app(after)) as c:
        assert c.get("/api/auth/me", headers=old_token).status_code == 200
        assert key_holder(c.app).ring.current.secret == new.encode()  # new tokens: the new key only
    alone = seeded.model_copy(update={"api": seeded.api.model_copy(update={"secret_key": new})})
    with TestClient(create_app(alone)) as c:
        assert c.get("/api/auth/me", headers=old_token).status_code == 401


def test_rotation_keeps_issued_tokens_until_they_expire(seeded: Settings, db_url: str) -> None:
    with TestClient(create_app(seeded)) as c:
        before = login(c, "dispatcher")
        old_kid = key_holder(c.app).ring.current.kid
        env = {**os.environ, "QUIETFIX_DATABASE_URL": db_url}
        env.pop("QUIETFIX_API__SECRET_KEY", None)
        r = subprocess.run([sys.executable, "-m", "quietfix.cli", "rotate-signing-key"], env=env, cwd=PROJECT_ROOT,
                           capture_output=True, text=True, check=False, timeout=60)
        assert r.returncode == 0, r.stderr
        # A second process that started after the rotation signs with the new key; this one learns it on sight.
        with TestClient(create_app(seeded)) as fresh:
            after = login(fresh, "dispatcher")
            assert key_holder(fresh.app).ring.current.kid != old_kid
            assert fresh.get("/api/auth/me", headers=before).status_code == 200  # the old key still verifies
        # This process started moments ago; an unknown kid re-reads the keys at most once per MISS_RELOAD_S (the
        # header is unsigned). Age its last read as production time would.
        key_holder(c.app)._loaded_at -= auth.MISS_RELOAD_S
        assert c.get("/api/auth/me", headers=after).status_code == 200
    with psycopg.connect(db_url) as conn:
        ring_later = keys.load(conn, TOKEN_TTL_S, now=datetime.now(UTC) + timedelta(seconds=TOKEN_TTL_S + 60))
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'signing_key.rotate'").fetchone()[0] == 1
    assert old_kid not in ring_later.verifying  # past its tokens' lifetime the retired key verifies nothing
    p = Principal(1, "x", "admin")
    retired = keys.SigningKey(old_kid, b"k" * 32)
    with pytest.raises(InvalidToken):
        decode_token(issue_token(p, retired), ring_later)
