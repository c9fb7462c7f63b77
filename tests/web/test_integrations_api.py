"""The integrator's API: submitting for a learner named by an external id, idempotent retries, learners, webhooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

import pytest
from decks_support import EXAMPLE, EXAMPLE_CARDS, RIGHT, load_example_deck
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db.integrations import IdempotencyKey, OutboxMessage
from app.db.models import Learner, Submission, User
from app.services.tokens import create_token
from app.services.webhooks import EVENTS
from app.web.api.integrations import WebhookEvent

SUBMIT = "/api/v1/cards/evaluate-student-models/submissions"
ANSWERS = {"loss_a": RIGHT["loss_a"], "loss_b": RIGHT["loss_b"], "better": "Student A"}
MakeUser = Callable[..., User]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def make_token(app: FastAPI) -> Callable[..., str]:
    def make(user: User, scopes: list[str] | None = None) -> str:
        with app.state.sessionmaker() as session:
            owner = session.get(User, user.id)
            assert owner is not None
            return create_token(session=session, user=owner, name="lms", scopes=scopes).secret

    return make


@pytest.fixture
def integration(make_user: MakeUser, make_token: Callable[..., str]) -> dict[str, str]:
    """The headers of an integration: an administrator's token with read, submit and integrations."""
    return bearer(make_token(make_user("admin"), ["read", "submit", "integrations"]))


@pytest.fixture
def api(app: FastAPI) -> TestClient:
    return TestClient(app)


def count(app: FastAPI, model: Any) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_an_integration_submits_for_a_learner_named_by_an_external_id(
    app: FastAPI, api: TestClient, integration: dict[str, str]
) -> None:
    first = api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS, "learner": "lms-user-123"}, headers=integration)
    again = api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS, "learner": "lms-user-123"}, headers=integration)

    assert first.status_code == 201, first.text
    assert again.status_code == 201
    with app.state.sessionmaker() as session:
        learner = session.scalars(select(Learner).where(Learner.external_id == "lms-user-123")).one()
        owners = set(session.scalars(select(Submission.learner_id)))
    assert owners == {learner.id}
    listed = api.get("/api/v1/learners", headers=integration)
    assert listed.status_code == 200
    assert [(entry["external_id"], entry["submissions"]) for entry in listed.json()] == [("lms-user-123", 2)]
    mine = api.get("/api/v1/submissions", params={"learner": "lms-user-123"}, headers=integration).json()
    assert [entry["id"] for entry in mine] == [again.json()["id"], first.json()["id"]]
    assert {entry["learner"] for entry in mine} == {"lms-user-123"}


def test_an_integration_answers_a_deck_card_as_the_named_learner(
    app: FastAPI, api: TestClient, integration: dict[str, str]
) -> None:
    load_example_deck(app)
    url = f"/api/v1/decks/{EXAMPLE}/cards/{EXAMPLE_CARDS[0]}/submissions"

    made = api.post(url, json={"answers": RIGHT, "learner": "lms-user-9"}, headers=integration)

    assert made.status_code == 201, made.text
    assert made.json()["deck"] == EXAMPLE and made.json()["attempt"] == 1
    listed = api.get("/api/v1/submissions", params={"deck": EXAMPLE}, headers=integration).json()
    assert [(entry["learner"], entry["deck"]) for entry in listed] == [("lms-user-9", EXAMPLE)]
    gradebook = api.get(f"/api/v1/decks/{EXAMPLE}/gradebook", headers=integration)
    assert gradebook.status_code == 200


@pytest.mark.parametrize(("role", "scopes"), [("learner", None), ("instructor", None), ("admin", ["read", "submit"])])
def test_a_token_without_the_scope_cannot_name_a_learner(
    app: FastAPI,
    api: TestClient,
    make_user: MakeUser,
    make_token: Callable[..., str],
    role: str,
    scopes: list[str] | None,
) -> None:
    headers = bearer(make_token(make_user(role), scopes))

    refused = api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS, "learner": "lms-user-123"}, headers=headers)

    assert refused.status_code == 403
    assert refused.json()["detail"][0]["field"] == "learner"
    assert count(app, Submission) == 0
    assert api.get("/api/v1/learners", headers=headers).status_code == 403
    assert api.get("/api/v1/submissions", params={"learner": "x"}, headers=headers).status_code == 403


