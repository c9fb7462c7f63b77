"""Published cards kept for a moment: read once, and a change made in this process seen at once."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from query_count_support import counted_statements
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session
from users_support import make_user

import app.services.engine_cache as engine_cache
from app.db.models import Card, User
from app.services.authoring import create_card, set_status, update_card
from app.services.card_cache import CACHE_SECONDS, cached_card, published_card
from app.services.errors import NotFound
from app.services.spec_yaml import dump_yaml


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, "admin", "admin@example.org")


def test_a_card_read_once_is_served_again_without_a_query(engine: Engine, session: Session, loaded: Path) -> None:
    assert cached_card(engine, "two-students") is None

    with counted_statements(engine) as first:
        card = published_card(session=session, slug="two-students")
    with counted_statements(engine) as second:
        again = published_card(session=session, slug="two-students")

    assert first != []
    assert second == []
    assert again is card
    assert cached_card(engine, "two-students") is card
    assert (card.spec.slug, card.version) == ("two-students", 1)


def test_a_missing_card_is_not_kept(engine: Engine, session: Session, loaded: Path) -> None:
    for _ in range(2):
        with counted_statements(engine) as sent, pytest.raises(NotFound):
            published_card(session=session, slug="brand-new")
        assert sent != []  # asked each time
    assert cached_card(engine, "brand-new") is None


def test_a_new_version_published_here_is_seen_at_once(
    engine: Engine, session: Session, loaded: Path, admin: User, fixed_card: dict[str, Any]
) -> None:
    assert published_card(session=session, slug="two-students").version == 1
    changed = copy.deepcopy(fixed_card)
    changed["title"] = "Two students, again"

    saved = update_card(session=session, user=admin, slug="two-students", source=dump_yaml(changed))

    assert saved.new_version
    assert cached_card(engine, "two-students") is None
    card = published_card(session=session, slug="two-students")
    assert (card.version, card.spec.title) == (2, "Two students, again")


def test_an_archived_card_is_not_found_at_once(engine: Engine, session: Session, loaded: Path, admin: User) -> None:
    published_card(session=session, slug="drawn-kl")
    published_card(session=session, slug="two-students")

    set_status(session=session, user=admin, slug="drawn-kl", status="archived")

    with pytest.raises(NotFound):
        published_card(session=session, slug="drawn-kl")
    assert published_card(session=session, slug="two-students").version == 1  # read again, still there


def test_a_card_published_here_is_found_at_once(
    session: Session, loaded: Path, admin: User, fixed_card: dict[str, Any]
) -> None:
    source = dump_yaml({**fixed_card, "slug": "three-students", "title": "Three students"})
    create_card(session=session, user=admin, source=source)
    with pytest.raises(NotFound):
        published_card(session=session, slug="three-students")  # a draft

    set_status(session=session, user=admin, slug="three-students", status="published")

    assert published_card(session=session, slug="three-students").spec.title == "Three students"


def test_a_change_made_by_another_process_is_seen_within_the_cache_seconds(
    engine: Engine, session: Session, loaded: Path, admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(engine_cache, "time", SimpleNamespace(monotonic=lambda: now[0]))
    published_card(session=session, slug="drawn-kl")
    # Another server archives the card: its sessions' events do not reach this process.
    with engine.begin() as connection:
        connection.execute(update(Card.__table__).where(Card.__table__.c.slug == "drawn-kl").values(status="archived"))

    now[0] += CACHE_SECONDS / 2
    assert published_card(session=session, slug="drawn-kl").spec.slug == "drawn-kl"  # still the kept one
    now[0] += CACHE_SECONDS / 2
    with pytest.raises(NotFound):
        published_card(session=session, slug="drawn-kl")
