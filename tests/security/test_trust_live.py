"""The issue's "done when", against a real `quietfix api` process on default settings (no signing key set):
tokens signed with the old public default or naming a non-numeric user are 401, and a 20 MB body is refused
with 413 while the server's memory does not grow by the body's size (docs/trust.md)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator

import jwt
import jwt.warnings
import psycopg
import pytest

from api.keys import PUBLISHED_SECRETS
from core.settings import PROJECT_ROOT, Settings
from quietfix.seed import DEMO_PASSWORD, seed
from tests.helpers import wait_for
from tests.services import free_port

pytestmark = pytest.mark.integration

BODY_20MB = 20 * 1024 * 1024


@pytest.fixture()
def api(settings: Settings, conn: psycopg.Connection) -> Iterator[tuple[int, int]]:
    """(port, pid) of a freshly started `quietfix api` with default settings on the test's database."""
    seed(conn, devices=2, technicians=1, users=True)
    conn.commit()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIETFIX_API__")}
    env.update({"QUIETFIX_DATABASE_URL": settings.database_url, "QUIETFIX_MQTT_URL": settings.mqtt_url,
                "QUIETFIX_API__PORT": str(port), "QUIETFIX_LOG_LEVEL": "WARNING"})
    proc = subprocess.Popen([sys.executable, "-m", "quietfix.cli", "api"], env=env, cwd=PROJECT_ROOT)
    try:
        wait_for(lambda: _status(port, "/healthz") == 200, timeout_s=60)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _status(port: int, path: str, token: str | None = None) -> int | None:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _post_raw(port: int, head: bytes, body_chunks: Iterator[bytes]) -> bytes:
    """Send a request as a client that keeps sending until the server stops listening; returns the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head)
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
        except OSError:
            pass  # the server answered and closed: exactly what a refused body should see
        answer = b""
        try:
            while (part := s.recv(65536)):
                answer += part
        except OSError:
            pass
        return answer


def test_old_default_key_and_non_numeric_sub_are_401(api: tuple[int, int], settings: Settings) -> None:
    port, _ = api
    assert _status(port, "/api/auth/me") == 401
    now = int(time.time())
    for secret in PUBLISHED_SECRETS:
        with warnings.catch_warnings():  # an old default is shorter than HS256 wants: that is the point
            warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
            forged = jwt.encode({"sub": "1", "role": "admin", "exp": now + 600}, secret, algorithm="HS256")
        assert _status(port, "/api/auth/me", forged) == 401, secret
        assert _status(port, "/api/board/view", forged) == 401, secret
    # A real sign-in works on the generated key, and a token with that very key but "sub": "admin" does not.
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/auth/token", method="POST",
                                 data=json.dumps({"username": "admin", "password": DEMO_PASSWORD}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        token = json.loads(r.read())["access_token"]
    assert _status(port, "/api/auth/me", token) == 200
    with psycopg.connect(settings.database_url) as c:
        kid, secret = c.execute("SELECT kid, secret FROM signing_keys WHERE retired_at IS NULL").fetchone()
    assert len(bytes(secret)) >= 32 and jwt.get_unverified_header(token)["kid"] == kid
    named = jwt.encode({"sub": "admin", "role": "admin", "exp": now + 600}, bytes(secret), algorithm="HS256",
                       headers={"kid": kid})
    assert _status(port, "/api/auth/me", named) == 401


def test_a_20mb_body_is_refused_without_the_server_holding_it(api: tuple[int, int]) -> None:
    port, pid = api
    before = _rss_kb(pid)
    chunk = b"x" * 65536
    declared = _post_raw(port, b"POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % BODY_20MB, (chunk for _ in range(BODY_20MB // len(chunk))))
    assert declared.startswith(b"HTTP/1.1 413"), declared[:200]
    # Chunked: no length announced, so the cap is counted as the body streams in.
    hexlen = b"%x\r\n" % len(chunk)
    streamed = _post_raw(port, b"POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n",
                         (hexlen + chunk + b"\r\n" for _ in range(BODY_20MB // len(chunk))))
    assert streamed.startswith(b"HTTP/1.1 413"), streamed[:200]
    # Not JSON (an upload, a form): streamed through to the route, counted, cut off at the cap.
    upload = _post_raw(port, b"POST /api/auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n",
                       (hexlen + chunk + b"\r\n" for _ in range(BODY_20MB // len(chunk))))
    assert upload.startswith(b"HTTP/1.1 413"), upload[:200]
    grown_kb = _rss_kb(pid) - before
    assert grown_kb < 8 * 1024, f"server grew by {grown_kb} kB for three refused 20 MB bodies"
    assert _status(port, "/healthz") == 200  # and it still serves
