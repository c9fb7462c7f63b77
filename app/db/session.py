"""Engines and sessions: SQLite tuned for a small web app, PostgreSQL with connection checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_file(database: str | None) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # WAL lets readers go on while one writer commits; NORMAL sync is safe with WAL and much faster;
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


def make_engine(url: str) -> Engine:
    """An engine for ``url``; e.g. ``make_engine("sqlite:///./data/tutor.db")`` creates ./data if needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_file(parsed.database)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # Connections are pooled and handed between the server's threads, one thread at a time.
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    # pool_pre_ping replaces connections the server closed (restarts, idle timeouts) before they are used.
    return create_engine(parsed, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (pages render them after the transaction)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
