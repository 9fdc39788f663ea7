"""Database engine behaviour that differs between SQLite and PostgreSQL.

SQLite is the embedded default and is served by several gunicorn workers plus
the scheduler process, so every connection gets WAL and a busy timeout.
pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; we take it
over as SQLAlchemy documents ("Serializable isolation / Savepoints / Transactional
DDL"), and begin write transactions with BEGIN IMMEDIATE: a deferred transaction
that later upgrades to a write fails at once with SQLITE_BUSY, whatever the
timeout (see datasette#2358).

On PostgreSQL a request with a safe method (GET, HEAD, OPTIONS) reads in a READ
ONLY transaction: a page that tries to write fails loudly instead of writing
behind a link. Such a transaction ends with COMMIT, which for a transaction that
cannot write is the same as ROLLBACK on the server; but psycopg forgets every
prepared statement of the connection on ROLLBACK (a rolled-back transaction may
have dropped what they refer to) and keeps them on COMMIT. Kept, the statements
every page runs (the signed-in user, the list's count) are planned once per
connection instead of once per request: psycopg prepares a statement on its
sixth run. The mode is set when the request is dispatched, so code that only
borrows a request context (a CLI command, a test's ``test_request_context()``)
writes as usual. A migration that changes a column's type makes a statement
prepared before it fail once ("cached plan must not change result type"); that
transaction ends with a real ROLLBACK, which drops the connection's statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, has_request_context, request
from psycopg.pq import TransactionStatus
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_ONLY = "crm.read_only"  # the request environ key: this request only reads
# Set while ``read_transaction()`` begins its transaction: it only reads, whatever the request's method.
_READING: ContextVar[bool] = ContextVar("crm_reading", default=False)


def init_app(app: Flask, db) -> None:
    """Attach the transaction handling of the app's database to its engine and requests."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
    elif engine.dialect.name == "postgresql":
        _configure_postgresql(engine)

        @app.before_request
        def _reads_only():
            request.environ[READ_ONLY] = request.method in SAFE_METHODS

        @app.teardown_request
        def _end_read_only(_error):
            # Normally the session ends right after this; ending a read-only transaction
            # here keeps it from outliving its request when something holds the app
            # context open (a test between two requests, say).
            if request.environ.get(READ_ONLY) and db.session.registry.has():
                session = db.session()
                if session.in_transaction():
                    session.rollback()


def _begin_statement() -> str:
    if _READING.get() or (has_request_context() and request.method in SAFE_METHODS):
        return "BEGIN"
    return "BEGIN IMMEDIATE"


@contextmanager
def read_transaction(session) -> Iterator[None]:
    """End the session's transaction and run the block in one that only reads; end that one after it.

    For long work that reads (parsing an uploaded list and checking it against the
    leads) inside a POST or the scheduler, whose transactions otherwise begin with
    BEGIN IMMEDIATE: on SQLite that holds the database's single write lock, and
    every other user's write and the scheduler's jobs wait on it, then fail with
    "database is locked". A deferred BEGIN takes no lock, and under WAL writers go
    on beside the reader; on PostgreSQL the transaction is READ ONLY. Nothing may be
    pending when the block starts (it would be committed unasked), and nothing is
    flushed inside it; what was read is expired after it.
    """
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("read_transaction() with changes pending: commit or flush them first")
    session.commit()
    token = _READING.set(True)
    try:
        session.connection()  # begins the session's transaction now, in that mode; other connections keep theirs
    finally:
        _READING.reset(token)
    try:
        with session.no_autoflush:
            yield
    finally:
        session.rollback()  # it wrote nothing; on PostgreSQL a read-only transaction ends with COMMIT anyway


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
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


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # psycopg sends BEGIN with the first statement, so the mode still applies.
        if _READING.get() or (has_request_context() and request.environ.get(READ_ONLY)):
            connection.connection.dbapi_connection.read_only = True

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection, _record):
        if dbapi_connection is not None and dbapi_connection.read_only:
            dbapi_connection.read_only = None  # the server's default again, for the next user

    dialect = engine.dialect  # this engine's own instance: no other engine is affected
    rollback = dialect.do_rollback

    def do_rollback(dbapi_connection):
        healthy = dbapi_connection.pgconn.transaction_status == TransactionStatus.INTRANS
        if dbapi_connection.read_only and healthy:
            dbapi_connection.commit()  # nothing to undo, and it keeps the prepared statements
        else:
            rollback(dbapi_connection)

    dialect.do_rollback = do_rollback


def insert_ignoring_duplicates(table, *, keys: list[str]):
    """``INSERT … ON CONFLICT (keys) DO NOTHING`` in the current database's dialect.

    Two workers recording the same fact at the same moment (a sign-in wait, an alert
    already sent) both succeed; the second writes nothing.
    """
    from crm.extensions import db  # crm.extensions builds the engine this module configures

    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing(index_elements=keys)
