from collections.abc import Callable
from typing import Any

import pytest
from accounts_support import UserClient, csrf_headers
from decks_support import EXAMPLE, EXAMPLE_CARDS, RIGHT, WRONG, load_example_deck, own_seed, submissions
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.services.tokens import create_token

DECK: dict[str, Any] = {
    "slug": "week-3",
    "title": "Week 3",
    "description": "Divergences.",
    "due_at": "2026-12-11T17:00:00+01:00",
    "cards": ["evaluate-student-models", "closest-student"],
    "max_attempts": 2,
    "penalty_per_attempt": 0.2,
    "show_solution": "after_correct",
    "status": "published",
}
CARD_SUBMISSIONS = f"/api/v1/decks/{EXAMPLE}/cards/{EXAMPLE_CARDS[0]}/submissions"


def fields(response: Any) -> list[str | None]:
    return [entry["field"] for entry in response.json()["detail"]]


def token_for(app: FastAPI, client: UserClient, scopes: list[str] | None = None) -> dict[str, str]:
    with app.state.sessionmaker() as session:
        made = create_token(session=session, user=client.user, name="script", scopes=scopes)
    return {"Authorization": f"Bearer {made.secret}"}


def test_an_instructor_creates_and_replaces_a_deck(instructor_client: UserClient) -> None:
    created = instructor_client.post("/api/v1/decks", json=DECK)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/api/v1/decks/week-3"
    body = created.json()
    assert body["due_at"] == "2026-12-11T16:00:00Z"  # stored in UTC
    assert [(c["position"], c["slug"]) for c in body["cards"]] == [(1, DECK["cards"][0]), (2, DECK["cards"][1])]
    assert (body["editable"], body["builtin"], body["progress"]) == (True, False, None)

    replaced = instructor_client.put(
        "/api/v1/decks/week-3", json={**DECK, "slug": None, "cards": ["closest-student"], "max_attempts": None}
    )
    assert replaced.status_code == 200, replaced.text
    assert ([c["slug"] for c in replaced.json()["cards"]], replaced.json()["max_attempts"]) == (
        ["closest-student"],
        None,
    )
    listed = instructor_client.get("/api/v1/decks").json()
    assert [(d["slug"], d["card_count"]) for d in listed] == [("week-3", 1)]


def test_invalid_decks_are_422_naming_each_field(instructor_client: UserClient) -> None:
    bad = {
        **DECK,
        "slug": "Week 3",
        "due_at": "2026-12-11T17:00:00",
        "cards": ["closest-student", "nope"],
        "penalty_per_attempt": 2,
    }
    response = instructor_client.post("/api/v1/decks", json=bad)
    assert response.status_code == 422
    assert fields(response) == ["slug", "due_at", "penalty_per_attempt", "cards[1]"]
    assert "needs a time zone" in response.json()["detail"][1]["message"]
    shape = instructor_client.post("/api/v1/decks", json={"slug": "x", "show_solution": "never", "colour": "red"})
    assert shape.status_code == 422
    assert set(fields(shape)) == {"title", "cards", "show_solution", "colour"}
    instructor_client.post("/api/v1/decks", json=DECK)
    renamed = instructor_client.put("/api/v1/decks/week-3", json={**DECK, "slug": "week-4"})
    assert (renamed.status_code, fields(renamed)) == (422, ["slug"])
    assert instructor_client.get("/api/v1/decks/week-4").status_code == 404


def test_learners_and_visitors_cannot_write_decks(app: FastAPI, learner_client: UserClient, client: TestClient) -> None:
    load_example_deck(app)
    assert learner_client.post("/api/v1/decks", json=DECK).status_code == 403
    assert learner_client.put(f"/api/v1/decks/{EXAMPLE}", json=DECK).status_code == 403
    headers = csrf_headers(client)
    assert client.post("/api/v1/decks", json=DECK, headers=headers).status_code == 401
    assert client.put(f"/api/v1/decks/{EXAMPLE}", json=DECK, headers=headers).status_code == 401
    assert learner_client.get(f"/api/v1/decks/{EXAMPLE}").json()["editable"] is False


def test_an_instructor_changes_only_their_own_decks(
    app: FastAPI, instructor_client: UserClient, user_client: Callable[[str], UserClient]
) -> None:
    load_example_deck(app)
    instructor_client.post("/api/v1/decks", json=DECK)
    instructor_client.post("/api/v1/decks", json={**DECK, "slug": "hidden", "status": "draft"})
    other = user_client("instructor")
    refused = other.put("/api/v1/decks/week-3", json={**DECK, "title": "Mine now"})
    assert refused.status_code == 403 and "another instructor's" in refused.json()["detail"][0]["message"]
    assert other.put("/api/v1/decks/hidden", json=DECK).status_code == 404
    assert other.get("/api/v1/decks/hidden").status_code == 404
    assert other.put(f"/api/v1/decks/{EXAMPLE}", json=DECK).status_code == 403
    admin = user_client("admin")
    assert admin.put(f"/api/v1/decks/{EXAMPLE}", json={**DECK, "slug": None}).status_code == 200
    assert admin.get("/api/v1/decks/hidden").json()["editable"] is True
    assert instructor_client.get("/api/v1/decks/week-3").json()["title"] == "Week 3"


