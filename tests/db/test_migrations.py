import json
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

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
        "user_account",
        "api_token",
        "deck",
        "deck_card",
        "submission_part",
        "manual_grade",
        "card_tally",
        "card_learner",
        "part_tally",
        "answer_tally",
        "alembic_version",
    }
    indexed = {tuple(index["column_names"]) for index in inspector.get_indexes("submission")}
    assert {("learner_id", "card_id", "score"), ("card_id", "created_at"), ("learner_id", "created_at")} <= indexed
    assert ("deck_id", "learner_id", "card_id", "attempt", "score", "pending") in indexed
    card_keys = {fk["referred_table"] for fk in inspector.get_foreign_keys("card")}
    assert card_keys == {"card_version", "user_account"}


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


def test_upgrading_keeps_submissions_and_backfills_their_parts(tmp_path: Path) -> None:
    """Submissions stored before per-part rows existed get them, so analytics count every submission."""
    url = f"sqlite:///{tmp_path / 'tutor.db'}"
    config = alembic_config(url)
    command.upgrade(config, "082f3502abc5")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO learner (id, guest_id, created_at) VALUES (1, 'g', '2026-01-01')"))
            connection.execute(
                text(
                    "INSERT INTO card (id, slug, title, tags, status, builtin, created_at, updated_at) "
                    "VALUES (1, 'c', 'C', '[]', 'published', 1, '2026-01-01', '2026-01-01')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO card_version (id, card_id, number, spec, spec_hash, created_at) "
                    "VALUES (1, 1, 1, '{}', 'h', '2026-01-01')"
                )
            )
            results = (
                '{"score": 0.5, "pending": false, "parts": ['
                '{"key": "x", "kind": "numeric", "score": 0.0, "correct": false, "pending": false,'
                ' "misconception": {"code": "log_base_2", "message": "bits"}},'
                '{"key": "y", "kind": "choice", "score": 1.0, "correct": true, "pending": false,'
                ' "misconception": null}]}'
            )
            connection.execute(
                text(
                    "INSERT INTO submission (id, learner_id, card_id, card_version_id, seed, answers, results,"
                    " score, pending, created_at) VALUES (1, 1, 1, 1, 0, :answers, :results, 0.5, 0, '2026-01-01')"
                ),
                {"answers": '{"x": " 0.0387 ", "y": "A"}', "results": results},
            )
        upgrade(url)
        with engine.connect() as connection:
            parts = connection.execute(
                text("SELECT part_key, answer, score, correct, misconception FROM submission_part ORDER BY part_key")
            ).all()
            attempt = connection.execute(text("SELECT attempt FROM submission")).scalar_one()
    finally:
        engine.dispose()
    assert [tuple(p) for p in parts] == [("x", "0.0387", 0.0, 0, "log_base_2"), ("y", "A", 1.0, 1, None)]
    assert attempt == 1


def test_webhooks_registered_before_events_were_chosen_keep_hearing_of_first_grades(tmp_path: Path) -> None:
    """A receiver written for the one event there was is not sent a second kind it may not understand."""
    url = f"sqlite:///{tmp_path / 'tutor.db'}"
    command.upgrade(alembic_config(url), "7c2d9e4f1a38")  # the revision before webhook events
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO webhook (id, url, secret, active, created_at) "
                    "VALUES (1, 'https://lms.example/hook', 'a-shared-secret-of-length', 1, '2026-01-01')"
                )
            )
        upgrade(url)
        with engine.connect() as connection:
            events = connection.execute(text("SELECT events FROM webhook")).scalar_one()
    finally:
        engine.dispose()
    assert json.loads(events) == ["submission.graded"]
