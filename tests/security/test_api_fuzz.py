"""Schemathesis against the app's own OpenAPI schema, signed in as admin (who reaches every route's logic):
whatever the generated input, the API answers 2xx/4xx, never 5xx. Bounded examples keep it a few seconds."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from api.app import create_app
from core.settings import Settings
from quietfix.seed import DEMO_PASSWORD, seed

pytestmark = pytest.mark.integration

# Enough to hit each parameter's edges (empty, huge, unicode, wrong types) in every operation; the suite stays fast.
# A deeper one-off run: QF_FUZZ_EXAMPLES=300 pytest tests/security/test_api_fuzz.py (docs/trust.md has the last one).
EXAMPLES_PER_OPERATION = int(os.environ.get("QF_FUZZ_EXAMPLES", "20"))
# Sign-in verifies an argon2 hash per request (deliberately ~0.1-0.5 s); a few cases cover its input handling.
EXAMPLES_FOR = {("POST", "/api/auth/token"): 5}
# Logout would revoke the token the rest of the run uses; its input is only the token, covered elsewhere.
# The live-update stream never ends by design (server-sent events); its auth is covered in tests/api.
SKIP = {("POST", "/api/auth/logout"), ("GET", "/api/live")}


@pytest.fixture()
def signed_in(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, dict[str, str]]]:
    seed(conn, devices=3, technicians=1, users=True)
    conn.commit()
    # One admin sends every generated write: the per-user write limit would answer 429 after 120 of them and
    # hide the routes behind it from the fuzzer (the limit itself: test_limits.py).
    settings.security.write_requests = 10**9
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = client.post("/api/auth/token", json={"username": "admin", "password": DEMO_PASSWORD})
        yield client, {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_no_generated_request_causes_a_server_error(signed_in) -> None:
    client, auth = signed_in
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    failures: list[str] = []
    operations = 0
    cases = [0]
    throttled = [0]
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        operations += 1

        limit = EXAMPLES_FOR.get((operation.method.upper(), operation.path), EXAMPLES_PER_OPERATION)

        @given(case=operation.as_strategy())
        @hsettings(max_examples=limit, deadline=None, database=None,
                   suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            kwargs = case.as_transport_kwargs(base_url="http://testserver")
            kwargs.pop("cookies", None)
            kwargs["headers"] = {**kwargs.get("headers", {}), **auth}
            if isinstance(kwargs.get("data"), (bytes, str)):  # an encoded multipart body (uploads): raw content
                kwargs["content"] = kwargs.pop("data")
            response = client.request(**kwargs)
            cases[0] += 1
            throttled[0] += response.status_code == 429
            if response.status_code >= 500:
                failures.append(f"{kwargs['method']} {kwargs['url']} {kwargs.get('params')} "
                                f"-> {response.status_code}: {response.text[:200]}")

        check()
    print(f"schemathesis: {operations} operations, {cases[0]} requests (up to {EXAMPLES_PER_OPERATION} per operation)")
    for failure in failures:
        print("5xx:", failure)
    assert operations >= 9
    assert failures == [], failures[:3]
    assert throttled[0] == 0  # every generated request reached its route
