"""Database fixtures: database tests run on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.db.migrate import upgrade
from app.db.models import Base
from app.db.session import make_engine, make_sessionmaker
from app.services import accounts

POSTGRES_ENV = "TEST_DATABASE_URL"

# Argon2 with its production cost takes a fifth of a second per hash; the tests make hundreds of users.
# The same algorithm with the smallest cost keeps them quick (tests/services/test_accounts.py checks the real one).
FAST_PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "password_hasher", FAST_PASSWORD_HASHER)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per run; each test gets a copy (far faster than migrating)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")  # the engine is disposed afterwards, so the WAL is folded into the file
    return path


def worker_database_url(url: str, worker: str) -> str:
    """Under pytest-xdist each worker gets a database of its own (``test_gw0``, ...), created on first use."""
    if worker == "master":
        return url
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgresql_engine() -> Iterator[Engine]:
    """The PostgreSQL test database, emptied and migrated to head once per run."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: the PostgreSQL variant of this test is skipped")
    url = worker_database_url(url, os.environ.get("PYTEST_XDIST_WORKER", "master"))
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    upgrade(url)
    yield engine
    engine.dispose()


def empty_postgresql(engine: Engine) -> None:
    """Delete every row and restart the id sequences: ten times quicker than TRUNCATE on small tables."""
    with engine.begin() as connection:
        connection.execute(text("UPDATE card SET current_version_id = NULL"))  # cards and versions point both ways
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        sequences = connection.scalars(text("SELECT sequence_name FROM information_schema.sequences")).all()
        for sequence in sequences:
            connection.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a database at the newest migration with empty tables, private to this test."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "tutor.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    engine: Engine = request.getfixturevalue("postgresql_engine")
    empty_postgresql(engine)
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_sessionmaker(engine)() as session:
        yield session
