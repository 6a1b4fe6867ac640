"""/api/auth/me carries the language and zone a person's pages use; PATCH changes one's own (audited, 422 on
a language the catalogues lack or a zone IANA does not know)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from quietfix.seed import DEMO_PASSWORD, seed

pytestmark = pytest.mark.integration


@pytest.fixture()
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[TestClient]:
    seed(conn, devices=4, technicians=2, users=True)
    conn.execute("UPDATE technicians SET language = 'zh-CN', timezone = 'Asia/Urumqi' WHERE code = 'T01'")
    conn.commit()
    with TestClient(create_app(settings)) as c:
        yield c


def _auth(client: TestClient, user: str) -> dict[str, str]:
    r = client.post("/api/auth/token", json={"username": user, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_me_resolves_language_and_zone_and_a_user_changes_their_own(client: TestClient, conn) -> None:
    staff, tech = _auth(client, "dispatcher"), _auth(client, "tech01")
    me = client.get("/api/auth/me", headers=staff).json()
    # language not chosen: the browser's; the zone is the one the organisation gave the account (the seed: Shanghai)
    assert (me["language"], me["timezone"]) == (None, "Asia/Shanghai")
    me = client.get("/api/auth/me", headers=tech).json()
    assert (me["language"], me["timezone"]) == ("zh-CN", "Asia/Urumqi")  # the technician's own record

    r = client.patch("/api/auth/me", headers=tech, json={"language": "en"})
    assert r.status_code == 200 and (r.json()["language"], r.json()["timezone"]) == ("en", "Asia/Urumqi")
    assert client.get("/api/auth/me", headers=tech).json()["language"] == "en"  # the choice wins from now on

    bad = client.patch("/api/auth/me", headers=staff, json={"language": "fr", "timezone": "Mars/Base"})
    assert bad.status_code == 422
    assert {tuple(e["loc"])[-1] for e in bad.json()["detail"]} == {"language", "timezone"}
    rows = conn.execute("SELECT actor, details FROM audit_log WHERE action = 'auth.locale_changed'").fetchall()
    assert [(a, d["before"]["language"], d["after"]["language"]) for a, d in rows] == [("tech01", "en", "en")]
