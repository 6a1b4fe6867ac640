"""What one request may send (docs/trust.md, "Limits"): a body over the cap is 413 (photo uploads have their own,
larger cap), JSON nested too deeply is 422 before it is parsed, and a user's writes are rate-limited (429).
The real-server check that a 20 MB body never reaches memory is tests/security/test_trust_live.py."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.limits import json_depth
from core.settings import Settings
from quietfix.seed import seed
from tests.helpers import login

pytestmark = pytest.mark.integration


def test_json_depth_ignores_brackets_inside_strings() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[{{{{"}]}') == 3
    assert json_depth(b'"\\"[[["') == 0
    assert json_depth(b"[" * 5000 + b"]" * 5000) == 5000


@pytest.fixture()
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[TestClient]:
    seed(conn, devices=2, technicians=1, users=True)
    conn.commit()
    settings.api.max_body_bytes = 4096
    settings.api.max_photo_body_bytes = 64 * 1024
    settings.security.write_requests = 3
    with TestClient(create_app(settings)) as c:
        yield c


def test_oversized_bodies_are_413_and_photo_uploads_have_their_own_cap(client: TestClient) -> None:
    staff = login(client, "dispatcher")
    big = {"username": "x" * 5000, "password": "y"}
    assert client.post("/api/auth/token", json=big).status_code == 413
    # The escalation route takes photos: 10 kB passes the body cap there (and fails later, for its own reasons).
    r = client.post("/api/planning/work-orders/999999/escalate", headers=staff,
                    json={"reason": "r", "photos": ["data:image/png;base64," + "A" * 10_000]})
    assert r.status_code not in (413, 500), r.text
    r = client.post("/api/planning/work-orders/999999/escalate", headers=staff,
                    json={"reason": "r", "photos": ["A" * 70_000]})
    assert r.status_code == 413
    # A multipart upload streams to its route and is cut off at the cap: the customer's photo report.
    customer = login(client, "customer001")
    r = client.post("/api/portal/problems", headers=customer, data={"asset": "nope", "summary": "leaking"},
                    files={"photo": ("p.jpg", b"\xff" * 70_000, "image/jpeg")})
    assert r.status_code == 413, r.text
    r = client.post("/api/portal/problems", headers=customer, data={"asset": "nope", "summary": "leaking"},
                    files={"photo": ("p.jpg", b"\xff" * 10_000, "image/jpeg")})
    assert r.status_code not in (413, 500), r.text


def test_deep_json_is_422_not_500(client: TestClient) -> None:
    staff = login(client, "dispatcher")
    for depth in (33, 1500):  # 1500 would make Python's own parser fail with RecursionError
        body = b'{"kind": "*", "channel": "email", "x": ' + b"[" * depth + b"]" * depth + b"}"
        r = client.put("/api/knowledge/pump/bearing_wear", headers={**staff, "Content-Type": "application/json"},
                       content=body)
        assert r.status_code == 422 and "nested" in r.json()["detail"], r.text


def test_writes_are_rate_limited_per_user(client: TestClient) -> None:
    staff, other = login(client, "dispatcher"), login(client, "admin")
    answers = [client.post("/api/auth/logout", headers=staff).status_code for _ in range(2)]
    assert answers[0] == 204  # the second is 401: logout revoked the token, counted before it was refused
    staff = login(client, "dispatcher")
    codes = [client.put("/api/knowledge/pump/bearing_wear", headers=staff,
                        json={"probable_cause": "c", "skills": ["mechanical"], "repair_minutes": 60,
                              "severity": 2}).status_code for _ in range(3)]
    assert codes[-1] == 429 and 200 in codes
    r = client.put("/api/knowledge/pump/bearing_wear", headers=staff, json={})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert client.get("/api/auth/me", headers=staff).status_code == 200  # reads are not limited
    assert client.put("/api/knowledge/pump/bearing_wear", headers=other,
                      json={"probable_cause": "c", "skills": ["mechanical"], "repair_minutes": 60,
                            "severity": 2}).status_code == 200  # another user has their own budget


def test_every_array_in_a_request_schema_has_a_maximum_length(settings: Settings) -> None:
    spec = create_app(settings).openapi()
    schemas = spec["components"]["schemas"]
    unbounded: list[str] = []

    def walk(node: object, where: str, seen: frozenset[str]) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                if name not in seen:
                    walk(schemas[name], name, seen | {name})
                return
            if node.get("type") == "array" and "maxItems" not in node:
                unbounded.append(where)
            for key, value in node.items():
                walk(value, f"{where}.{key}", seen)
        elif isinstance(node, list):
            for item in node:
                walk(item, where, seen)

    bodies = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body is not None:
                bodies += 1
                walk(body, f"{method.upper()} {path}", frozenset())
    assert bodies >= 10 and unbounded == []