def test_a_cookie_client_cannot_name_a_learner(learner_client: TestClient) -> None:
    refused = learner_client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS, "learner": "someone-else"})

    assert refused.status_code == 403


def test_a_learner_reads_only_their_own_submissions(
    api: TestClient, integration: dict[str, str], make_user: MakeUser, make_token: Callable[..., str]
) -> None:
    api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS, "learner": "lms-user-1"}, headers=integration)
    learner = bearer(make_token(make_user("learner")))
    own = api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers=learner).json()

    assert [entry["id"] for entry in api.get("/api/v1/submissions", headers=learner).json()] == [own["id"]]
    assert len(api.get("/api/v1/submissions", headers=integration).json()) == 2


def test_submissions_filter_by_card_and_time(api: TestClient, integration: dict[str, str]) -> None:
    made = api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS, "learner": "a"}, headers=integration).json()
    at = made["created_at"]

    def ids(**params: str) -> list[int]:
        response = api.get("/api/v1/submissions", params=params, headers=integration)
        assert response.status_code == 200, response.text
        return [entry["id"] for entry in response.json()]

    assert ids(card="evaluate-student-models") == [made["id"]]
    assert ids(card="closest-student") == []
    assert ids(since=at) == [made["id"]]
    assert ids(until=at) == []
    assert ids(since="2000-01-01T00:00:00+00:00", until="2999-01-01T00:00:00Z") == [made["id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-01-01T00:00:00"}, "until"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WzFd"}, "cursor"),
    ],
)
def test_bad_list_parameters_are_422_naming_them(
    api: TestClient, integration: dict[str, str], params: dict[str, str], field: str
) -> None:
    response = api.get("/api/v1/submissions", params=params, headers=integration)

    assert response.status_code == 422
    assert [entry["field"] for entry in response.json()["detail"]] == [field]


# --- idempotency ------------------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_returns_the_first_result_and_stores_nothing(
    app: FastAPI, api: TestClient, integration: dict[str, str]
) -> None:
    body = {"seed": 0, "answers": ANSWERS, "learner": "lms-user-5"}
    key = {**integration, "Idempotency-Key": "8d1c7a2e-retry"}

    first = api.post(SUBMIT, json=body, headers=key)
    retry = api.post(SUBMIT, json=body, headers=key)

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert count(app, Submission) == 1
    assert count(app, IdempotencyKey) == 1


def test_the_same_key_with_another_body_is_422_naming_the_header(
    app: FastAPI, api: TestClient, integration: dict[str, str]
) -> None:
    key = {**integration, "Idempotency-Key": "k-1"}
    api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS, "learner": "a"}, headers=key)

    other = api.post(SUBMIT, json={"seed": 1, "answers": ANSWERS, "learner": "a"}, headers=key)

    assert other.status_code == 422
    assert other.json()["detail"][0]["field"] == "Idempotency-Key"
    assert count(app, Submission) == 1


def test_keys_belong_to_their_caller(
    app: FastAPI, api: TestClient, make_user: MakeUser, make_token: Callable[..., str]
) -> None:
    body = {"seed": 0, "answers": ANSWERS}
    one = bearer(make_token(make_user("learner")))
    two = bearer(make_token(make_user("learner")))

    first = api.post(SUBMIT, json=body, headers={**one, "Idempotency-Key": "same"})
    second = api.post(SUBMIT, json=body, headers={**two, "Idempotency-Key": "same"})

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert count(app, Submission) == 2


