"""Export and import: one YAML file per card; exporting then importing gives the same cards and no new versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from users_support import make_user

import app.services.authoring as authoring
from app.db.models import Card, CardVersion, User
from app.services.bank import CardFileError
from app.services.card_export import export_cards, import_cards
from app.services.spec_yaml import dump_yaml


@pytest.fixture
def instructor(session: Session) -> User:
    return make_user(session, "instructor", "ada@example.org")


def snapshot(session: Session) -> dict[str, tuple[str, str, int]]:
    """Per slug: the status, the current spec hash and how many versions the card has."""
    versions = select(CardVersion.card_id, func.count().label("n")).group_by(CardVersion.card_id).subquery()
    rows = session.execute(
        select(Card.slug, Card.status, CardVersion.spec_hash, versions.c.n)
        .join(CardVersion, CardVersion.id == Card.current_version_id)
        .join(versions, versions.c.card_id == Card.id)
    )
    return {slug: (status, digest, count) for slug, status, digest, count in rows}


def test_export_then_import_changes_nothing(
    session: Session, loaded: Path, instructor: User, tmp_path: Path, fixed_card: dict[str, Any]
) -> None:
    draft = {**fixed_card, "slug": "my-draft", "title": "My draft"}
    authoring.create_card(session=session, user=instructor, source=dump_yaml(draft))
    authoring.update_card(
        session=session, user=instructor, slug="my-draft", source=dump_yaml({**draft, "tags": ["v2"]})
    )
    before = snapshot(session)

    files = export_cards(session=session, folder=tmp_path / "out")
    report = import_cards(session=session, path=tmp_path / "out")

    assert sorted(path.name for path in files) == ["drawn-kl.yaml", "my-draft.yaml", "two-students.yaml"]
    assert yaml.safe_load((tmp_path / "out" / "my-draft.yaml").read_text())["tags"] == ["v2"]
    assert (report.created, report.updated) == ((), ())
    assert sorted(report.unchanged) == ["drawn-kl", "my-draft", "two-students"]
    assert snapshot(session) == before


def test_import_into_an_empty_database_makes_the_same_cards(session: Session, loaded: Path, tmp_path: Path) -> None:
    before = snapshot(session)
    export_cards(session=session, folder=tmp_path / "out")
    session.execute(Card.__table__.update().values(current_version_id=None))
    session.execute(CardVersion.__table__.delete())
    session.execute(Card.__table__.delete())
    session.commit()

    report = import_cards(session=session, path=tmp_path / "out")

    assert sorted(report.created) == ["drawn-kl", "two-students"]
    after = snapshot(session)
    assert {slug: digest for slug, (_, digest, _) in after.items()} == {
        slug: digest for slug, (_, digest, _) in before.items()
    }
    assert {status for status, _, _ in after.values()} == {"draft"}  # imported cards wait to be published


def test_import_makes_versions_and_new_drafts_with_an_owner(
    session: Session, loaded: Path, instructor: User, tmp_path: Path, fixed_card: dict[str, Any]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "two-students.yaml").write_text(dump_yaml({**fixed_card, "title": "Revised"}))
    (folder / "brand-new.yaml").write_text(dump_yaml({**fixed_card, "slug": "brand-new"}))

    report = import_cards(session=session, path=folder, owner=instructor)

    assert (report.created, report.updated) == (("brand-new",), ("two-students",))
    new = session.scalars(select(Card).where(Card.slug == "brand-new")).one()
    assert (new.status, new.owner_id, new.builtin) == ("draft", instructor.id, False)
    revised = session.scalars(select(Card).where(Card.slug == "two-students")).one()
    assert (revised.title, revised.status, revised.owner_id) == ("Revised", "published", None)
    assert snapshot(session)["two-students"][2] == 2


def test_import_refuses_bad_files_with_lines_and_writes_nothing(
    session: Session, tmp_path: Path, fixed_card: dict[str, Any]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-good.yaml").write_text(dump_yaml(fixed_card))
    (folder / "b-bad.yaml").write_text("slug: bad\ntitle: [unclosed\n")
    (folder / "c-same.yaml").write_text(dump_yaml(fixed_card))

    with pytest.raises(CardFileError) as caught:
        import_cards(session=session, path=folder)

    assert caught.value.problems[0].startswith(f"{folder / 'b-bad.yaml'}: line 3: yaml: not valid YAML")
    assert (
        caught.value.problems[1]
        == f"{folder / 'c-same.yaml'}: slug: 'two-students' is already the slug of {folder / 'a-good.yaml'}"
    )
    assert session.scalar(select(func.count()).select_from(Card)) == 0
