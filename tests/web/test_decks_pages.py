import re
from collections.abc import Callable

import httpx
import pytest
from accounts_support import UserClient, form_csrf_token
from decks_support import (
    EXAMPLE,
    EXAMPLE_CARDS,
    RIGHT,
    WRONG,
    learner_id_of,
    load_example_deck,
    own_seed,
    right_answers,
    submissions,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient

CARD = EXAMPLE_CARDS[0]
CARD_URL = f"/decks/{EXAMPLE}/cards/{CARD}"


@pytest.fixture
def example(app: FastAPI) -> str:
    return load_example_deck(app)


def post_answers(client: TestClient, url: str, answers: dict[str, str]) -> httpx.Response:
    token = form_csrf_token(client.get(url).text)
    return client.post(url, data={**answers, "csrf_token": token}, follow_redirects=False)


def text_of(html: str) -> str:
    """The page's text, tags dropped and spaces collapsed, to read sentences across markup."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_decks_page_lists_published_decks(client: TestClient, example: str) -> None:
    page = client.get("/decks")
    assert page.status_code == 200
    assert f'href="/decks/{EXAMPLE}"' in page.text
    assert "Course foundations" in page.text and "4 cards" in page.text
    assert 'aria-current="page">Decks<' in page.text


def test_the_deck_page_shows_each_card_and_the_policy(learner_client: UserClient, example: str) -> None:
    page = learner_client.get(f"/decks/{EXAMPLE}")
    assert page.status_code == 200
    for card in EXAMPLE_CARDS:
        assert f'href="/decks/{EXAMPLE}/cards/{card}"' in page.text
    text = text_of(page.text)
    assert "Your score so far: 0%" in text
    assert text.count("0 of 3") == 4
    assert "3 attempts per card; each attempt after the first takes another 10% off its score" in text
    assert "shown once you answer the card correctly" in text


def test_a_draft_or_unknown_deck_is_not_found(client: TestClient) -> None:
    assert client.get("/decks/no-such-deck").status_code == 404
    assert client.get(f"/decks/{EXAMPLE}/cards/{CARD}").status_code == 404


def test_the_card_page_gives_the_learners_own_variant_and_posts_to_itself(
    app: FastAPI, learner_client: UserClient, example: str
) -> None:
    page = learner_client.get(CARD_URL)
    assert page.status_code == 200
    assert f'action="{CARD_URL}"' in page.text
    assert 'name="csrf_token"' in page.text
    assert 'name="seed"' not in page.text  # the server decides the variant
    assert "New variant" not in page.text
    assert "Attempt 1 of 3: 3 left." in text_of(page.text)
    assert learner_id_of(app, learner_client.user) > 0


def test_a_wrong_answer_hides_the_solution_and_a_right_one_shows_it(
    app: FastAPI, learner_client: UserClient, example: str
) -> None:
    response = post_answers(learner_client, CARD_URL, WRONG)
    assert response.status_code == 303
    result = learner_client.get(response.headers["location"])
    text = text_of(result.text)
    assert "Attempt 1 of 3." in text and "2 attempts left on this card" in text
    assert "shown once you answer the card correctly" in text
    assert "Worked solution" not in text and "Expected" not in text and "Model answer" not in text
    assert "0.0268" not in text  # the right loss for student A, never quoted (its misconception would)
    assert "bits" not in text
    assert text.count("Not right.") == 2 and text.count("✓ Correct") == 1

    response = post_answers(learner_client, CARD_URL, RIGHT)
    result = learner_client.get(response.headers["location"])
    text = text_of(result.text)
    assert "Attempt 2 of 3." in text
    assert "Worked solution" in text and "Expected" in text
    # Attempt 1 scored 1/3, attempt 2 full marks less one penalty of 10%: 90% counts.
    assert "best on this card after penalties: 90%" in text
    assert "deck score so far: 22%" in text  # 0.9 / 4 cards, rounded
    # The earlier attempt's answers are shown now too: the learner has answered correctly.
    first = learner_client.get(f"/decks/{EXAMPLE}/cards/{CARD}")
    assert first.text.count('href="/submissions/') == 2
    deck_id = submissions(app)[0][0]
    assert [(d, a) for d, a, _ in submissions(app)] == [(deck_id, 1), (deck_id, 2)]
    assert [round(score, 4) for _, _, score in submissions(app)] == [round(1 / 3, 4), 1.0]


def test_after_the_last_attempt_the_form_is_gone_and_a_post_is_refused(
    app: FastAPI, learner_client: UserClient, example: str
) -> None:
    token = form_csrf_token(learner_client.get(CARD_URL).text)
    for _ in range(3):
        response = learner_client.post(CARD_URL, data={**WRONG, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 303
    page = learner_client.get(CARD_URL)
    assert "No attempts left: you have used all 3." in text_of(page.text)
    assert '<form class="answers"' not in page.text
    refused = learner_client.post(CARD_URL, data={**RIGHT, "csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 409
    assert "No attempts left" in refused.text and "Nothing has been saved" in refused.text
    assert len(submissions(app)) == 3
    deck = text_of(learner_client.get(f"/decks/{EXAMPLE}").text)
    assert "3 of 3" in deck and "No attempts left" in deck


def test_an_unreadable_answer_uses_no_attempt(app: FastAPI, learner_client: UserClient, example: str) -> None:
    response = post_answers(learner_client, CARD_URL, {**RIGHT, "loss_a": "abc"})
    assert response.status_code == 422
    assert "is not a number" in response.text
    assert "Attempt 1 of 3" in text_of(response.text)
    assert submissions(app) == []


def test_a_post_without_the_csrf_token_is_refused(app: FastAPI, learner_client: UserClient, example: str) -> None:
    learner_client.headers.pop("X-CSRF-Token")
    response = learner_client.post(CARD_URL, data=RIGHT, follow_redirects=False)
    assert response.status_code == 403
    assert submissions(app) == []


def test_a_guest_can_take_a_deck(app: FastAPI, client: TestClient, example: str) -> None:
    response = post_answers(client, CARD_URL, RIGHT)
    assert response.status_code == 303
    assert "Your score so far: 25%" in text_of(client.get(f"/decks/{EXAMPLE}").text)


def test_classmates_get_different_variants_of_a_drawn_card_and_each_keeps_theirs(
    app: FastAPI, instructor_client: UserClient, user_client: Callable[[str], UserClient]
) -> None:
    deck = {"slug": "drawn", "title": "Drawn", "cards": ["compare-two-students"], "status": "published"}
    assert instructor_client.post("/api/v1/decks", json=deck).status_code == 201
    url = "/decks/drawn/cards/compare-two-students"
    first, second = user_client("learner"), user_client("learner")
    variant = re.compile(r"Your own variant (\d+) of this card")
    seeds = []
    for learner in (first, second):
        found = variant.search(learner.get(url).text)
        assert found is not None
        seeds.append(int(found.group(1)))
        assert seeds[-1] == own_seed(app, learner.user, deck="drawn", card="compare-two-students")
        again = variant.search(learner.get(url).text)
        assert again is not None and again.group(1) == found.group(1)
    assert seeds[0] != seeds[1]
    # The learner's right answers to their own variant, worked out here from the card's spec.
    answers = right_answers(app, card="compare-two-students", seed=seeds[0])
    answers = {key: value for key, value in answers.items() if key in ("loss_a", "loss_b", "better")}
    response = post_answers(first, url, answers)
    assert response.status_code == 303
    result = text_of(first.get(response.headers["location"]).text)
    assert "Score: 100%" in result and f"variant {seeds[0]}" in result


def test_the_submission_api_hides_a_deck_submissions_answers_until_the_policy_allows(
    learner_client: UserClient, example: str
) -> None:
    wrong = post_answers(learner_client, CARD_URL, WRONG)
    submission_id = wrong.headers["location"].rsplit("/", 1)[1]
    hidden = learner_client.get(f"/api/v1/submissions/{submission_id}").json()
    assert [part["expected"] for part in hidden["parts"]] == [None] * 4
    assert all(part["model_answer"] is None and part["misconception"] is None for part in hidden["parts"])
    post_answers(learner_client, CARD_URL, RIGHT)
    shown = learner_client.get(f"/api/v1/submissions/{submission_id}").json()
    assert shown["parts"][2]["expected"] == "Student A"
