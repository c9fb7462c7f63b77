"""The insight API: manual grading through the queue, card and deck statistics, and the gradebook as JSON and CSV."""

from __future__ import annotations

import csv
import io
import math
import statistics
from typing import Any

import pytest
from accounts_support import UserClient, csrf_headers
from decks_support import RIGHT, WRONG
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.db.models import Card
from app.services.tokens import create_token

CARD = "evaluate-student-models"
OTHER = "closest-student"
DECK = "week-1"
PENALTY = 0.2


def own_card(app: FastAPI, client: UserClient, slug: str = CARD) -> None:
    with app.state.sessionmaker() as session:
        session.execute(update(Card).where(Card.slug == slug).values(owner_id=client.user.id))
        session.commit()


def make_deck(client: UserClient) -> None:
    body = {
        "slug": DECK,
        "title": "Week 1",
        "cards": [CARD, OTHER],
        "penalty_per_attempt": PENALTY,
        "status": "published",
    }
    response = client.post("/api/v1/decks", json=body)
    assert response.status_code == 201, response.text


def answer_in_deck(client: TestClient, answers: dict[str, Any], card: str = CARD) -> dict[str, Any]:
    response = client.post(f"/api/v1/decks/{DECK}/cards/{card}/submissions", json={"answers": answers})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def answer_card(client: TestClient, answers: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/v1/cards/{CARD}/submissions", json={"seed": 0, "answers": answers})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def deck_score(client: TestClient) -> float:
    progress = client.get(f"/api/v1/decks/{DECK}").json()["progress"]
    return float(progress["score"])


def guest(make_client: Any) -> TestClient:
    client: TestClient = make_client()
    client.headers.update(csrf_headers(client))
    return client


# --- manual grading -------------------------------------------------------------------------------------


def test_a_manual_grade_changes_the_submission_the_deck_score_and_what_the_learner_sees(
    instructor_client: UserClient, learner_client: UserClient
) -> None:
    make_deck(instructor_client)
    submitted = answer_in_deck(learner_client, RIGHT)
    assert submitted["score"] == 1.0 and submitted["pending"] is True
    assert math.isclose(deck_score(learner_client), 1.0 / 2)

    queue = instructor_client.get("/api/v1/grading/queue").json()
    assert [(item["submission_id"], item["part_key"]) for item in queue] == [(submitted["id"], "reasoning")]
    item = queue[0]
    assert item["answer"] == RIGHT["reasoning"] and item["deck_slug"] == DECK
    assert item["model_answer"].startswith("Student A mimics the teacher better.")
    assert item["learner"] == learner_client.user.email

    response = instructor_client.post(
        f"/api/v1/submissions/{submitted['id']}/parts/reasoning/grade",
        json={"score": 0.5, "comment": "Say why a lower KL is better."},
    )
    assert response.status_code == 200, response.text
    expected = (1 + 1 + 1 + 0.5) / 4
    assert response.json() == {
        "submission_id": submitted["id"],
        "part_key": "reasoning",
        "score": 0.5,
        "comment": "Say why a lower KL is better.",
        "submission_score": pytest.approx(expected),
        "pending": False,
    }
    mine = learner_client.get(f"/api/v1/submissions/{submitted['id']}").json()
    assert mine["score"] == pytest.approx(expected) and mine["pending"] is False
    reasoning = next(part for part in mine["parts"] if part["key"] == "reasoning")
    assert reasoning["score"] == 0.5 and reasoning["feedback"] == "Say why a lower KL is better."
    assert math.isclose(deck_score(learner_client), expected / 2)
    assert instructor_client.get("/api/v1/grading/queue").json() == []

    page = learner_client.get(f"/submissions/{submitted['id']}").text
    assert "Say why a lower KL is better." in page and "Partly correct (50%)" in page


def test_bad_grades_are_refused_naming_the_field(
    app: FastAPI, instructor_client: UserClient, learner_client: UserClient
) -> None:
    own_card(app, instructor_client)
    submitted = answer_card(learner_client, RIGHT)
    url = f"/api/v1/submissions/{submitted['id']}/parts"
    cases = [
        ("reasoning", {"score": 1.5}, 422, "score"),
        ("reasoning", {"score": -0.5}, 422, "score"),
        ("reasoning", {"score": "high"}, 422, "score"),
        ("reasoning", {"comment": "no score"}, 422, "score"),
        ("reasoning", {"score": 1, "grade": 1}, 422, "grade"),
        ("loss_a", {"score": 1}, 422, "key"),
        ("nothing", {"score": 1}, 404, None),
    ]
    for key, body, status, field in cases:
        response = instructor_client.post(f"{url}/{key}/grade", json=body)
        assert response.status_code == status, (key, body, response.text)
        if field is not None:
            assert field in [entry["field"] for entry in response.json()["detail"]], response.text
    missing = instructor_client.post(
        f"/api/v1/submissions/{submitted['id'] + 100}/parts/reasoning/grade", json={"score": 1}
    )
    assert missing.status_code == 404
    still = learner_client.get(f"/api/v1/submissions/{submitted['id']}").json()
    assert still["pending"] is True and still["score"] == 1.0


def test_grading_needs_the_csrf_token_with_a_cookie_and_the_scope_with_a_token(
    app: FastAPI, instructor_client: UserClient, learner_client: UserClient
) -> None:
    own_card(app, instructor_client)
    submitted = answer_card(learner_client, RIGHT)
    url = f"/api/v1/submissions/{submitted['id']}/parts/reasoning/grade"
    token = instructor_client.headers.pop("X-CSRF-Token")
    assert instructor_client.post(url, json={"score": 1}).status_code == 403
    instructor_client.headers["X-CSRF-Token"] = token

    with app.state.sessionmaker() as session:
        read_only = create_token(session=session, user=instructor_client.user, name="reports", scopes=["read"]).secret
        grading = create_token(session=session, user=instructor_client.user, name="grader", scopes=["grades:write"])
    with TestClient(app) as bearer:
        refused = bearer.post(url, json={"score": 1}, headers={"Authorization": f"Bearer {read_only}"})
        assert refused.status_code == 403 and "grades:write" in refused.text
        assert bearer.get("/api/v1/grading/queue", headers={"Authorization": f"Bearer {read_only}"}).status_code == 200
        done = bearer.post(url, json={"score": 1}, headers={"Authorization": f"Bearer {grading.secret}"})
        assert done.status_code == 200 and done.json()["submission_score"] == 1.0


# --- statistics -----------------------------------------------------------------------------------------


def test_card_stats_as_json(app: FastAPI, instructor_client: UserClient, user_client: Any, make_client: Any) -> None:
    own_card(app, instructor_client)
    learners = [user_client("learner") for _ in range(3)] + [guest(make_client)]
    plan = [(0, RIGHT), (0, WRONG), (1, WRONG), (2, RIGHT), (3, {**WRONG, "better": "Student A"})]
    for index, answers in plan:
        answer_card(learners[index], answers)

    stats = instructor_client.get(f"/api/v1/cards/{CARD}/stats").json()

    def auto_score(answers: dict[str, str]) -> float:
        parts = [
            answers["loss_a"] == RIGHT["loss_a"],
            answers["loss_b"] == RIGHT["loss_b"],
            answers["better"] == "Student A",
        ]
        return sum(parts) / 3

    scores = [auto_score(answers) for _, answers in plan]
    assert (stats["slug"], stats["submissions"], stats["learners"], stats["pending"]) == (CARD, 5, 4, 5)
    assert stats["mean_score"] == pytest.approx(statistics.fmean(scores))
    buckets = [0] * 10
    for score in scores:
        buckets[sum(score >= k / 10 for k in range(1, 10))] += 1
    assert [bucket["count"] for bucket in stats["histogram"]] == buckets
    parts = {part["key"]: part for part in stats["parts"]}
    assert list(parts) == ["loss_a", "loss_b", "better", "reasoning"]
    loss_a = [1.0 if answers["loss_a"] == RIGHT["loss_a"] else 0.0 for _, answers in plan]
    assert parts["loss_a"]["facility"] == pytest.approx(statistics.fmean(loss_a))
    assert parts["loss_a"]["discrimination"] == pytest.approx(statistics.correlation(loss_a, scores))
    assert parts["loss_a"]["wrong_answers"] == [{"answer": WRONG["loss_a"], "misconception": "log_base_2", "count": 3}]
    assert parts["better"]["wrong_answers"] == [{"answer": "Student B", "misconception": None, "count": 2}]
    assert parts["reasoning"]["graded"] == 0 and parts["reasoning"]["facility"] is None


def test_deck_stats_and_the_gradebook_with_penalties(
    instructor_client: UserClient, user_client: Any, make_client: Any
) -> None:
    make_deck(instructor_client)
    ada, bo = user_client("learner"), user_client("learner")
    visitor = guest(make_client)
    first = answer_in_deck(ada, WRONG)  # loss_b only: 1/3
    second = answer_in_deck(ada, RIGHT)  # 1, attempt 2: 0.8
    answer_in_deck(bo, WRONG)  # 1/3
    answer_in_deck(visitor, {**RIGHT, "better": "Student B"})  # 2/3
    assert (first["attempt"], second["attempt"]) == (1, 2)

    stats = instructor_client.get(f"/api/v1/decks/{DECK}/stats").json()
    totals = [max(1 / 3, 1 - PENALTY) / 2, (1 / 3) / 2, (2 / 3) / 2]
    assert (stats["submissions"], stats["learners"], stats["pending"]) == (4, 3, 4)
    assert stats["mean_score"] == pytest.approx(statistics.fmean([1 / 3, 1, 1 / 3, 2 / 3]))
    assert stats["mean_total"] == pytest.approx(statistics.fmean(totals))
    assert [card["slug"] for card in stats["cards"]] == [CARD, OTHER]
    assert stats["cards"][1]["submissions"] == 0

    book = instructor_client.get(f"/api/v1/decks/{DECK}/gradebook").json()
    assert [card["slug"] for card in book["cards"]] == [CARD, OTHER]
    rows = {row["learner"]: row for row in book["rows"]}
    visitor_name = next(name for name in rows if name.startswith("guest "))
    assert list(rows) == [ada.user.email, bo.user.email, visitor_name]
    assert rows[ada.user.email]["scores"] == {CARD: pytest.approx(1 - PENALTY), OTHER: 0.0}
    assert rows[ada.user.email]["attempts"] == {CARD: 2, OTHER: 0}
    assert [row["total"] for row in book["rows"]] == pytest.approx(totals)

    response = instructor_client.get(f"/api/v1/decks/{DECK}/gradebook", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="gradebook-{DECK}.csv"'
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0] == ["learner", CARD, OTHER, "total"]
    assert table[1] == [ada.user.email, f"{1 - PENALTY:.4f}", "0.0000", f"{totals[0]:.4f}"]
    assert [row[-1] for row in table[1:]] == [f"{total:.4f}" for total in totals]
    assert instructor_client.get(f"/api/v1/decks/{DECK}/gradebook", params={"format": "xml"}).status_code == 422


# --- who may ---------------------------------------------------------------------------------------------

READS = [
    f"/api/v1/cards/{CARD}/stats",
    f"/api/v1/decks/{DECK}/stats",
    f"/api/v1/decks/{DECK}/gradebook",
    f"/api/v1/decks/{DECK}/gradebook?format=csv",
    "/api/v1/grading/queue",
]


def test_learners_get_403_and_guests_401_on_every_insight_endpoint(
    app: FastAPI, instructor_client: UserClient, learner_client: UserClient, client: TestClient
) -> None:
    own_card(app, instructor_client)
    make_deck(instructor_client)
    submitted = answer_in_deck(learner_client, RIGHT)
    grade = f"/api/v1/submissions/{submitted['id']}/parts/reasoning/grade"
    for url in READS:
        assert learner_client.get(url).status_code == 403, url
        assert client.get(url).status_code == 401, url
        assert instructor_client.get(url).status_code == 200, url
    assert learner_client.post(grade, json={"score": 1}).status_code == 403
    client.headers.update(csrf_headers(client))
    assert client.post(grade, json={"score": 1}).status_code == 401
    assert learner_client.get(f"/api/v1/submissions/{submitted['id']}").json()["pending"] is True


def test_another_instructor_gets_403_on_what_it_does_not_own(
    app: FastAPI,
    instructor_client: UserClient,
    admin_client: UserClient,
    learner_client: UserClient,
    user_client: Any,
) -> None:
    own_card(app, instructor_client)
    make_deck(instructor_client)
    submitted = answer_in_deck(learner_client, RIGHT)
    other = user_client("instructor")
    for url in READS[:4]:
        response = other.get(url)
        assert response.status_code == 403, url
        assert admin_client.get(url).status_code == 200, url
    assert other.get("/api/v1/grading/queue").json() == []
    refused = other.post(f"/api/v1/submissions/{submitted['id']}/parts/reasoning/grade", json={"score": 1})
    assert refused.status_code == 403
    # Built-in cards belong to nobody: their statistics are the administrators'.
    assert instructor_client.get(f"/api/v1/cards/{OTHER}/stats").status_code == 403
    assert admin_client.get(f"/api/v1/cards/{OTHER}/stats").status_code == 200
    assert admin_client.get("/api/v1/cards/no-such-card/stats").status_code == 404
    assert admin_client.get("/api/v1/decks/no-such-deck/gradebook").status_code == 404


def test_the_insight_endpoints_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/cards/{slug}/stats",
        "/api/v1/decks/{slug}/stats",
        "/api/v1/decks/{slug}/gradebook",
        "/api/v1/grading/queue",
        "/api/v1/submissions/{submission_id}/parts/{key}/grade",
    ):
        assert path in paths, path
