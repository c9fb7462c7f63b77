"""Run the Alembic migrations from code: ``upgrade(url)`` brings a database to the newest schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.db.session import make_engine


def migrations_dir() -> Path:
    """``migrations/`` beside the ``app`` package (a source checkout), else in the current directory."""
    candidates = (Path(__file__).resolve().parents[2] / "migrations", Path.cwd() / "migrations")
    for candidate in candidates:
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError(
        "cannot find the migrations folder; run from the project's directory (looked in "
        + ", ".join(str(c) for c in candidates)
        + ")"
    )


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` without reading alembic.ini (so logging stays as the caller set it)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # The config is an INI parser: a literal % (URL-encoded passwords) must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, *, revision: str = "head") -> None:
    """Apply every migration up to ``revision``; e.g. ``upgrade("sqlite:///./data/tutor.db")``."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def current_is_head(url: str) -> bool:
    """Whether the database has every migration applied."""
    return current_revision(url) == head_revision()
