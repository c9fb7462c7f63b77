"""What a learner never sees: the answers of a variant it has not submitted, or another learner's submission."""

from __future__ import annotations

from collections.abc import Callable

from accounts_support import MakeUser, UserClient
from authorization_support import MODEL_ANSWER, SOLUTION_WORDS, build_world
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.domain.cards import generate
from app.domain.expressions import format_number
from app.services.catalog import get_card

# --- what a learner never sees ----------------------------------------------------------------------------------


def expected_texts(app: FastAPI, slug: str, seed: int) -> list[str]:
    """The variant's computed answers as a page or the API could show them, and the card's model answer."""
    with app.state.sessionmaker() as session:
        spec = get_card(session=session, slug=slug).spec
    variant = generate(spec, seed)
    numbers = [value for value in variant.answers.values() if isinstance(value, float)]
    assert numbers, "the card has a numeric answer to look for"
    texts = [MODEL_ANSWER, SOLUTION_WORDS]
    for number in numbers:
        texts += [format_number(number), f"{number:.4f}", repr(number)[:8]]
    return texts


def test_a_learner_never_gets_the_answers_of_a_variant_it_has_not_submitted(
    app: FastAPI, make_user: MakeUser, make_client: Callable[[], TestClient], learner_client: UserClient
) -> None:
    world = build_world(app, make_user, make_client)
    leaks = []
    for seed in (0, 7):
        hidden = expected_texts(app, world.card, seed)
        api = learner_client.get(f"/api/v1/cards/{world.card}/variant", params={"seed": seed})
        page = learner_client.get(f"/cards/{world.card}", params={"seed": seed})
        assert (api.status_code, page.status_code) == (200, 200), (api.text, page.text)
        leaks += [f"seed {seed}: the variant API shows {text!r}" for text in hidden if text in api.text]
        leaks += [f"seed {seed}: the card page shows {text!r}" for text in hidden if text in page.text]
    assert not leaks, "\n".join(leaks)

    preview = learner_client.get(f"/api/v1/cards/{world.card}/preview", params={"seed": 0})
    preview_page = learner_client.get(f"/instructor/cards/{world.card}/preview", params={"seed": 0})
    spec = learner_client.get(f"/api/v1/cards/{world.card}/spec")
    assert (preview.status_code, preview_page.status_code, spec.status_code) == (403, 403, 403)
    assert MODEL_ANSWER not in preview.text + preview_page.text + spec.text


def test_a_learner_never_sees_another_learners_submission(
    app: FastAPI, make_user: MakeUser, make_client: Callable[[], TestClient], learner_client: UserClient
) -> None:
    world = build_world(app, make_user, make_client)
    mine = learner_client.post(
        f"/api/v1/cards/{world.card}/submissions",
        json={"seed": 3, "answers": {"loss_b": "2", "better": "B", "why": "my own words"}},
    )
    assert mine.status_code == 201, mine.text

    api = learner_client.get(f"/api/v1/submissions/{world.submission_id}")
    page = learner_client.get(f"/submissions/{world.submission_id}")
    listed = learner_client.get("/api/v1/submissions")

    assert (api.status_code, page.status_code) == (404, 404)
    assert [item["id"] for item in listed.json()] == [mine.json()["id"]]
    assert learner_client.get(f"/api/v1/submissions/{mine.json()['id']}").status_code == 200
