"""API tokens on the account page and as ``Authorization: Bearer`` on /api/v1; who may do what."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from accounts_support import MakeUser, UserClient, signed_in
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db.models import ApiToken, User
from app.services.tokens import create_token, revoke_token
from app.web.auth import AdminDep, InstructorDep, UserDep, require_scope

SLUG = "evaluate-student-models"
SUBMIT = f"/api/v1/cards/{SLUG}/submissions"
ANSWERS = {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A", "reasoning": "A is closer."}
_SECRET = re.compile(r'id="new-token" class="token-secret" value="(dt_[A-Za-z0-9_-]{43})"')


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def make_token(app: FastAPI) -> Callable[..., str]:
    """``make_token(user, scopes=None)`` → the secret of a new token of ``user``."""

    def make(user: User, scopes: list[str] | None = None, name: str = "script") -> str:
        with app.state.sessionmaker() as session:
            owner = session.get(User, user.id)
            assert owner is not None
            return create_token(session=session, user=owner, name=name, scopes=scopes).secret

    return make


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    """A script's client: its bearer token alone says who it is."""
    with TestClient(app) as client:
        yield client


def tokens_in_db(app: FastAPI) -> list[ApiToken]:
    with app.state.sessionmaker() as session:
        return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


# --- the account page ---------------------------------------------------------------------------------------


def test_a_token_made_on_the_account_page_is_shown_once(learner_client: UserClient, app: FastAPI) -> None:
    page = learner_client.get("/account")
    assert page.status_code == 200
    assert "You have no tokens yet." in page.text
    assert page.headers["cache-control"] == "no-store"

    made = learner_client.post("/account/tokens", data={"name": "homework script", "scopes": ["read", "submit"]})

    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    found = _SECRET.search(made.text)
    assert found is not None
    secret = found.group(1)
    [row] = tokens_in_db(app)
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert (row.name, row.scopes, row.prefix) == ("homework script", ["read", "submit"], secret[:10])
    again = learner_client.get("/account").text
    assert secret not in again
    assert f"<code>{secret[:10]}</code>" in again and "homework script" in again


def test_the_account_page_offers_only_the_roles_scopes(
    learner_client: UserClient, instructor_client: UserClient
) -> None:
    learner_page, instructor_page = learner_client.get("/account").text, instructor_client.get("/account").text
    assert 'value="submit"' in learner_page and 'value="cards:write"' not in learner_page
    assert 'value="cards:write"' in instructor_page and 'value="grades:write"' in instructor_page
    assert 'value="integrations"' not in instructor_page


def test_a_learner_cannot_make_a_cards_write_token_by_posting_it(learner_client: UserClient, app: FastAPI) -> None:
    response = learner_client.post("/account/tokens", data={"name": "sneaky", "scopes": ["read", "cards:write"]})

    assert response.status_code == 422
    assert "a learner account cannot give a token cards:write" in response.text
    assert 'value="sneaky"' in response.text
    assert tokens_in_db(app) == []


def test_a_token_needs_a_name(learner_client: UserClient, app: FastAPI) -> None:
    response = learner_client.post("/account/tokens", data={"name": "  "})
    assert response.status_code == 422
    assert '<p class="field-error" id="name-error">is required' in response.text
    assert tokens_in_db(app) == []


def test_revoking_on_the_account_page_stops_the_token_at_once(
    learner_client: UserClient, api: TestClient, make_token: Callable[..., str], app: FastAPI
) -> None:
    secret = make_token(learner_client.user)
    assert api.get("/api/v1/submissions", headers=bearer(secret)).status_code == 200
    [row] = tokens_in_db(app)

    response = learner_client.post(f"/account/tokens/{row.id}/revoke", follow_redirects=False)

    assert response.status_code == 303 and response.headers["location"] == "/account"
    refused = api.get("/api/v1/submissions", headers=bearer(secret))
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert "Revoked" in learner_client.get("/account").text


def test_nobody_revokes_another_users_token(
    learner_client: UserClient, make_user: MakeUser, make_token: Callable[..., str], app: FastAPI, api: TestClient
) -> None:
    secret = make_token(make_user())
    [row] = tokens_in_db(app)
    assert learner_client.post(f"/account/tokens/{row.id}/revoke").status_code == 404
    assert learner_client.post("/account/tokens/99999999999999999999/revoke").status_code == 404
    assert api.get("/api/v1/submissions", headers=bearer(secret)).status_code == 200


def test_a_token_cannot_reach_the_account_page_to_make_more_tokens(
    learner_client: UserClient, api: TestClient, make_token: Callable[..., str]
) -> None:
    secret = make_token(learner_client.user)
    assert api.get("/account", headers=bearer(secret)).status_code == 403
    assert api.post("/account/tokens", data={"name": "more"}, headers=bearer(secret)).status_code == 403


# --- bearer tokens on the API ---------------------------------------------------------------------------------


def test_a_bearer_token_submits_and_reads_as_its_user(
    client: TestClient, api: TestClient, make_user: MakeUser, make_token: Callable[..., str], app: FastAPI
) -> None:
    user = make_user()
    secret = make_token(user)

    made = api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers=bearer(secret))

    assert made.status_code == 201
    assert made.json()["score"] == 1.0
    listed = api.get("/api/v1/submissions", headers=bearer(secret)).json()
    assert [entry["id"] for entry in listed] == [made.json()["id"]]
    assert api.get(f"/api/v1/submissions/{made.json()['id']}", headers=bearer(secret)).status_code == 200
    assert "set-cookie" not in made.headers  # a script gets no guest cookie
    # The same history in the browser once the user signs in.
    signed_in(client, user)
    assert f'href="/submissions/{made.json()["id"]}"' in client.get("/progress").text
    [row] = tokens_in_db(app)
    assert row.last_used_at is not None


