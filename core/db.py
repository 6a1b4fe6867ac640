"""Database access: connections, the pool, and creating the database itself on a fresh machine."""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=autocommit)


def make_pool(url: str, *, min_size: int = 1, max_size: int = 8, name: str = "quietfix",
              connection_class: type[psycopg.Connection] = psycopg.Connection) -> ConnectionPool:
    """A pool that opens lazily-but-now, and waits for the database rather than failing fast at start-up."""
    pool = ConnectionPool(url, min_size=min_size, max_size=max_size, name=name, open=False,
                          connection_class=connection_class)
    pool.open(wait=False)
    return pool


def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist; return True when it was created."""
    params = conninfo_to_dict(url)
    dbname = str(params.get("dbname") or "postgres")
    admin_url = make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        log.info("database created", extra={"dbname": dbname})
        return True


def drop_database(url: str) -> None:
    params = conninfo_to_dict(url)
    dbname = str(params["dbname"])
    admin_url = make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def clone_database(template_url: str, new_name: str) -> str:
    """Create ``new_name`` as a copy of the template database (fast per-test isolation); returns its URL."""
    template = str(conninfo_to_dict(template_url)["dbname"])
    admin_url = make_conninfo(template_url, dbname="postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(new_name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(new_name), sql.Identifier(template)))
    return make_conninfo(template_url, dbname=new_name)
