from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Card, Learner
from app.services.catalog import CardSummary, get_card, list_cards
from app.services.errors import NotFound
from app.services.submissions import submit

RIGHT = {"loss_a": "0.0268", "better": "Student A", "reasoning": "lower KL"}
HALF = {"loss_a": "0.0387", "better": "Student A", "reasoning": "lower KL"}


def test_published_cards_are_listed_by_title(session: Session, loaded: Path) -> None:
    assert list_cards(session=session, learner_id=None) == [
        CardSummary(slug="drawn-kl", title="A drawn KL", tags=("kl-divergence",), drawn=True, best_score=None),
        CardSummary(
            slug="two-students",
            title="Two students",
            tags=("kl-divergence", "distillation"),
            drawn=False,
            best_score=None,
        ),
    ]


def test_the_best_score_is_the_learners_own(
    session: Session, loaded: Path, learner: Learner, other_learner: Learner
) -> None:
    submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=HALF)
    submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=RIGHT)
    submit(session=session, learner_id=learner.id, slug="two-students", seed=0, answers=HALF)
    submit(session=session, learner_id=other_learner.id, slug="two-students", seed=0, answers=HALF)

    mine = {card.slug: card.best_score for card in list_cards(session=session, learner_id=learner.id)}
    theirs = {card.slug: card.best_score for card in list_cards(session=session, learner_id=other_learner.id)}
    assert mine == {"drawn-kl": None, "two-students": 1.0}
    assert theirs == {"drawn-kl": None, "two-students": 0.5}


def test_cards_that_are_not_published_are_hidden(session: Session, loaded: Path) -> None:
    card = session.scalars(select(Card).where(Card.slug == "drawn-kl")).one()
    card.status = "draft"
    session.commit()
    assert [c.slug for c in list_cards(session=session, learner_id=None)] == ["two-students"]
    with pytest.raises(NotFound):
        get_card(session=session, slug="drawn-kl")


def test_get_card_gives_the_current_version(session: Session, loaded: Path) -> None:
    card = get_card(session=session, slug="two-students")
    assert card.version == 1
    assert card.spec.slug == "two-students"
    assert card.spec.params["P"] == [0.7, 0.2, 0.1]
    assert card.card_id == session.scalars(select(Card.id).where(Card.slug == "two-students")).one()
    with pytest.raises(NotFound, match="no-such-card"):
        get_card(session=session, slug="no-such-card")
