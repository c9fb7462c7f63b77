"""Engines and sessions: SQLite tuned for a small web app, PostgreSQL with connection checks."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL_SIZE = 48  # the server's 40 worker threads, the submission writer and the outbox worker, with room


def _sqlite_file(database: str | None) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # WAL lets readers go on while one writer commits. With WAL, synchronous=NORMAL syncs at checkpoints rather
    # than at every commit: the database stays consistent through any crash, and only a power cut (not a crash
    # of the server) can lose the last commits before the checkpoint; FULL would sync on every submission;
    # the busy timeout makes a second writer wait for the lock instead of failing at once;
    # SQLite enforces foreign keys only when asked to, per connection.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


# Statements after which SQLite holds its single write lock until the transaction ends.
_SQLITE_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class _WriterConnection(sqlite3.Connection):
    """A SQLite connection that takes its engine's write lock before its first write and drops it at the end.

    SQLite lets one transaction write at a time. Left to itself, every other thread that writes meanwhile
    retries under ``busy_timeout``, sleeping 1, 2, 5, 10 ... ms between tries, so the lock is often free
    while the waiters sleep: 40 threads writing short transactions had a p99 of 5-8 s. Queuing on a
    ``threading.Lock`` hands the lock to the next writer the moment a commit ends (p99 under 1 s, and 1.6-2x
    the writes a second on the same machine); readers are never held up (WAL). Other processes (several
    workers) still meet SQLite's own lock and busy timeout.
    """

    write_lock: threading.Lock | None = None
    _holding = False

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or _WriterCursor)

    def before_statement(self, sql: str) -> None:
        if self._holding or self.write_lock is None or not sql.lstrip()[:8].upper().startswith(_SQLITE_WRITES):
            return
        # Past the busy timeout, go on anyway: SQLite's own wait then decides, as it would without this lock.
        self._holding = self.write_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)

    def after_statement(self) -> None:
        if self._holding and not self.in_transaction:  # a write outside a transaction (autocommit) is done
            self._release()

    def _release(self) -> None:
        if self._holding and self.write_lock is not None:
            self._holding = False
            self.write_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()


class _WriterCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        connection = self.connection
        if isinstance(connection, _WriterConnection):
            connection.before_statement(sql)
            try:
                return super().execute(sql, parameters)
            finally:
                connection.after_statement()
        return super().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Self:
        connection = self.connection
        if isinstance(connection, _WriterConnection):
            connection.before_statement(sql)
            try:
                return super().executemany(sql, seq_of_parameters)
            finally:
                connection.after_statement()
        return super().executemany(sql, seq_of_parameters)


@dataclass(frozen=True)
class PoolOptions:
    """The connection pool and the statement limit: ``make_engine(url, pool=PoolOptions.from_settings(settings))``.

    The pool is per process: N workers open up to N × (size + max_overflow) connections to the database.
    """

    size: int = 5
    max_overflow: int = 10
    timeout: float = 30.0  # seconds a request waits for a free connection before failing
    recycle: int = -1  # seconds after which a connection is replaced; -1 never
    pre_ping: bool = True
    statement_timeout_ms: int = 0  # PostgreSQL only; SQLite waits on locks for SQLITE_BUSY_TIMEOUT_MS instead

    @classmethod
    def from_settings(cls, settings: Settings) -> PoolOptions:
        return cls(
            size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            timeout=settings.db_pool_timeout,
            recycle=settings.db_pool_recycle,
            pre_ping=settings.db_pool_pre_ping,
            statement_timeout_ms=settings.db_statement_timeout_ms,
        )

    def queue_pool_args(self) -> dict[str, Any]:
        return {
            "pool_size": self.size,
            "max_overflow": self.max_overflow,
            "pool_timeout": self.timeout,
            "pool_recycle": self.recycle,
        }


def _postgresql_options(url: URL, statement_timeout_ms: int) -> dict[str, Any]:
    """libpq ``options`` setting the statement timeout on every new connection, kept with any the URL has."""
    if not statement_timeout_ms:
        return {}
    given = url.query.get("options", "")
    given = " ".join(given) if isinstance(given, tuple) else given
    return {"options": f"{given} -c statement_timeout={statement_timeout_ms}".strip()}


def make_engine(url: str, *, pool: PoolOptions | None = None) -> Engine:
    """An engine for ``url``; e.g. ``make_engine("sqlite:///./data/tutor.db")`` creates ./data if needed.

    Without ``pool`` the engine has SQLAlchemy's pool defaults (the commands); the web app passes its settings.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_file(parsed.database)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # An in-memory database lives in one connection per thread: it has no pool to size.
        sized = pool.queue_pool_args() if pool is not None and path is not None else {}
        if pool is not None and sized:
            # A request keeps its connection between the thread-pool hops of its dependencies: with fewer
            # connections than threads, the threads waiting for one hold up the very requests that would give
            # one back, and everything stalls until the pool timeout. A SQLite connection is only a file
            # handle and the write lock queues the writers, so the pool may grow with the requests in flight.
            sized["max_overflow"] = -1
            # And keeps them: a connection past pool_size is closed when given back, and opening one (the file,
            # its pragmas) costs more than a submission's queries. As many as the threads that may hold one.
            sized["pool_size"] = max(sized["pool_size"], SQLITE_POOL_SIZE)
        # Connections are pooled and handed between the server's threads, one thread at a time.
        engine = create_engine(
            parsed,
            connect_args={
                "check_same_thread": False,
                "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                "factory": _WriterConnection,
            },
            **sized,
        )
        event.listen(engine, "connect", _on_sqlite_connect)
        write_lock = threading.Lock()  # one per engine: the writers of this process queue on it

        @event.listens_for(engine, "connect")
        def _share_write_lock(dbapi_connection: Any, connection_record: Any) -> None:
            if isinstance(dbapi_connection, _WriterConnection):
                dbapi_connection.write_lock = write_lock

        return engine
    if pool is None:
        # pool_pre_ping replaces connections the server closed (restarts, idle timeouts) before they are used.
        return create_engine(parsed, pool_pre_ping=True)
    return create_engine(
        parsed,
        pool_pre_ping=pool.pre_ping,
        connect_args=_postgresql_options(parsed, pool.statement_timeout_ms),
        **pool.queue_pool_args(),
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (pages render them after the transaction)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
