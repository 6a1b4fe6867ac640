"""The API's security records: revoked tokens (the denylist :class:`api.auth.RevocationList` caches) and the
technician-to-device check for commands."""

from __future__ import annotations

from datetime import datetime, timezone

import psycopg
from psycopg_pool import ConnectionPool

from core.sql import Queries

Q = Queries(__file__, "security.sql")
# Revocation reads must not queue behind a saturated pool for long; the cached set is used meanwhile.
POOL_TIMEOUT_S = 2.0


def revoke(conn: psycopg.Connection, jti: str, user_id: int, expires_at: int, now: datetime | None = None) -> None:
    conn.execute(Q.revoke_token, {"jti": jti, "user_id": user_id, "at": now or datetime.now(timezone.utc),
                                  "exp": datetime.fromtimestamp(expires_at, tz=timezone.utc)})


def load_revoked(pool: ConnectionPool) -> set[str]:
    with pool.connection(timeout=POOL_TIMEOUT_S) as conn:
        return {row[0] for row in conn.execute(Q.revoked_jtis, {"now": datetime.now(timezone.utc)})}


def technician_on_device(conn: psycopg.Connection, technician_id: int, device_id: str) -> bool:
    row = conn.execute(Q.technician_on_device, {"device_id": device_id, "tid": technician_id}).fetchone()
    return bool(row and row[0])
