"""CSRF: every state-changing request authenticated by a cookie needs the token; bearer requests need none."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from accounts_support import MakeUser, UserClient, csrf_headers, form_csrf_token, signed_in
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db.models import User
from app.services.tokens import create_token
from app.web.csrf import EXEMPT_ROUTES

SLUG = "evaluate-student-models"
SUBMIT = f"/api/v1/cards/{SLUG}/submissions"
ANSWERS = {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A", "reasoning": "A is closer."}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PATH_VALUES = {"slug": SLUG, "path": "x"}


def routes(app: FastAPI) -> list[Any]:
    """Every route of the app with its full path (FastAPI keeps included routers as branches to expand)."""
    found: list[Any] = []
    for route in app.routes:
        expand = getattr(route, "effective_route_contexts", None)
        found.extend(expand() if expand is not None else [route])
    return found


def unsafe_routes(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path with its parameters filled, route name) for every state-changing route of the app."""
    found = []
    for route in routes(app):
        if not isinstance(getattr(route, "methods", None), set) or route.name in EXEMPT_ROUTES:
            continue
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PATH_VALUES.get(m.group(1), "1"), route.path)
        found.extend((method, path, route.name) for method in sorted(route.methods & UNSAFE))
    return found


def send(client: TestClient, method: str, path: str, headers: dict[str, str] | None = None) -> int:
    if path.startswith("/api/"):
        response = client.request(method, path, json={}, headers=headers)
    else:
        response = client.request(method, path, data={"name": "x"}, headers=headers, follow_redirects=False)
    return response.status_code


def test_the_app_has_state_changing_routes_to_protect(app: FastAPI) -> None:
    names = {name for _, _, name in unsafe_routes(app)}
    assert {"page_submit", "api_create_submission", "page_signout", "page_create_token"} <= names


def test_every_cookie_authenticated_change_without_the_token_is_refused(admin_client: UserClient) -> None:
    """A signed-in administrator reaches every route; without the token, none of them runs."""
    del admin_client.headers["X-CSRF-Token"]
    refused = {(method, path): send(admin_client, method, path) for method, path, _ in unsafe_routes(admin_client.app)}  # type: ignore[arg-type]
    assert refused and set(refused.values()) == {403}, {k: v for k, v in refused.items() if v != 403}


def test_a_guests_changes_need_the_token_too(client: TestClient, app: FastAPI) -> None:
    client.get(f"/cards/{SLUG}")  # a guest with a cookie now
    for method, path, _ in unsafe_routes(app):
        if path.startswith(("/signin", "/signup", "/signout", "/cards/", "/api/v1/cards/")):
            assert send(client, method, path) == 403, (method, path)


def test_the_api_refusal_names_the_token_and_where_to_get_it(client: TestClient) -> None:
    client.get("/api/v1/session")

    response = client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS})

    assert response.status_code == 403
    [entry] = response.json()["detail"]
    assert entry["field"] == "csrf_token"
    assert "X-CSRF-Token" in entry["message"] and "GET /api/v1/session" in entry["message"]
    assert client.get("/api/v1/submissions").json() == []  # nothing was stored


def test_the_page_refusal_is_a_page_saying_what_to_do(client: TestClient) -> None:
    client.get(f"/cards/{SLUG}")

    response = client.post(f"/cards/{SLUG}", data={"seed": "0", **ANSWERS})

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "reload the page and send it again" in response.text
    assert "not answered any cards yet" in client.get("/progress").text


def test_with_the_token_the_same_requests_pass(client: TestClient) -> None:
    page = client.get(f"/cards/{SLUG}").text
    form = client.post(f"/cards/{SLUG}", data={"seed": "0", **ANSWERS, "csrf_token": form_csrf_token(page)})
    api = client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers=csrf_headers(client))

    assert form.status_code == 200 and "Result:" in form.text
    assert api.status_code == 201
    assert len(client.get("/api/v1/submissions").json()) == 2


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "%C3%A9", "t" * 5000])
def test_a_wrong_token_is_refused(client: TestClient, token: str) -> None:
    client.get("/api/v1/session")  # a guest now
    response = client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers={"X-CSRF-Token": token})
    assert response.status_code == 403


def test_another_browsers_token_is_refused(
    client: TestClient, make_client: Callable[[], TestClient], make_user: MakeUser
) -> None:
    stranger = make_client()
    theirs = csrf_headers(stranger)
    signed_in(client, make_user())
    assert client.post("/signout", headers=theirs, follow_redirects=False).status_code == 403


def test_the_guests_token_stops_working_when_the_guest_signs_in(client: TestClient, make_user: MakeUser) -> None:
    as_guest = csrf_headers(client)
    signed_in(client, make_user())

    assert client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers=as_guest).status_code == 403
    assert client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}).status_code == 201  # the session's token


def test_each_sign_in_gives_a_new_token(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    signed_in(client, user)
    first = client.headers["X-CSRF-Token"]
    signed_in(client, user)
    assert client.headers["X-CSRF-Token"] != first


def test_the_calculators_need_no_token(client: TestClient) -> None:
    client.get("/api/v1/session")
    body = {"p": [0.5, 0.5], "q": [0.25, 0.75]}
    assert client.post("/api/v1/divergence", json=body).status_code == 200
    loss = {"teacher_logits": [2.0, 1.0], "student_logits": [1.0, 1.0], "label": 0, "alpha": 0.5, "temperature": 2}
    assert client.post("/api/v1/distillation-loss", json=loss).status_code == 200


def test_a_first_request_without_cookies_has_nothing_to_forge(client: TestClient) -> None:
    response = client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS})
    assert response.status_code == 201


def test_bearer_requests_need_no_token_even_with_cookies(client: TestClient, app: FastAPI, make_user: MakeUser) -> None:
    user = make_user()
    with app.state.sessionmaker() as session:
        secret = create_token(session=session, user=session.get(User, user.id), name="script").secret  # type: ignore[arg-type]
    client.get("/api/v1/session")  # the browser-like client also has a guest cookie

    response = client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers={"Authorization": f"Bearer {secret}"})

    assert response.status_code == 201
    assert client.get("/api/v1/submissions").json() == []  # stored for the token's user, not the guest
    mine = client.get("/api/v1/submissions", headers={"Authorization": f"Bearer {secret}"}).json()
    assert [entry["id"] for entry in mine] == [response.json()["id"]]


def test_a_bad_bearer_token_does_not_fall_back_to_the_cookies(client: TestClient, make_user: MakeUser) -> None:
    signed_in(client, make_user())
    del client.headers["X-CSRF-Token"]
    response = client.post(
        SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers={"Authorization": "Bearer dt_" + "A" * 43}
    )
    assert response.status_code == 401
    assert client.get("/api/v1/submissions").json() == []
