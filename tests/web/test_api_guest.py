"""Guests: a signed, HttpOnly, SameSite=Lax cookie that keeps a learner's history; forgeries are ignored."""

from __future__ import annotations

import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

import pytest
from accounts_support import csrf_headers
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.web.guest import COOKIE_MAX_AGE, COOKIE_NAME, REFRESH_AFTER, GuestSigner

SLUG = "evaluate-student-models"
COOKIE_DOMAIN = "testserver.local"  # where the test client files cookies from http://testserver
ANSWERS = {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A", "reasoning": "A is closer."}


def set_cookie(response: Any) -> SimpleCookie:
    cookies: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookies.load(header)
    return cookies


def submit(client: TestClient) -> int:
    response = client.post(
        f"/api/v1/cards/{SLUG}/submissions", json={"seed": 0, "answers": ANSWERS}, headers=csrf_headers(client)
    )
    assert response.status_code == 201
    submission_id: int = response.json()["id"]
    return submission_id


def test_the_first_request_that_needs_a_guest_sets_a_signed_httponly_lax_cookie(client: TestClient) -> None:
    response = client.get(f"/api/v1/cards/{SLUG}/variant")

    morsel = set_cookie(response)[COOKIE_NAME]
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    assert int(morsel["max-age"]) == COOKIE_MAX_AGE == 365 * 24 * 3600
    assert not morsel["secure"]  # the default serves plain http on localhost
    assert GuestSigner("another key").read(morsel.value) is None  # signed with the app's key only


def test_the_cookie_is_secure_when_configured(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"cookie_secure": True}))) as client:
        response = client.get(f"/api/v1/cards/{SLUG}/variant")

    assert set_cookie(response)[COOKIE_NAME]["secure"] is True


def test_a_guest_keeps_their_cookie_and_their_history(client: TestClient, guest_id_of: Callable[..., str]) -> None:
    made = submit(client)
    guest = guest_id_of(client)

    response = client.get("/api/v1/submissions")

    assert "set-cookie" not in response.headers  # nothing new to say
    assert [entry["id"] for entry in response.json()] == [made]
    submit(client)
    assert guest_id_of(client) == guest
    assert len(client.get("/api/v1/submissions").json()) == 2


def test_a_tampered_cookie_is_ignored_and_a_new_guest_issued(
    client: TestClient, guest_id_of: Callable[..., str]
) -> None:
    made = submit(client)
    genuine = client.cookies.get(COOKIE_NAME)
    assert genuine is not None
    old_guest = guest_id_of(client)
    guest_part, rest = genuine.split(".", 1)
    forged = guest_part[:-1] + ("A" if guest_part[-1] != "A" else "B") + "." + rest
    client.cookies.set(COOKIE_NAME, forged, domain=COOKIE_DOMAIN)  # replaces the genuine one

    assert client.get("/api/v1/submissions").json() == []  # the forged id is nobody
    assert client.get(f"/api/v1/submissions/{made}").status_code == 404
    response = client.get(f"/api/v1/cards/{SLUG}/variant")

    fresh = set_cookie(response)[COOKIE_NAME].value
    assert fresh not in (genuine, forged)
    assert guest_id_of(client) != old_guest
    assert client.get("/api/v1/submissions").json() == []


@pytest.mark.parametrize("cookie", ["garbage", "", "a.b.c", "x" * 5000])
def test_a_cookie_that_is_not_genuine_gets_a_fresh_guest(client: TestClient, cookie: str) -> None:
    client.cookies.set(COOKIE_NAME, cookie, domain=COOKIE_DOMAIN)

    response = client.get(f"/api/v1/cards/{SLUG}/variant")

    assert response.status_code == 200
    assert set_cookie(response)[COOKIE_NAME].value != cookie


def test_a_new_guest_gets_the_cookie_even_when_the_request_fails(client: TestClient) -> None:
    response = client.post(f"/api/v1/cards/{SLUG}/submissions", json={"seed": 0, "answers": {"loss_a": "abc"}})

    assert response.status_code == 422
    assert COOKIE_NAME in set_cookie(response)


def test_an_old_cookie_is_signed_afresh_for_the_same_guest(
    client: TestClient, guest_id_of: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(client)
    guest = guest_id_of(client)
    later = time.time() + REFRESH_AFTER + 60

    class Later:
        @staticmethod
        def time() -> float:
            return later

    monkeypatch.setattr("app.web.guest.time", Later)
    response = client.get(f"/api/v1/cards/{SLUG}/variant")

    assert COOKIE_NAME in set_cookie(response)
    assert guest_id_of(client) == guest
    assert len(client.get("/api/v1/submissions").json()) == 1


def test_pages_set_the_same_cookie(client: TestClient, guest_id_of: Callable[..., str]) -> None:
    response = client.get(f"/cards/{SLUG}")

    assert response.status_code == 200
    assert COOKIE_NAME in set_cookie(response)
    guest = guest_id_of(client)
    submit(client)
    assert guest_id_of(client) == guest
