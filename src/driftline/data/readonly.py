"""Read-only database connections: the database refuses every write, whatever runs.

Used for the tables driftline only reads (a model's ``source:``) and for the read-only
commands' view of its own store (``driftline status`` and friends create nothing).
SQLite files are opened with ``mode=ro`` (a missing file is an error, never created);
every PostgreSQL transaction starts with ``SET TRANSACTION READ ONLY`` (so it also holds
behind a transaction-pooling proxy) and ``SET LOCAL TIME ZONE 'UTC'`` (so a naive
``timestamp`` column compares with UTC bounds as UTC).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

#: Databases driftline can read read-only (and write, for its own store).
DIALECTS = ("postgresql", "sqlite")


def read_only_url(url: URL) -> URL:
    """``url`` with SQLite's read-only URI mode (``file:PATH?mode=ro``); other URLs as is.

    Raises ValueError for an in-memory SQLite URL: there is nothing to read there.
    """
    if url.get_backend_name() != "sqlite":
        return url
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in database:
        raise ValueError("an in-memory SQLite database holds nothing to read: name a file")
    if url.query.get("uri") == "true" or database.startswith("file:"):
        sep = "&" if "?" in database else "?"
        return url.set(
            database=database if "mode=" in database else f"{database}{sep}mode=ro",
            query={**url.query, "uri": "true"},
        )
    return url.set(
        database=f"file:{quote(database)}", query={**url.query, "mode": "ro", "uri": "true"}
    )


def create_read_only_engine(url: str | URL, **kwargs: Any) -> Engine:
    """A SQLAlchemy engine on ``url`` whose connections cannot write.

    Raises ValueError for a database other than PostgreSQL and SQLite (its read-only
    mode is not known here) and for an in-memory SQLite URL; SQLAlchemy's own errors for
    a malformed URL or a missing driver.
    """
    parsed = sa.engine.make_url(url)
    backend = parsed.get_backend_name()
    if backend not in DIALECTS:
        raise ValueError(
            f"driftline reads PostgreSQL and SQLite databases read-only, not {backend!r}"
        )
    engine = sa.create_engine(read_only_url(parsed), **kwargs)
    if backend == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_query_only)
    else:
        sa.event.listen(engine, "begin", _postgresql_read_only)
    return engine


def _sqlite_query_only(dbapi_conn: Any, _record: Any) -> None:
    """Second lock on the door: SQLite refuses writes on this connection even if the file
    could be written (``mode=ro`` already refuses them)."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA query_only = ON")
    cur.execute("PRAGMA busy_timeout = 30000")
    cur.close()


def _postgresql_read_only(conn: Connection) -> None:
    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
