from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion, Learner, Submission
from app.db.session import make_engine, make_sessionmaker


def add_card(session: Session, slug: str = "kl-basics") -> tuple[Card, CardVersion]:
    card = Card(slug=slug, title="KL basics", tags=["kl"], status="published", builtin=True)
    session.add(card)
    session.flush()
    version = CardVersion(card_id=card.id, number=1, spec={"slug": slug, "params": {"P": [0.5, 0.5]}}, spec_hash="a")
    session.add(version)
    session.flush()
    card.current_version_id = version.id
    session.commit()
    return card, version


def test_a_card_and_its_version_point_at_each_other(session: Session) -> None:
    card, version = add_card(session)
    session.expunge_all()
    stored = session.get_one(Card, card.id)
    assert stored.current_version_id == version.id
    assert stored.tags == ["kl"]
    assert session.get_one(CardVersion, version.id).spec == {"slug": "kl-basics", "params": {"P": [0.5, 0.5]}}


def test_timestamps_come_back_timezone_aware_in_utc(session: Session) -> None:
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    session.add(Learner(guest_id="g1", created_at=moment))
    session.add(Learner(guest_id="g2"))
    session.commit()
    session.expunge_all()
    first, second = session.scalars(select(Learner).order_by(Learner.id)).all()
    assert first.created_at == moment
    assert first.created_at.tzinfo == UTC
    assert second.created_at.tzinfo == UTC
    assert abs(datetime.now(UTC) - second.created_at) < timedelta(minutes=1)


def test_naive_timestamps_are_refused(session: Session) -> None:
    session.add(Learner(guest_id="g1", created_at=datetime(2026, 3, 1)))
    with pytest.raises(Exception, match="timezone-aware"):
        session.commit()


def test_version_numbers_are_unique_per_card(session: Session) -> None:
    card, _ = add_card(session)
    session.add(CardVersion(card_id=card.id, number=1, spec={}, spec_hash="b"))
    with pytest.raises(IntegrityError):
        session.commit()


def test_guest_ids_are_unique(session: Session) -> None:
    session.add_all([Learner(guest_id="same"), Learner(guest_id="same")])
    with pytest.raises(IntegrityError):
        session.commit()


def test_foreign_keys_are_enforced(session: Session) -> None:
    card, version = add_card(session)
    session.add(
        Submission(
            learner_id=999,
            card_id=card.id,
            card_version_id=version.id,
            seed=0,
            answers={},
            results={},
            score=0.0,
            pending=False,
        )
    )
    with pytest.raises(IntegrityError):
        session.commit()


def test_a_bad_status_is_refused(session: Session) -> None:
    session.add(Card(slug="x", title="X", tags=[], status="deleted", builtin=False))
    with pytest.raises(IntegrityError):
        session.commit()


def test_sqlite_connections_use_wal_and_wait_for_the_lock(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'folder' / 'tutor.db'}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert pragma("PRAGMA busy_timeout").scalar() == 30_000
            assert pragma("PRAGMA foreign_keys").scalar() == 1
        assert (tmp_path / "new" / "folder" / "tutor.db").exists()
    finally:
        engine.dispose()


def test_objects_stay_readable_after_commit(engine: Engine) -> None:
    with make_sessionmaker(engine)() as session:
        learner = Learner(guest_id="g")
        session.add(learner)
        session.commit()
    assert learner.guest_id == "g"
    assert learner.id is not None
