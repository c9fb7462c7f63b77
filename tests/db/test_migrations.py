from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from app.db.migrate import alembic_config, current_is_head, current_revision, head_revision, upgrade
from app.db.models import Base
from app.db.session import make_engine


def test_the_database_is_at_head(database_url: str) -> None:
    assert head_revision() is not None
    assert current_revision(database_url) == head_revision()
    assert current_is_head(database_url)


def test_the_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_the_migrations_create_every_table_with_its_indexes(engine: Engine) -> None:
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) >= {
        "learner",
        "card",
        "card_version",
        "submission",
        "alembic_version",
    }
    indexed = {tuple(index["column_names"]) for index in inspector.get_indexes("submission")}
    assert {("learner_id", "card_id"), ("card_id", "created_at"), ("learner_id", "created_at")} <= indexed
    card_keys = {fk["referred_table"] for fk in inspector.get_foreign_keys("card")}
    assert card_keys == {"card_version"}


def test_upgrading_a_new_sqlite_file_creates_its_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'data' / 'tutor.db'}"
    assert not current_is_head(url)
    upgrade(url)
    upgrade(url)  # a second run finds nothing to do
    assert current_is_head(url)


def test_every_migration_can_be_undone_and_redone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tutor.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    assert current_revision(url) is None
    engine = make_engine(url)
    try:
        assert inspect(engine).get_table_names() == ["alembic_version"]
    finally:
        engine.dispose()
    upgrade(url)
    assert current_is_head(url)
