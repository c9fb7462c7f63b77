"""Hostile input: SQL injection in every path and query parameter, session fixation, password spraying, and
bodies or distributions too large to take. Each is answered with a 4xx (or the harmless page), never a 5xx,
and leaves the data as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote, urlencode

import pytest
from accounts_support import PASSWORD, MakeUser, UserClient, csrf_headers, form_csrf_token, signed_in
from decks_support import RIGHT, load_example_deck
from event_loops import run_in_own_loop
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.web.auth import SESSION_COOKIE

INJECTIONS: Final = ("' OR 1=1 --", "1; DROP TABLE submission", "%' --", '" OR ""="', "1 UNION SELECT email FROM user")
CARD: Final = "evaluate-student-models"


def routes(app: FastAPI) -> list[tuple[str, str, list[str]]]:
    """(method, path, query parameter names) for every route of the app."""
    found = []
    for route in app.routes:
        expand = getattr(route, "effective_route_contexts", None)
        for leaf in expand() if expand is not None else [route]:
            dependant = getattr(leaf, "dependant", None)
            if dependant is None:
                continue
            names: list[str] = []
            pending = [dependant]
            while pending:
                current = pending.pop()
                names += [getattr(param, "alias", param.name) for param in current.query_params]
                pending += current.dependencies
            found += [(method, leaf.path, names) for method in sorted(leaf.methods) if method != "HEAD"]
    return found


def snapshot(client: TestClient) -> tuple[list[str], int]:
    cards = [card["slug"] for card in client.get("/api/v1/cards", params={"limit": 100}).json()]
    submissions = client.get("/api/v1/submissions", params={"limit": 100}).json()
    count = len(submissions["items"] if isinstance(submissions, dict) else submissions)
    return cards, count


@pytest.mark.parametrize("injection", INJECTIONS)
def test_sql_in_any_path_or_query_parameter_is_refused_and_harmless(
    app: FastAPI, admin_client: UserClient, injection: str
) -> None:
    load_example_deck(app)
    sent = admin_client.post(f"/api/v1/cards/{CARD}/submissions", json={"seed": 0, "answers": RIGHT})
    assert sent.status_code == 201
    before = snapshot(admin_client)
    failures = []
    for method, path, query in routes(app):
        has_params = "{" in path
        if method != "GET" and not has_params:
            continue  # sign-out, sign-in and friends: nothing in their address to inject into
        url = re.sub(r"\{\w+(:\w+)?\}", quote(injection, safe=""), path)
        if query:
            url += "?" + urlencode(dict.fromkeys(query, injection))
        response = admin_client.request(method, url, follow_redirects=False)
        if response.status_code >= 500:
            failures.append(f"{method} {url}: {response.status_code}")
    assert failures == []
    assert snapshot(admin_client) == before
    assert admin_client.get(f"/api/v1/submissions/{sent.json()['id']}").status_code == 200


@pytest.mark.parametrize("injection", INJECTIONS)
def test_sql_in_form_fields_signs_nobody_in(client: TestClient, make_user: MakeUser, injection: str) -> None:
    user = make_user()
    token = form_csrf_token(client.get("/signin").text)
    for email, password in ((injection, injection), (user.email, injection), (f"{user.email}' --", "x")):
        response = client.post(
            "/signin", data={"email": email, "password": password, "csrf_token": token}, follow_redirects=False
        )
        assert response.status_code in (400, 422), response.status_code
    assert SESSION_COOKIE not in client.cookies


# --- session fixation ------------------------------------------------------------------------------------------


def who(client: TestClient) -> str | None:
    user = client.get("/api/v1/session").json().get("user")
    return None if user is None else str(user["email"])


def test_a_session_cookie_planted_before_sign_in_is_replaced_and_never_becomes_the_victims(
    make_client: Callable[[], TestClient], make_user: MakeUser
) -> None:
    attacker, victim = make_user(), make_user()
    planter = signed_in(make_client(), attacker)
    planted = planter.cookies[SESSION_COOKIE]
    browser = make_client()
    for cookie in planter.cookies.jar:  # the attacker's own session, fixed in the victim's browser
        browser.cookies.jar.set_cookie(cookie)
    assert who(browser) == attacker.email

    token = form_csrf_token(browser.get("/signin").text)
    response = browser.post(
        "/signin", data={"email": victim.email, "password": PASSWORD, "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    after = browser.cookies[SESSION_COOKIE]
    assert after != planted
    assert who(browser) == victim.email

    replay = make_client()
    replay.cookies.set(SESSION_COOKIE, planted)
    assert who(replay) == attacker.email  # the planted value never learnt the victim's identity


def test_the_guest_cookie_and_csrf_token_from_before_sign_in_do_not_outlive_it(
    client: TestClient, make_client: Callable[[], TestClient], make_user: MakeUser
) -> None:
    user = make_user()
    old_token = csrf_headers(client)  # a guest's token, for the guest cookie this issues
    guest_cookie = client.cookies["tutor_guest"]
    signed_in(client, user)
    assert client.cookies.get("tutor_guest") in (None, "")
    assert client.post("/account/sessions/end", headers=old_token, follow_redirects=False).status_code == 403

    stranger = make_client()
    stranger.cookies.set("tutor_guest", guest_cookie)
    assert who(stranger) is None


def test_a_forged_session_cookie_authenticates_nobody(client: TestClient, make_user: MakeUser) -> None:
    make_user()
    for value in ("1", '{"u": 1, "v": 0, "s": "x"}', "eyJ1IjoxLCJ2IjowLCJzIjoieCJ9.AAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAA"):
        client.cookies.set(SESSION_COOKIE, value)
        assert who(client) is None


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "/%2F%2Fevil.example"],
)
def test_signing_in_never_redirects_off_the_site(client: TestClient, make_user: MakeUser, target: str) -> None:
    user = make_user()
    token = form_csrf_token(client.get("/signin", params={"next": target}).text)
    response = client.post(
        "/signin",
        data={"email": user.email, "password": PASSWORD, "csrf_token": token, "next": target},
        follow_redirects=False,
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\")), location


# --- brute force ------------------------------------------------------------------------------------------------


def test_spraying_passwords_across_accounts_from_one_address_is_stopped(
    client: TestClient, make_user: MakeUser
) -> None:
    """One address guessing one password for many accounts: the address is locked out (or rate limited)."""
    target = make_user()
    token = form_csrf_token(client.get("/signin").text)
    statuses = []
    for i in range(60):
        response = client.post(
            "/signin",
            data={"email": f"someone-{i}@example.org", "password": "Summer2026!", "csrf_token": token},
            follow_redirects=False,
        )
        statuses.append(response.status_code)
    assert 429 in statuses, statuses
    assert set(statuses) <= {400, 429}
    right = client.post(
        "/signin", data={"email": target.email, "password": PASSWORD, "csrf_token": token}, follow_redirects=False
    )
    assert right.status_code == 429  # even a right password waits until the address's lock ends
    assert int(right.headers["retry-after"]) > 0


# --- sizes ------------------------------------------------------------------------------------------------------


def test_a_body_over_one_megabyte_is_413_on_the_api_and_on_a_form(client: TestClient) -> None:
    token = form_csrf_token(client.get(f"/cards/{CARD}").text)
    api = client.post("/api/v1/divergence", content=b" " * 1_000_001, headers={"content-type": "application/json"})
    assert api.status_code == 413
    assert api.json()["detail"][0]["message"] == "the request body is larger than 1,000,000 bytes"
    form = client.post(f"/cards/{CARD}", data={"csrf_token": token, "seed": "0", "why": "x" * 1_000_001})
    assert form.status_code == 413
    body = b'{"p": [1.0], "measure": "entropy"}'
    just_under = client.post("/api/v1/divergence", content=body + b" " * (1_000_000 - len(body)),
                             headers={"content-type": "application/json"})
    assert just_under.status_code == 200


def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(app: FastAPI) -> None:
    """Straight through ASGI, as a server streams it: the app stops reading once the limit is passed."""
    chunk = b"0.0001," * 1_000
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b'{"p": [' if pulled == 1 else chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/v1/divergence", "raw_path": b"/api/v1/divergence", "root_path": "", "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                    (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }
    run_in_own_loop(lambda: app(scope, receive, send))  # type: ignore[arg-type]

    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert pulled <= 1_000_000 // len(chunk) + 2  # a body that never ends is read only up to the limit


@pytest.mark.parametrize("field", ["p", "q"])
def test_a_distribution_over_ten_thousand_entries_is_422_naming_it(client: TestClient, field: str) -> None:
    body: dict[str, Any] = {"p": [0.5, 0.5], "q": [0.5, 0.5], field: [1 / 10_001] * 10_001}
    response = client.post("/api/v1/divergence", json=body)
    assert response.status_code == 422
    assert response.json()["detail"] == [{"field": field, "message": "has 10,001 entries; at most 10,000 are allowed"}]
    at_limit = client.post("/api/v1/divergence", json={"p": [1e-4] * 10_000, "q": [1e-4] * 10_000})
    assert at_limit.status_code == 200


def test_oversized_answers_in_a_submission_are_422_naming_the_part(client: TestClient) -> None:
    url = f"/api/v1/cards/{CARD}/submissions"
    client.headers.update(csrf_headers(client))
    listed = client.post(url, json={"seed": 0, "answers": {"loss_a": [str(1e-4)] * 10_001}})
    written = client.post(url, json={"seed": 0, "answers": {"loss_a": str([1e-4] * 10_001)}})
    for response in (listed, written):
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == "answers.loss_a"
    too_many = client.post(url, json={"seed": 0, "answers": {f"k{i}": "1" for i in range(10_001)}})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["field"] == "answers"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"temperature": 1e-300}, "out of range"),  # T² underflows to 0: 0·∞ would be NaN
        ({"temperature": 1e300}, "out of range"),  # T² overflows
        ({"teacher_logits": [1.7e308, -1.7e308], "temperature": 0.5}, "logits / T overflows"),
    ],
)
def test_a_temperature_that_breaks_the_arithmetic_is_422_naming_it(
    client: TestClient, changes: dict[str, Any], words: str
) -> None:
    body = {"teacher_logits": [1.0, 2.0], "student_logits": [2.0, 1.0], "label": 0, "alpha": 0.5,
            "temperature": 2.0, **changes}
    response = client.post("/api/v1/distillation-loss", json=body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["field"] == "temperature" and words in error["message"]


@pytest.mark.parametrize("body", [b'{"p": [0.5], "q": "\xc3\x28"}', b'{"p": [0.5, 0.5], "q": "\xe9"}'])
def test_a_body_that_is_not_utf8_is_422_naming_the_body(client: TestClient, body: bytes) -> None:
    response = client.post("/api/v1/divergence", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == [{"field": "body", "message": "is not UTF-8 text"}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"p": [True, False], "q": [0.5, 0.5]}, "p[0]"),
        ({"p": ["0.5", "0.5"], "q": [0.5, 0.5]}, "p[0]"),
    ],
)
def test_values_of_the_wrong_type_are_not_coerced(client: TestClient, body: dict[str, Any], field: str) -> None:
    response = client.post("/api/v1/divergence", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == field
