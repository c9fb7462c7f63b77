"""The grading queue page: answers beside model answers, a form per answer, errors beside the field."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from accounts_support import UserClient, form_csrf_token
from decks_support import RIGHT
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.db.models import Card

CARD = "evaluate-student-models"
ESSAY = "<script>alert(1)</script> Student A is closer & lower."


def own_card(app: FastAPI, client: UserClient) -> None:
    with app.state.sessionmaker() as session:
        session.execute(update(Card).where(Card.slug == CARD).values(owner_id=client.user.id))
        session.commit()


def submit(client: TestClient, answers: dict[str, Any]) -> int:
    response = client.post(f"/api/v1/cards/{CARD}/submissions", json={"seed": 0, "answers": answers})
    assert response.status_code == 201, response.text
    submission_id: int = response.json()["id"]
    return submission_id


def grade_form(client: TestClient, submission_id: int, data: dict[str, str], *, token: str | None = None) -> Any:
    if token is None:
        token = form_csrf_token(client.get("/instructor/grading").text)
    return client.post(
        f"/instructor/grading/{submission_id}/reasoning",
        data={**data, "csrf_token": token},
        follow_redirects=False,
    )


def test_the_queue_shows_the_answer_beside_the_model_answer(
    app: FastAPI, instructor_client: UserClient, learner_client: UserClient
) -> None:
    own_card(app, instructor_client)
    submission_id = submit(learner_client, {**RIGHT, "reasoning": ESSAY})
    html = instructor_client.get("/instructor/grading").text
    item = html[html.index(f'id="grade-{submission_id}-reasoning"') :]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Student A is closer &amp; lower." in item
    assert "<script>" not in html
    assert "The learner's answer" in item and "Model answer" in item
    assert "Student A mimics the teacher better." in item
    assert learner_client.user.email in item
    assert f'action="/instructor/grading/{submission_id}/reasoning"' in item
    assert 'name="csrf_token"' in item and 'name="score"' in item and 'name="comment"' in item


def test_a_bad_score_comes_back_beside_its_field_with_the_input_kept(
    app: FastAPI, instructor_client: UserClient, learner_client: UserClient
) -> None:
    own_card(app, instructor_client)
    submission_id = submit(learner_client, RIGHT)
    anchor = f"grade-{submission_id}-reasoning"
    for score, message in (("abc", "'abc' is not a number"), ("150%", "must be from 0 to 1"), ("", "is required")):
        response = grade_form(instructor_client, submission_id, {"score": score, "comment": "Kept."})
        assert response.status_code == 422
        error = re.search(rf'<p class="field-error" id="{anchor}-score-error">([^<]*)</p>', response.text)
        assert error is not None and message in unescape(error.group(1))
        assert f'value="{score}"' in response.text and ">Kept.</textarea>" in response.text
        assert 'aria-invalid="true"' in response.text
        assert f'href="#{anchor}"' in response.text  # the summary links to the answer
    assert learner_client.get(f"/api/v1/submissions/{submission_id}").json()["pending"] is True


def test_grading_in_the_browser_saves_the_grade_and_the_learner_sees_it(
    app: FastAPI, instructor_client: UserClient, learner_client: UserClient
) -> None:
    own_card(app, instructor_client)
    submission_id = submit(learner_client, RIGHT)
    response = grade_form(instructor_client, submission_id, {"score": "75%", "comment": "Name the divergence."})
    assert response.status_code == 303
    assert response.headers["location"] == f"/instructor/grading?graded={submission_id}"
    after = instructor_client.get(response.headers["location"]).text
    assert f"Grade saved for submission {submission_id}." in after
    assert f'id="grade-{submission_id}-reasoning"' not in after

    result = learner_client.get(f"/submissions/{submission_id}").text
    assert "<strong>Instructor's comment:</strong> Name the divergence." in result
    assert "Partly correct (75%)" in result
    assert learner_client.get(f"/api/v1/submissions/{submission_id}").json()["score"] == (3 + 0.75) / 4


def test_the_queue_filters_keep_across_a_grade(
    app: FastAPI, instructor_client: UserClient, learner_client: UserClient
) -> None:
    own_card(app, instructor_client)
    submission_id = submit(learner_client, RIGHT)
    html = instructor_client.get(f"/instructor/grading?card={CARD}").text
    assert f'action="/instructor/grading/{submission_id}/reasoning?card={CARD}"' in html
    assert "Nothing is waiting" in instructor_client.get("/instructor/grading?card=closest-student").text
    assert instructor_client.get("/instructor/grading?deck=no-such-deck").status_code == 404


def test_the_form_needs_its_csrf_token(app: FastAPI, instructor_client: UserClient, learner_client: UserClient) -> None:
    own_card(app, instructor_client)
    submission_id = submit(learner_client, RIGHT)
    instructor_client.headers.pop("X-CSRF-Token")
    refused = instructor_client.post(
        f"/instructor/grading/{submission_id}/reasoning", data={"score": "1"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert learner_client.get(f"/api/v1/submissions/{submission_id}").json()["pending"] is True


def test_only_instructors_reach_the_queue_and_only_their_own_answers(
    app: FastAPI,
    instructor_client: UserClient,
    learner_client: UserClient,
    user_client: Any,
    client: TestClient,
) -> None:
    own_card(app, instructor_client)
    submission_id = submit(learner_client, RIGHT)
    assert learner_client.get("/instructor/grading").status_code == 403
    redirect = client.get("/instructor/grading", follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"].startswith("/signin?next=")
    learner_post = learner_client.post(
        f"/instructor/grading/{submission_id}/reasoning", data={"score": "1"}, follow_redirects=False
    )
    assert learner_post.status_code == 403

    other = user_client("instructor")
    assert f"grade-{submission_id}-reasoning" not in other.get("/instructor/grading").text
    token = form_csrf_token(other.get("/instructor/grading").text)
    refused = grade_form(other, submission_id, {"score": "1"}, token=token)
    assert refused.status_code == 403
    assert learner_client.get(f"/api/v1/submissions/{submission_id}").json()["pending"] is True
