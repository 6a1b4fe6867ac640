"""Run by tests/security/test_audit_atomic.py as its own process: one audited API write, and the process killed
(SIGKILL, no clean-up) right before or right after the COMMIT that carries the write and its audit row.

Usage: python -m tests.security.audit_kill_probe before|after knowledge|assign [work_order_id technician_id]
(QUIETFIX_DATABASE_URL names the database). "knowledge" commits with conn.commit(), "assign" in a
``with conn.transaction()`` block: both ways a route commits.
"""

from __future__ import annotations

import os
import signal
import sys

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from api.audit import AuditedConnection
from core.settings import load_settings
from tests.helpers import login

KNOWLEDGE = {"probable_cause": "killed mid-commit", "skills": ["mechanical"], "repair_minutes": 60, "severity": 2}


def main(mode: str, route: str, *ids: str) -> None:
    with TestClient(create_app(load_settings())) as client:
        headers = login(client, "dispatcher")
        real_commit = psycopg.Connection.commit

        def commit(self: psycopg.Connection) -> None:
            if isinstance(self, AuditedConnection):  # the request's connection, its audit row already inserted
                if mode == "before":
                    os.kill(os.getpid(), signal.SIGKILL)
                real_commit(self)
                os.kill(os.getpid(), signal.SIGKILL)
            real_commit(self)

        psycopg.Connection.commit = commit  # type: ignore[method-assign]
        if route == "knowledge":
            client.put("/api/knowledge/pump/bearing_wear", headers=headers, json=KNOWLEDGE)
        else:
            client.post(f"/api/board/work-orders/{ids[0]}/assign", headers=headers, json={"technician_id": int(ids[1])})
    sys.exit("the process should have been killed inside the commit")


if __name__ == "__main__":
    main(*sys.argv[1:])