def test_a_refused_submission_keeps_no_key(app: FastAPI, api: TestClient, integration: dict[str, str]) -> None:
    key = {**integration, "Idempotency-Key": "k-2"}
    bad = api.post(SUBMIT, json={"seed": 0, "answers": {**ANSWERS, "loss_a": "abc"}, "learner": "a"}, headers=key)
    good = api.post(SUBMIT, json={"seed": 0, "answers": {**ANSWERS, "loss_a": "abc"}, "learner": "a"}, headers=key)

    assert bad.status_code == good.status_code == 422
    assert count(app, IdempotencyKey) == 0


def test_a_retried_deck_answer_uses_no_second_attempt(
    app: FastAPI, api: TestClient, integration: dict[str, str]
) -> None:
    load_example_deck(app)
    url = f"/api/v1/decks/{EXAMPLE}/cards/{EXAMPLE_CARDS[0]}/submissions"
    key = {**integration, "Idempotency-Key": "deck-1"}

    first = api.post(url, json={"answers": RIGHT, "learner": "lms-user-7"}, headers=key)
    retry = api.post(url, json={"answers": RIGHT, "learner": "lms-user-7"}, headers=key)

    assert first.status_code == retry.status_code == 201, first.text
    assert retry.json() == first.json()
    assert first.json()["attempt"] == 1
    assert count(app, Submission) == 1


def test_a_guest_retry_is_idempotent_too(app: FastAPI, client: TestClient) -> None:
    headers = {"X-CSRF-Token": client.get("/api/v1/session").json()["csrf_token"], "Idempotency-Key": "g"}

    first = client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers=headers)
    retry = client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers=headers)

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert count(app, Submission) == 1


# --- webhooks ---------------------------------------------------------------------------------------------


def test_the_api_names_the_same_events_as_the_service() -> None:
    assert get_args(WebhookEvent) == EVENTS


def test_an_administrator_registers_lists_and_removes_webhooks(
    app: FastAPI, admin_client: TestClient, instructor_client: TestClient, api: TestClient, integration: dict[str, str]
) -> None:
    body = {"url": "https://lms.example.edu/hooks", "secret": "s" * 32}

    made = admin_client.post("/api/v1/webhooks", json=body)

    assert made.status_code == 201, made.text
    assert "secret" not in made.json()
    assert made.json()["events"] == ["submission.graded", "submission.regraded"]  # no choice: every event
    assert [hook["url"] for hook in admin_client.get("/api/v1/webhooks").json()] == [body["url"]]
    assert instructor_client.post("/api/v1/webhooks", json=body).status_code == 403
    assert instructor_client.get("/api/v1/webhooks").status_code == 403
    short = admin_client.post("/api/v1/webhooks", json={**body, "secret": "short"})
    assert short.status_code == 422 and short.json()["detail"][0]["field"] == "secret"
    ftp = admin_client.post("/api/v1/webhooks", json={**body, "url": "ftp://x"})
    assert ftp.status_code == 422 and ftp.json()["detail"][0]["field"] == "url"
    for events in (["card.deleted"], []):
        refused = admin_client.post("/api/v1/webhooks", json={**body, "events": events})
        assert refused.status_code == 422 and refused.json()["detail"][0]["field"].startswith("events"), refused.text
    assert len(admin_client.get("/api/v1/webhooks").json()) == 1  # nothing half-made

    api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS, "learner": "lms-user-2"}, headers=integration)
    with app.state.sessionmaker() as session:
        [message] = session.scalars(select(OutboxMessage)).all()
    assert message.kind == "webhook" and message.target_url == body["url"]
    assert message.payload["event"] == "submission.graded"
    assert message.payload["submission"]["learner"]["external_id"] == "lms-user-2"

    assert admin_client.delete(f"/api/v1/webhooks/{made.json()['id']}").status_code == 204
    assert admin_client.get("/api/v1/webhooks").json() == []
    later = admin_client.post("/api/v1/webhooks", json={**body, "events": ["submission.regraded"]})
    assert later.status_code == 201 and later.json()["events"] == ["submission.regraded"]
    assert [hook["events"] for hook in admin_client.get("/api/v1/webhooks").json()] == [["submission.regraded"]]
    assert admin_client.delete(f"/api/v1/webhooks/{made.json()['id']}").status_code == 404
