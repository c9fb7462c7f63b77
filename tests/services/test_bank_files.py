from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Card, CardVersion, Submission
from app.services.bank import CardFileError, LoadReport, check_card_files, load_cards, read_card_file, spec_hash
from app.services.catalog import get_card
from app.services.learners import guest_learner
from app.services.submissions import get_submission, submit

WriteCard = Callable[..., Path]


def count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_read_card_file_parses_and_validates(bank: Path) -> None:
    spec = read_card_file(bank / "two-students.yaml")
    assert spec.slug == "two-students"
    assert [part.key for part in spec.parts] == ["loss_a", "better", "reasoning"]


def test_broken_yaml_is_reported_with_file_line_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("slug: broken\ntitle: [unclosed\nparts: []\n")
    with pytest.raises(CardFileError) as raised:
        read_card_file(path)
    (problem,) = raised.value.problems
    assert problem.startswith(f"{path}: line ")
    assert "not valid YAML" in problem
    assert check_card_files(tmp_path) == [problem]


def test_a_file_that_is_not_a_mapping_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- slug: a\n")
    assert check_card_files(path) == [
        f"{path}: card: expected a mapping with slug, title, params, prompt and parts; found a list"
    ]


def test_a_sandbox_escape_is_named_by_file_field_and_problem(
    tmp_path: Path, fixed_card: dict[str, Any], write_card: WriteCard
) -> None:
    fixed_card["parts"][0]["answer"] = "().__class__.__mro__"
    path = write_card(tmp_path, fixed_card)
    problems = check_card_files(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: parts[0].answer: ")
    assert "attribute access" in problems[0]
    with pytest.raises(CardFileError, match=r"parts\[0\]\.answer"):
        read_card_file(path)


def test_every_problem_of_a_file_is_listed(tmp_path: Path, fixed_card: dict[str, Any], write_card: WriteCard) -> None:
    del fixed_card["title"]
    fixed_card["slug"] = "Not A Slug"
    path = write_card(tmp_path, fixed_card, name="bad.yaml")
    problems = check_card_files(tmp_path)
    assert any(p.startswith(f"{path}: title: ") for p in problems)
    assert any(p.startswith(f"{path}: slug: ") for p in problems)


def test_check_evaluates_expressions_for_many_seeds(
    tmp_path: Path, drawn_card: dict[str, Any], write_card: WriteCard
) -> None:
    # Fine for seed 0 (so the file parses), undefined whenever the drawn P[0] is 0.75 or less.
    drawn_card["parts"][0]["answer"] = "log(P[0] - 0.75)"
    path = write_card(tmp_path, drawn_card)
    read_card_file(path)
    assert check_card_files(path, seeds=1) == []
    (problem,) = check_card_files(path)
    assert problem.startswith(f"{path}: parts[0].answer: seed ")
    assert "math domain error" in problem


def test_good_cards_have_no_problems(bank: Path) -> None:
    assert check_card_files(bank) == []


def test_duplicate_slugs_and_empty_folders_are_problems(
    tmp_path: Path, fixed_card: dict[str, Any], write_card: WriteCard
) -> None:
    write_card(tmp_path, fixed_card, name="a.yaml")
    second = write_card(tmp_path, fixed_card, name="b.yaml")
    assert check_card_files(tmp_path) == [
        f"{second}: slug: 'two-students' is already the slug of {tmp_path / 'a.yaml'}"
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_card_files(empty) == [f"{empty}: path: no card files (*.yaml) found"]
    assert check_card_files(tmp_path / "missing") == [f"{tmp_path / 'missing'}: path: no such file or folder"]


def test_loading_twice_leaves_every_card_unchanged(session: Session, bank: Path) -> None:
    first = load_cards(session=session, path=bank)
    assert first == LoadReport(created=("drawn-kl", "two-students"))
    second = load_cards(session=session, path=bank)
    assert second == LoadReport(unchanged=("drawn-kl", "two-students"))
    assert count(session, Card) == 2
    assert count(session, CardVersion) == 2
    card = session.scalars(select(Card).where(Card.slug == "two-students")).one()
    assert (card.status, card.builtin, card.tags) == ("published", True, ["kl-divergence", "distillation"])


def test_the_hash_ignores_the_yaml_layout(
    session: Session, tmp_path: Path, fixed_card: dict[str, Any], write_card: WriteCard
) -> None:
    path = write_card(tmp_path, fixed_card)
    load_cards(session=session, path=path)
    # The same card with its fields in another order and another YAML style.
    reordered = dict(reversed(list(fixed_card.items())))
    path.write_text(yaml.safe_dump(reordered, default_flow_style=True, allow_unicode=True))
    assert spec_hash(read_card_file(path)) == session.scalars(select(CardVersion.spec_hash)).one()
    assert load_cards(session=session, path=path) == LoadReport(unchanged=("two-students",))


def test_a_changed_card_gets_a_new_version_and_old_submissions_keep_theirs(
    session: Session, tmp_path: Path, fixed_card: dict[str, Any], write_card: WriteCard
) -> None:
    path = write_card(tmp_path, fixed_card)
    load_cards(session=session, path=path)
    learner = guest_learner(session=session, guest_id="g")
    old = submit(
        session=session,
        learner_id=learner.id,
        slug="two-students",
        seed=0,
        answers={"loss_a": "0.0268", "better": "Student A", "reasoning": "lower KL"},
    )

    fixed_card["title"] = "Two students, revised"
    fixed_card["params"]["QA"] = [0.5, 0.4, 0.1]
    write_card(tmp_path, fixed_card)
    assert load_cards(session=session, path=path) == LoadReport(updated=("two-students",))

    current = get_card(session=session, slug="two-students")
    assert current.version == 2
    assert current.spec.params["QA"] == [0.5, 0.4, 0.1]
    assert session.scalars(select(Card.title)).one() == "Two students, revised"
    assert sorted(session.scalars(select(CardVersion.number))) == [1, 2]

    stored = session.get_one(Submission, old.id)
    version = session.get_one(CardVersion, stored.card_version_id)
    assert version.number == 1
    again = get_submission(session=session, submission_id=old.id, learner_id=learner.id)
    assert again.version == 1
    assert again.title == "Two students"
    assert again.variant.params["QA"] == [0.6, 0.3, 0.1]
    assert again.grade.score == old.grade.score


def test_a_broken_file_stops_the_whole_load(
    session: Session, bank: Path, fixed_card: dict[str, Any], write_card: WriteCard
) -> None:
    fixed_card["slug"] = "third"
    fixed_card["parts"][0]["answer"] = "kl(P, QZ)"
    write_card(bank, fixed_card)
    with pytest.raises(CardFileError) as raised:
        load_cards(session=session, path=bank)
    (problem,) = raised.value.problems
    assert problem.startswith(f"{bank / 'third.yaml'}: parts[0].answer: ")
    assert "QZ" in problem
    assert count(session, Card) == 0


def test_an_archived_builtin_card_is_published_again(session: Session, loaded: Path) -> None:
    card = session.scalars(select(Card).where(Card.slug == "drawn-kl")).one()
    card.status = "archived"
    session.commit()
    assert load_cards(session=session, path=loaded) == LoadReport(updated=("drawn-kl",), unchanged=("two-students",))
    assert card.status == "published"
    assert count(session, CardVersion) == 2


def test_updated_at_moves_when_a_card_changes(
    session: Session, tmp_path: Path, fixed_card: dict[str, Any], write_card: WriteCard
) -> None:
    path = write_card(tmp_path, fixed_card)
    load_cards(session=session, path=path)
    card = session.scalars(select(Card)).one()
    before = card.updated_at
    write_card(tmp_path, {**fixed_card, "title": "Renamed"})
    load_cards(session=session, path=path)
    session.refresh(card)
    assert card.updated_at > before
    assert card.created_at <= before
