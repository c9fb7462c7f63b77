"""Submissions stored by the submission writer, through the API and the card page's form: many at once, each
answered with its own, gone learners refused."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from accounts_support import MakeUser, form_csrf_token
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from app.config import Settings
from app.db.models import Learner, Submission, User
from app.services import card_cache
from app.services.accounts import learner_for_user
from app.services.submission_writer import SubmissionWriter
from app.services.tokens import create_token

SLUG = "evaluate-student-models"
SUBMIT = f"/api/v1/cards/{SLUG}/submissions"
ANSWERS = {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A", "reasoning": "A is closer."}
CONCURRENT = 30


@pytest.fixture
def limits_config() -> dict[str, Any]:
    """Extra settings of the test's app; a test sets its own with ``parametrize("limits_config", ...)``."""
    return {}


@pytest.fixture
def settings(settings: Settings, limits_config: dict[str, Any]) -> Settings:
    return settings.model_copy(update=limits_config)


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    """A script's client, with the app's lifespan (which starts and stops the writer)."""
    with TestClient(app) as client:
        yield client


def bearer(app: FastAPI, user: User, scopes: list[str] | None = None) -> dict[str, str]:
    with app.state.sessionmaker() as session:
        owner = session.get(User, user.id)
        assert owner is not None
        return {
            "Authorization": f"Bearer {create_token(session=session, user=owner, name='script', scopes=scopes).secret}"
        }


def writer(app: FastAPI) -> SubmissionWriter:
    found: SubmissionWriter = app.state.submission_writer
    return found


def stored(app: FastAPI, learner_id: int | None = None) -> int:
    query = select(func.count()).select_from(Submission)
    if learner_id is not None:
        query = query.where(Submission.learner_id == learner_id)
    with app.state.sessionmaker() as session:
        return session.scalar(query) or 0


def post_concurrently(client: TestClient, headers: dict[str, str], seeds: range) -> list[Any]:
    def one(seed: int) -> Any:
        return client.post(SUBMIT, json={"seed": seed, "answers": ANSWERS}, headers=headers)

    with ThreadPoolExecutor(max_workers=10) as pool:
        return list(pool.map(one, seeds))


@pytest.mark.parametrize("lifespan", [True, False], ids=["lifespan", "bare-client"])
def test_concurrent_submissions_with_a_token_are_all_stored_and_read_back(
    app: FastAPI, make_user: MakeUser, lifespan: bool
) -> None:
    headers = bearer(app, make_user())
    # Without the lifespan each request runs on an event loop of its own: the writer answers each on its loop.
    client = TestClient(app)
    if lifespan:
        client.__enter__()
    try:
        responses = post_concurrently(client, headers, range(CONCURRENT))
        assert [response.status_code for response in responses] == [201] * CONCURRENT, [
            response.text for response in responses if response.status_code != 201
        ]
        bodies = [response.json() for response in responses]
        assert [body["seed"] for body in bodies] == list(range(CONCURRENT))  # each request got its own
        assert len({body["id"] for body in bodies}) == CONCURRENT
        for response, body in zip(responses, bodies, strict=True):
            assert response.headers["location"] == f"/api/v1/submissions/{body['id']}"
            again = client.get(response.headers["location"], headers=headers)
            assert again.status_code == 200
            assert {key: again.json()[key] for key in ("id", "seed", "score")} == {
                "id": body["id"],
                "seed": body["seed"],
                "score": 1.0,
            }
    finally:
        if lifespan:
            client.__exit__(None, None, None)
        else:
            writer(app).stop(30)  # started by the first request, as no lifespan did
            client.close()
    assert stored(app) == CONCURRENT == writer(app).stored
    assert 1 <= writer(app).batches <= CONCURRENT


def test_a_token_whose_learner_was_deleted_meanwhile_is_a_404_and_stores_nothing(
    app: FastAPI, api: TestClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(card_cache.cards, "seconds", 60.0)  # the card stays known through the test, however slow
    owner = make_user()
    headers, gone_headers = bearer(app, make_user()), bearer(app, owner)
    with app.state.sessionmaker() as session:
        gone = learner_for_user(session=session, user=session.get_one(User, owner.id))
    assert api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers=headers).status_code == 201  # the card
    assert api.get("/api/v1/submissions", headers=gone_headers).json() == []  # the account's learner, now known
    # Another server deletes the learner row: nothing in this process hears of it.
    with app.state.engine.begin() as connection:
        connection.execute(delete(Learner.__table__).where(Learner.__table__.c.id == gone.id))

    refused = api.post(SUBMIT, json={"seed": 1, "answers": ANSWERS}, headers=gone_headers)

    assert refused.status_code == 404, refused.text
    assert refused.json()["detail"][0]["message"] == f"no learner {gone.id}"
    assert stored(app) == 1
    assert stored(app, gone.id) == 0


@pytest.mark.parametrize("limits_config", [{"rate_limit_submissions": "3/minute"}])
def test_a_token_past_its_limit_gets_429_and_nothing_more_is_stored(
    app: FastAPI, api: TestClient, make_user: MakeUser
) -> None:
    headers = bearer(app, make_user())

    statuses = [api.post(SUBMIT, json={"seed": n, "answers": ANSWERS}, headers=headers).status_code for n in range(5)]

    assert statuses == [201, 201, 201, 429, 429]
    assert stored(app) == 3 == writer(app).stored


def test_a_token_without_submit_is_refused_before_the_writer(
    app: FastAPI, api: TestClient, make_user: MakeUser
) -> None:
    headers = bearer(app, make_user(), scopes=["read"])

    responses = post_concurrently(api, headers, range(5))

    assert [response.status_code for response in responses] == [403] * 5
    assert stored(app) == 0 == writer(app).stored


def test_keyed_and_relayed_submissions_are_stored_by_the_request_itself(
    app: FastAPI, api: TestClient, make_user: MakeUser
) -> None:
    headers = bearer(app, make_user())
    keyed = {**headers, "Idempotency-Key": "try-1"}

    first = api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers=keyed)
    retry = api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers=keyed)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json()["id"] == first.json()["id"]
    assert stored(app) == 1
    assert writer(app).stored == 0  # the key's response is kept in the submission's own transaction


def test_concurrent_answers_through_the_card_page_are_stored_by_the_writer(app: FastAPI, api: TestClient) -> None:
    token = form_csrf_token(api.get(f"/cards/{SLUG}").text)  # a guest, with its cookie and form token

    def answer(seed: int) -> Any:
        form = {**ANSWERS, "seed": str(seed), "csrf_token": token}
        return api.post(f"/cards/{SLUG}", data=form, follow_redirects=False)

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(answer, range(12)))
    assert [response.status_code for response in responses] == [303] * 12, [r.text[:300] for r in responses]
    assert len({response.headers["location"] for response in responses}) == 12
    results = [api.get(response.headers["location"]) for response in responses]
    assert all(result.status_code == 200 for result in results)
    assert all(f"?seed={seed}" in result.text for seed, result in enumerate(results))  # each its own variant
    assert stored(app) == 12 == writer(app).stored

    bad = api.post(f"/cards/{SLUG}", data={**ANSWERS, "loss_a": "abc", "seed": "3", "csrf_token": token})
    assert bad.status_code == 422 and "abc" in bad.text  # the form again, with the answer to fix; nothing stored
    assert stored(app) == 12
