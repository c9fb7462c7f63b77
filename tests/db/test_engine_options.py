"""DB_POOL_* and DB_STATEMENT_TIMEOUT_MS reach the engine: the pool's size, overflow, timeout, recycle, pre-ping,
and PostgreSQL's statement_timeout on every connection."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

from app.config import Settings
from app.db.session import SQLITE_POOL_SIZE, PoolOptions, make_engine
from app.main import create_app


def test_settings_become_pool_options(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "DB_POOL_SIZE": "12",
        "DB_MAX_OVERFLOW": "3",
        "DB_POOL_TIMEOUT": "2.5",
        "DB_POOL_RECYCLE": "600",
        "DB_POOL_PRE_PING": "false",
        "DB_STATEMENT_TIMEOUT_MS": "1500",
    }.items():
        monkeypatch.setenv(name, value)
    assert PoolOptions.from_settings(Settings(_env_file=None)) == PoolOptions(
        size=12, max_overflow=3, timeout=2.5, recycle=600, pre_ping=False, statement_timeout_ms=1500
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("DB_POOL_SIZE", "0"), ("DB_MAX_OVERFLOW", "-1"), ("DB_POOL_TIMEOUT", "0"), ("DB_STATEMENT_TIMEOUT_MS", "-5")],
)
def test_a_setting_out_of_range_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.lower()):
        Settings(_env_file=None)


def test_the_apps_engine_is_sized_by_the_settings(database_url: str, tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        secret_key="k" * 32,
        db_pool_size=7,
        db_max_overflow=2,
        db_pool_timeout=4,
        db_pool_recycle=900,
    )
    app = create_app(settings)
    try:
        pool = app.state.engine.pool
        assert isinstance(pool, QueuePool)
        assert (pool._timeout, pool._recycle) == (4, 900)
        # A SQLite connection is only a file handle: its pool grows with the requests in flight and keeps as many
        # as the threads that may hold one (app.db.session).
        if database_url.startswith("postgresql"):
            assert (pool.size(), pool._max_overflow) == (7, 2)
        else:
            assert (pool.size(), pool._max_overflow) == (SQLITE_POOL_SIZE, -1)
        with app.state.engine.connect() as connection:
            assert connection.scalar(text("SELECT 1")) == 1
    finally:
        app.state.engine.dispose()


def test_an_in_memory_sqlite_database_keeps_its_own_pool() -> None:
    engine = make_engine("sqlite://", pool=PoolOptions(size=3))
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT 1")) == 1
    finally:
        engine.dispose()


def test_the_statement_timeout_cancels_a_long_statement_on_postgresql(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no statement timeout (its busy timeout bounds the wait for a lock)")
    engine = make_engine(database_url, pool=PoolOptions(statement_timeout_ms=200))
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SHOW statement_timeout")) == "200ms"
            with pytest.raises(OperationalError, match="statement timeout"):
                connection.execute(text("SELECT pg_sleep(2)"))
    finally:
        engine.dispose()
    unlimited = make_engine(database_url, pool=PoolOptions())
    try:
        with unlimited.connect() as connection:
            assert connection.scalar(text("SHOW statement_timeout")) == "0"
    finally:
        unlimited.dispose()


def test_the_timeout_is_added_to_options_the_url_already_has(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("libpq options are PostgreSQL's")
    engine = make_engine(
        f"{database_url}?options=-c%20lock_timeout%3D1234", pool=PoolOptions(statement_timeout_ms=5000)
    )
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SHOW statement_timeout")) == "5s"
            assert connection.scalar(text("SHOW lock_timeout")) == "1234ms"
    finally:
        engine.dispose()
