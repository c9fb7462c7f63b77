"""Submitting answers: graded results, misconceptions, format errors that store nothing, and privacy."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from accounts_support import csrf_headers
from fastapi.testclient import TestClient

SLUG = "evaluate-student-models"
SUBMIT = f"/api/v1/cards/{SLUG}/submissions"
P, QA, QB = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1]


def kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)


LOSS_A = kl(P, QA)  # 0.02681 nats
LOSS_B = kl(P, QB)  # 0.04516 nats


def right_answers(**changes: Any) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "loss_a": f"{LOSS_A:.4g}",  # "0.02681", typed as text
        "loss_b": round(LOSS_B, 4),  # a JSON number works as well
        "better": "Student A",
        "reasoning": "Student A's loss is lower, so its predictions are closer to the teacher's.",
    }
    return {**answers, **changes}


def submit(client: TestClient, answers: dict[str, Any], *, seed: int = 0) -> Any:
    """Post as a script with the guest's cookies does: with the CSRF token from GET /api/v1/session."""
    return client.post(SUBMIT, json={"seed": seed, "answers": answers}, headers=csrf_headers(client))


def history(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/api/v1/submissions")
    assert response.status_code == 200
    listed: list[dict[str, Any]] = response.json()
    return listed


def only_error(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert len(detail) == 1, detail
    entry: dict[str, Any] = detail[0]
    return entry


def test_right_answers_get_full_marks_and_a_location(client: TestClient) -> None:
    assert abs(LOSS_A - 0.02681) < 1e-5

    response = submit(client, right_answers())

    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/api/v1/submissions/{body['id']}"
    assert body["slug"] == SLUG
    assert body["card_version"] == 1
    assert body["seed"] == 0
    assert body["score"] == 1.0
    assert body["pending"] is True  # the reasoning waits for an instructor
    parts = {part["key"]: part for part in body["parts"]}
    for key, value in (("loss_a", LOSS_A), ("loss_b", LOSS_B)):
        assert parts[key]["correct"] is True
        assert parts[key]["score"] == 1.0
        assert parts[key]["expected"] == pytest.approx(value, rel=1e-9)
        assert parts[key]["misconception"] is None
    assert parts["better"] == {**parts["better"], "correct": True, "score": 1.0, "expected": "Student A"}
    reasoning = parts["reasoning"]
    assert reasoning["kind"] == "text"
    assert reasoning["pending"] is True
    assert reasoning["correct"] is None and reasoning["score"] is None and reasoning["expected"] is None
    assert "Student A" in reasoning["model_answer"]
    assert body["answers"] == right_answers()


def test_the_loss_in_bits_is_recognised_as_the_log_base_2_mistake(client: TestClient) -> None:
    in_bits = f"{LOSS_A / math.log(2):.3g}"
    assert in_bits == "0.0387"

    response = submit(client, right_answers(loss_a=in_bits))

    assert response.status_code == 201
    body = response.json()
    loss_a = next(part for part in body["parts"] if part["key"] == "loss_a")
    assert loss_a["correct"] is False
    assert loss_a["score"] == 0.0
    assert loss_a["misconception"]["code"] == "log_base_2"
    assert "bits" in loss_a["misconception"]["message"]
    assert body["score"] == pytest.approx(2 / 3)


def test_a_submission_reads_back_the_same_and_is_in_the_callers_list(client: TestClient) -> None:
    first = submit(client, right_answers(loss_a="0.0387")).json()
    second = submit(client, right_answers()).json()

    fetched = client.get(f"/api/v1/submissions/{first['id']}")

    assert fetched.status_code == 200
    assert fetched.json() == first
    listed = history(client)
    assert [entry["id"] for entry in listed] == [second["id"], first["id"]]  # newest first
    assert listed[0] == {
        "id": second["id"],
        "slug": SLUG,
        "title": "Evaluating Student Model Performance",
        "card_version": 1,
        "seed": 0,
        "score": 1.0,
        "pending": True,
        "created_at": second["created_at"],
        "deck": None,
        "attempt": 1,
        "learner": None,
    }


def test_the_best_score_shows_in_the_card_list(client: TestClient) -> None:
    submit(client, right_answers(loss_a="0.0387"))
    submit(client, right_answers())
    submit(client, right_answers(better="Student B"))

    cards = {card["slug"]: card for card in client.get("/api/v1/cards").json()}

    assert cards[SLUG]["best_score"] == 1.0
    assert cards["closest-student"]["best_score"] is None


def test_another_guest_cannot_see_a_submission(client: TestClient, make_client: Callable[[], TestClient]) -> None:
    made = submit(client, right_answers()).json()
    stranger = make_client()

    response = stranger.get(f"/api/v1/submissions/{made['id']}")

    assert response.status_code == 404
    assert response.json() == {"detail": [{"field": "submission_id", "message": f"no submission {made['id']}"}]}
    assert history(stranger) == []
    submit(stranger, right_answers())  # now a guest with history of their own: still not found
    assert stranger.get(f"/api/v1/submissions/{made['id']}").status_code == 404
    assert client.get(f"/api/v1/submissions/{made['id']}").status_code == 200


def test_a_missing_submission_is_a_404(client: TestClient) -> None:
    submit(client, right_answers())

    response = client.get("/api/v1/submissions/999999")

    assert response.status_code == 404
    assert response.json() == {"detail": [{"field": "submission_id", "message": "no submission 999999"}]}


def test_an_answer_that_is_not_a_number_is_a_422_and_nothing_is_stored(client: TestClient) -> None:
    submit(client, right_answers())
    before = history(client)

    response = submit(client, right_answers(loss_a="abc"))

    error = only_error(response)
    assert error["field"] == "answers.loss_a"
    assert "'abc' is not a number" in error["message"]
    assert history(client) == before


@pytest.mark.parametrize(
    ("answers", "field", "words"),
    [
        (right_answers(loss_c="0.1"), "answers.loss_c", "no part named 'loss_c'"),
        (right_answers(better="Student C"), "answers.better", "not one of the options"),
        ({k: v for k, v in right_answers().items() if k != "loss_b"}, "answers.loss_b", "is empty"),
        (right_answers(loss_a=True), "answers.loss_a", "must be text, a number or a list of options"),
        (right_answers(loss_a={"value": 1}), "answers.loss_a", "must be text, a number or a list of options"),
        (right_answers(loss_a=10**400), "answers.loss_a", "must be a finite number"),
    ],
)
def test_unreadable_answers_are_422s_naming_the_part(
    client: TestClient, answers: dict[str, Any], field: str, words: str
) -> None:
    response = submit(client, answers)

    error = only_error(response)
    assert error["field"] == field
    assert words in error["message"]
    assert history(client) == []


def test_a_nan_answer_is_refused(client: TestClient) -> None:
    body = '{"seed": 0, "answers": {"loss_a": NaN, "loss_b": "0.045", "better": "Student A", "reasoning": ""}}'

    response = client.post(SUBMIT, content=body, headers={"content-type": "application/json"})

    error = only_error(response)
    assert error["field"] == "answers.loss_a"
    assert "finite number" in error["message"]


@pytest.mark.parametrize("seed", [-1, 2**31, "x", 1.5, None])
def test_a_bad_seed_in_the_body_is_a_422_naming_the_seed(client: TestClient, seed: Any) -> None:
    response = submit(client, right_answers(), seed=seed)

    assert only_error(response)["field"] == "seed"
    assert history(client) == []


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ('{"seed": 0, "answers": {"loss_a": "0.0268",}', "body"),
        ("", "body"),
        ("[1, 2]", "body"),
        ('{"seed": 0}', "answers"),
        ('{"seed": 0, "answers": {}, "extra": 1}', "extra"),
    ],
)
def test_a_malformed_body_is_a_422_naming_the_problem(client: TestClient, content: str, field: str) -> None:
    response = client.post(SUBMIT, content=content, headers={"content-type": "application/json"})

    error = only_error(response)
    assert error["field"] == field
    assert error["message"]


def test_submitting_to_an_unknown_card_is_a_404(client: TestClient) -> None:
    response = client.post("/api/v1/cards/no-such-card/submissions", json={"seed": 0, "answers": {}})

    assert response.status_code == 404
    assert response.json()["detail"] == [{"field": "slug", "message": "no published card 'no-such-card'"}]
