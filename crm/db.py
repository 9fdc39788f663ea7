"""Database engine behaviour that differs between SQLite and PostgreSQL.

SQLite is the embedded default and is served by several gunicorn workers plus
the scheduler process, so every connection gets WAL and a busy timeout.
pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; we take it
over as SQLAlchemy documents ("Serializable isolation / Savepoints / Transactional
DDL"), and begin write transactions with BEGIN IMMEDIATE: a deferred transaction
that later upgrades to a write fails at once with SQLITE_BUSY, whatever the
timeout (see datasette#2358).
"""

from __future__ import annotations

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _begin_statement() -> str:
    if has_request_context() and request.method in SAFE_METHODS:
        return "BEGIN"
    return "BEGIN IMMEDIATE"


def configure_engine(engine: Engine, busy_timeout_ms: int) -> None:
    """Attach the SQLite pragmas and transaction handling to one engine."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql(_begin_statement())