def test_a_token_needs_the_decks_write_scope(app: FastAPI, instructor_client: UserClient) -> None:
    narrow = token_for(app, instructor_client, ["read"])
    refused = TestClient(app).post("/api/v1/decks", json=DECK, headers=narrow)
    assert refused.status_code == 403 and "decks:write" in refused.json()["detail"][0]["message"]
    allowed = TestClient(app).post("/api/v1/decks", json=DECK, headers=token_for(app, instructor_client))
    assert allowed.status_code == 201  # a bearer request needs no CSRF token


def test_a_learner_reads_a_deck_with_their_seeds_and_progress(
    app: FastAPI, learner_client: UserClient, example: None
) -> None:
    listed = learner_client.get("/api/v1/decks").json()
    assert [deck["slug"] for deck in listed] == [EXAMPLE]
    first = learner_client.post(CARD_SUBMISSIONS, json={"answers": WRONG})
    assert first.status_code == 201, first.text
    deck = learner_client.get(f"/api/v1/decks/{EXAMPLE}").json()
    assert [card["slug"] for card in deck["cards"]] == EXAMPLE_CARDS
    progress = deck["progress"]["cards"][0]
    seed = own_seed(app, learner_client.user, deck=EXAMPLE, card=EXAMPLE_CARDS[0])
    assert (progress["seed"], progress["attempts"], progress["attempts_left"]) == (seed, 1, 2)
    assert progress["best"] == pytest.approx(1 / 3)
    assert deck["progress"]["score"] == pytest.approx(1 / 3 / 4)


def test_deck_submissions_count_attempts_hide_answers_and_stop_at_the_limit(
    app: FastAPI, learner_client: UserClient, example: None
) -> None:
    first = learner_client.post(CARD_SUBMISSIONS, json={"answers": WRONG})
    assert first.status_code == 201
    body = first.json()
    assert (body["deck"], body["attempt"], body["attempts_left"], body["solution_visible"]) == (EXAMPLE, 1, 2, False)
    assert body["score"] == pytest.approx(1 / 3)
    assert all(part["expected"] is None and part["model_answer"] is None for part in body["parts"])
    assert first.headers["location"] == f"/api/v1/submissions/{body['id']}"

    second = learner_client.post(CARD_SUBMISSIONS, json={"answers": RIGHT}).json()
    assert (second["attempt"], second["solution_visible"]) == (2, True)
    assert second["best"] == pytest.approx(0.9)  # full marks on attempt 2, less 10%
    assert second["deck_score"] == pytest.approx(0.9 / 4)
    assert second["parts"][2]["expected"] == "Student A"

    third = learner_client.post(CARD_SUBMISSIONS, json={"answers": RIGHT}).json()
    assert (third["attempt"], third["attempts_left"], third["best"]) == (3, 0, pytest.approx(0.9))
    refused = learner_client.post(CARD_SUBMISSIONS, json={"answers": RIGHT})
    assert refused.status_code == 409
    assert fields(refused) == ["attempt"] and "no attempts left" in refused.json()["detail"][0]["message"]
    assert len(submissions(app)) == 3


def test_a_deck_submission_for_another_variant_or_card_is_refused(
    app: FastAPI, learner_client: UserClient, example: None
) -> None:
    learner_client.get(f"/decks/{EXAMPLE}/cards/{EXAMPLE_CARDS[0]}")  # makes the learner
    seed = own_seed(app, learner_client.user, deck=EXAMPLE, card=EXAMPLE_CARDS[0])
    wrong_seed = learner_client.post(CARD_SUBMISSIONS, json={"seed": seed + 1, "answers": RIGHT})
    assert wrong_seed.status_code == 422 and fields(wrong_seed) == ["seed"]
    assert f"variant {seed}" in wrong_seed.json()["detail"][0]["message"]
    right_seed = learner_client.post(CARD_SUBMISSIONS, json={"seed": seed, "answers": RIGHT})
    assert right_seed.status_code == 201
    outside = learner_client.post(
        f"/api/v1/decks/{EXAMPLE}/cards/temperature-softmax/submissions", json={"answers": {}}
    )
    assert outside.status_code == 404
    unreadable = learner_client.post(CARD_SUBMISSIONS, json={"answers": {**RIGHT, "loss_a": "abc"}})
    assert unreadable.status_code == 422 and fields(unreadable) == ["answers.loss_a"]
    assert len(submissions(app)) == 1


@pytest.fixture
def example(app: FastAPI) -> None:
    load_example_deck(app)
