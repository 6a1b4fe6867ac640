"""The API's security records: revoked tokens (the denylist :class:`api.auth.RevocationList` caches) and the
technician-to-device check for commands."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from core.sql import Queries

Q = Queries(__file__, "security.sql")
# A database that does not answer within this is treated as down; the cached set is used meanwhile.
CONNECT_TIMEOUT_S = 2


def revoke(conn: psycopg.Connection, jti: str, user_id: int, expires_at: int, now: datetime | None = None) -> None:
    conn.execute(Q.revoke_token, {"jti": jti, "user_id": user_id, "at": now or datetime.now(UTC),
                                  "exp": datetime.fromtimestamp(expires_at, tz=UTC)})


class RevokedLoader:
    """Reads the denylist over its own connection, never the request pool: a request holding a pooled connection
    while waiting for a second one to check its token would starve the pool under load."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.Connection | None = None

    def load(self) -> set[str]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        try:
            return {row[0] for row in self._conn.execute(Q.revoked_jtis, {"now": datetime.now(UTC)})}
        except psycopg.OperationalError:
            self._conn.close()
            raise

    def active_users(self) -> set[tuple[int, str, int | None, int | None]]:
        """(id, role, customer_id, technician_id) of every enabled user: a token must match one exactly."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        try:
            return {tuple(row) for row in self._conn.execute(Q.active_users)}  # type: ignore[misc]
        except psycopg.OperationalError:
            self._conn.close()
            raise

    def user_active(self, user_id: int) -> tuple[int, str, int | None, int | None] | None:
        """One enabled user's (id, role, customer_id, technician_id), None if there is no such enabled user."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        row = self._conn.execute(Q.user_active, {"id": user_id}).fetchone()
        return tuple(row) if row else None  # type: ignore[return-value]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def technician_on_device(conn: psycopg.Connection, technician_id: int, device_id: str) -> bool:
    row = conn.execute(Q.technician_on_device, {"device_id": device_id, "tid": technician_id}).fetchone()
    return bool(row and row[0])