def test_the_session_endpoint_describes_a_token(
    api: TestClient, make_user: MakeUser, make_token: Callable[..., str]
) -> None:
    user = make_user("instructor")
    secret = make_token(user, ["read", "cards:write"])
    body = api.get("/api/v1/session", headers=bearer(secret)).json()
    assert body == {
        "auth": "token",
        "user": {"id": user.id, "email": user.email, "role": "instructor"},
        "scopes": ["read", "cards:write"],
        "csrf_token": None,
    }


@pytest.mark.parametrize(
    "header",
    ["Bearer dt_" + "A" * 43, "Bearer nonsense", "Bearer ", "bearer dt_short"],
)
def test_unknown_or_malformed_tokens_get_401_with_www_authenticate(api: TestClient, header: str) -> None:
    response = api.get("/api/v1/submissions", headers={"Authorization": header})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["detail"][0]["message"].startswith("the bearer token is not valid")


def test_a_token_without_submit_cannot_submit(
    api: TestClient, make_user: MakeUser, make_token: Callable[..., str]
) -> None:
    secret = make_token(make_user(), ["read"])
    response = api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers=bearer(secret))
    assert response.status_code == 403
    assert response.json()["detail"][0]["message"] == "this token lacks the scope 'submit'"
    assert api.get("/api/v1/submissions", headers=bearer(secret)).json() == []


def test_a_token_without_read_cannot_read(api: TestClient, make_user: MakeUser, make_token: Callable[..., str]) -> None:
    secret = make_token(make_user(), ["submit"])
    assert api.get("/api/v1/submissions", headers=bearer(secret)).status_code == 403
    assert api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers=bearer(secret)).status_code == 201


def test_a_token_revoked_by_the_service_is_refused(
    api: TestClient, make_user: MakeUser, make_token: Callable[..., str], app: FastAPI
) -> None:
    user = make_user()
    secret = make_token(user)
    with app.state.sessionmaker() as session:
        revoke_token(session=session, user_id=user.id, prefix=secret[:10])
    assert api.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers=bearer(secret)).status_code == 401


# --- the gates: signed in, instructor, admin, scope -----------------------------------------------------------


@pytest.fixture
def gated(app: FastAPI) -> FastAPI:
    """The app with one route per gate, on the API and as pages, to try each role and each kind of caller."""

    def who(user: Any) -> dict[str, str]:
        return {"email": user.email}

    def signed(user: UserDep) -> dict[str, str]:
        return who(user)

    def teach(user: InstructorDep) -> dict[str, str]:
        return who(user)

    def administer(user: AdminDep) -> dict[str, str]:
        return who(user)

    for prefix in ("/api/v1/gate", "/gate"):
        app.add_api_route(f"{prefix}/user", signed)
        app.add_api_route(f"{prefix}/instructor", teach)
        app.add_api_route(f"{prefix}/admin", administer)
        app.add_api_route(
            f"{prefix}/grades", teach, methods=["POST"], dependencies=[Depends(require_scope("grades:write"))]
        )
    return app


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("learner", {"user": 200, "instructor": 403, "admin": 403}),
        ("instructor", {"user": 200, "instructor": 200, "admin": 403}),
        ("admin", {"user": 200, "instructor": 200, "admin": 200}),
    ],
)
def test_each_role_passes_the_gates_it_should(
    gated: FastAPI, user_client: Callable[[str], UserClient], role: str, expected: dict[str, int]
) -> None:
    client = user_client(role)
    for gate, status in expected.items():
        assert client.get(f"/api/v1/gate/{gate}").status_code == status, gate
        assert client.get(f"/gate/{gate}").status_code == status, gate


def test_nobody_signed_in_gets_401_on_the_api_and_the_sign_in_page_elsewhere(
    gated: FastAPI, client: TestClient
) -> None:
    api_response = client.get("/api/v1/gate/instructor")
    assert api_response.status_code == 401
    assert api_response.headers["www-authenticate"].startswith("Bearer")
    page = client.get("/gate/instructor?x=1", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/signin?next=/gate/instructor%3Fx%3D1"


def test_a_learner_sees_a_403_page_saying_why(gated: FastAPI, learner_client: UserClient) -> None:
    response = learner_client.get("/gate/instructor")
    assert response.status_code == 403
    assert "only instructors can do this" in response.text


def test_scopes_bind_tokens_but_not_browser_sessions(
    gated: FastAPI, api: TestClient, instructor_client: UserClient, make_token: Callable[..., str]
) -> None:
    narrow = make_token(instructor_client.user, ["read", "cards:write"])
    wide = make_token(instructor_client.user, ["read", "grades:write"])

    refused = api.post("/api/v1/gate/grades", headers=bearer(narrow))
    assert refused.status_code == 403
    assert refused.json()["detail"][0]["message"] == "this token lacks the scope 'grades:write'"
    assert api.post("/api/v1/gate/grades", headers=bearer(wide)).json() == {"email": instructor_client.user.email}
    assert instructor_client.post("/api/v1/gate/grades").status_code == 200  # a cookie session: its role decides
