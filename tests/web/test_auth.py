"""Signing up, in and out in the browser: cookies, sessions that cannot be fixed, the guest's history kept."""

from __future__ import annotations

import re
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

import pytest
from accounts_support import PASSWORD, SECRET_KEY, MakeUser, csrf_headers, form_csrf_token, signed_in
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings
from app.db.models import Learner, User
from app.main import create_app
from app.services.accounts import end_sessions
from app.web.auth import SESSION_COOKIE, SESSION_MAX_AGE, SessionSigner
from app.web.guest import COOKIE_NAME as GUEST_COOKIE

CARD = "/cards/evaluate-student-models"
RIGHT = {"seed": "0", "loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A", "reasoning": "A is closer."}
COOKIE_DOMAIN = "testserver.local"


def set_cookies(response: Any) -> SimpleCookie:
    cookies: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookies.load(header)
    return cookies


def session_id(client: TestClient) -> str:
    payload = SessionSigner(SECRET_KEY).read(client.cookies.get(SESSION_COOKIE))
    assert payload is not None, "the client is not signed in"
    return payload.session_id


def who(client: TestClient) -> str | None:
    """The signed-in email, or None for a guest, as the API sees the client."""
    user = client.get("/api/v1/session").json()["user"]
    return None if user is None else str(user["email"])


def answer_card(client: TestClient) -> str:
    """Answer the card through its form; the result page's address."""
    token = form_csrf_token(client.get(CARD).text)
    response = client.post(CARD, data={**RIGHT, "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    return location


def sign_up(client: TestClient, email: str, password: str = PASSWORD, **extra: str) -> Any:
    token = form_csrf_token(client.get("/signup").text)
    data = {"email": email, "password": password, "confirm": password, "csrf_token": token, **extra}
    return client.post("/signup", data=data, follow_redirects=False)


def sign_in(client: TestClient, email: str, password: str = PASSWORD, **extra: str) -> Any:
    token = form_csrf_token(client.get("/signin").text)
    data = {"email": email, "password": password, "csrf_token": token, **extra}
    return client.post("/signin", data=data, follow_redirects=False)


def progress_links(client: TestClient) -> list[str]:
    return re.findall(r'href="(/submissions/\d+)"', client.get("/progress").text)


# --- signing up -------------------------------------------------------------------------------------------


def test_signing_up_makes_a_learner_signs_in_and_sets_a_safe_session_cookie(client: TestClient, app: FastAPI) -> None:
    response = sign_up(client, " New.Learner@Example.org ")

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    morsel = set_cookies(response)[SESSION_COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    assert int(morsel["max-age"]) == SESSION_MAX_AGE
    assert not morsel["secure"]
    assert who(client) == "new.learner@example.org"
    with app.state.sessionmaker() as session:
        user = session.scalars(select(User)).one()
    assert (user.email, user.role) == ("new.learner@example.org", "learner")


def test_the_session_cookie_is_secure_when_configured(settings: Settings, make_user: MakeUser) -> None:
    user = make_user()
    with TestClient(create_app(settings.model_copy(update={"cookie_secure": True}))) as client:
        response = sign_in(client, user.email)
    assert response.status_code == 303
    assert set_cookies(response)[SESSION_COOKIE]["secure"] is True


def test_sign_up_errors_are_shown_beside_each_field_and_nothing_is_made(client: TestClient, app: FastAPI) -> None:
    token = form_csrf_token(client.get("/signup").text)
    data = {"email": "not-an-address", "password": "short", "confirm": "short", "csrf_token": token}

    response = client.post("/signup", data=data)

    assert response.status_code == 422
    html = response.text
    assert re.search(r'id="email"[^>]*aria-describedby="email-error"[^>]*aria-invalid="true"', html, re.S)
    assert '<p class="field-error" id="email-error">The email address &#39;not-an-address&#39; is not an' in html
    assert '<p class="field-error" id="password-error">The password is 5 characters long; use at least 10' in html
    assert 'value="not-an-address"' in html  # the email is kept for the next try
    assert 'value="short"' not in html  # passwords never are
    with app.state.sessionmaker() as session:
        assert session.scalars(select(User)).all() == []


def test_sign_up_asks_for_the_same_password_twice(client: TestClient) -> None:
    response = sign_up(client, "ada@example.org", confirm="a different long password")
    assert response.status_code == 422
    assert '<p class="field-error" id="confirm-error">The two passwords differ' in response.text


def test_an_email_already_registered_is_said_beside_the_email(client: TestClient, make_user: MakeUser) -> None:
    make_user(email="taken@example.org")
    response = sign_up(client, "TAKEN@example.org")
    assert response.status_code == 422
    assert '<p class="field-error" id="email-error">The email address taken@example.org is already registered' in (
        response.text
    )


# --- signing in and out -------------------------------------------------------------------------------------


def test_signing_in_goes_back_where_the_user_was_going(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    gate = client.get("/account", follow_redirects=False)
    assert gate.status_code == 303
    assert gate.headers["location"] == "/signin?next=/account"
    page = client.get(gate.headers["location"]).text
    assert '<input type="hidden" name="next" value="/account">' in page

    response = sign_in(client, user.email.upper(), next="/account")

    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    assert user.email in client.get("/account").text


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "account"])
def test_sign_in_never_sends_the_user_to_another_site(client: TestClient, make_user: MakeUser, target: str) -> None:
    user = make_user()
    response = sign_in(client, user.email, next=target)
    assert response.headers["location"] == "/"


def test_a_wrong_password_says_so_without_telling_which_part(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    wrong = sign_in(client, user.email, "not the password at all")
    unknown = sign_in(client, "nobody@example.org")

    for response in (wrong, unknown):
        assert response.status_code == 400
        assert '<p class="field-error" id="password-error">The email address or the password is not right.' in (
            response.text
        )
        assert SESSION_COOKIE not in set_cookies(response)
    assert who(client) is None


def test_blank_fields_are_named(client: TestClient) -> None:
    response = sign_in(client, "", "")
    assert response.status_code == 422
    assert 'id="email-error">Enter your email address.' in response.text
    assert 'id="password-error">Enter your password.' in response.text


def test_each_sign_in_makes_a_new_session_id(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    sign_in(client, user.email)
    first_cookie, first_id = client.cookies.get(SESSION_COOKIE), session_id(client)

    assert sign_in(client, user.email).status_code == 303

    assert client.cookies.get(SESSION_COOKIE) != first_cookie
    assert session_id(client) != first_id


def test_a_session_cookie_planted_before_sign_in_does_not_become_the_users(
    client: TestClient, make_client: Callable[[], TestClient], make_user: MakeUser
) -> None:
    """Session fixation: whatever cookie the browser had before signing in authenticates nobody new after."""
    attacker, victim = make_user(), make_user()
    attackers_browser = make_client()
    signed_in(attackers_browser, attacker)
    planted = attackers_browser.cookies.get(SESSION_COOKIE)
    assert planted is not None
    client.cookies.set(SESSION_COOKIE, planted, domain=COOKIE_DOMAIN)  # set in the victim's browser
    assert who(client) == attacker.email

    response = sign_in(client, victim.email)

    fresh = set_cookies(response)[SESSION_COOKIE].value
    assert fresh != planted
    assert who(client) == victim.email
    assert who(attackers_browser) == attacker.email  # the planted cookie still means the attacker, never the victim


def test_the_guest_cookie_from_before_sign_in_does_not_reach_the_accounts_history(
    client: TestClient, make_client: Callable[[], TestClient], make_user: MakeUser
) -> None:
    user = make_user()
    result = answer_card(client)
    guest_cookie = client.cookies.get(GUEST_COOKIE)
    assert guest_cookie is not None

    response = sign_in(client, user.email)

    assert GUEST_COOKIE in set_cookies(response)  # deleted along the way
    assert set_cookies(response)[GUEST_COOKIE]["max-age"] == "0"
    assert progress_links(client) == [result]
    copy = make_client()
    copy.cookies.set(GUEST_COOKIE, guest_cookie, domain=COOKIE_DOMAIN)
    assert progress_links(copy) == []
    assert copy.get(result).status_code == 404
    assert who(copy) is None


def test_signing_out_ends_the_session_in_this_browser(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    signed_in(client, user)
    answer_card(client)

    response = client.post("/signout", headers=csrf_headers(client), follow_redirects=False)

    assert response.status_code == 303
    cookies = set_cookies(response)
    assert cookies[SESSION_COOKIE]["max-age"] == "0" and cookies[GUEST_COOKIE]["max-age"] == "0"
    assert who(client) is None
    assert progress_links(client) == []  # a new guest: the account's answers are not on this browser any more
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_a_copy_of_the_session_cookie_signs_no_one_in_once_the_session_is_signed_out(
    client: TestClient, make_client: Callable[[], TestClient], make_user: MakeUser
) -> None:
    user = make_user()
    signed_in(client, user)
    copy = make_client()  # a cookie copied off the machine (or left in another tab's jar) before signing out
    copy.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE], domain=COOKIE_DOMAIN)
    assert who(copy) == user.email

    client.post("/signout", headers=csrf_headers(client), follow_redirects=False)

    assert who(copy) is None
    assert copy.get("/account", follow_redirects=False).status_code == 303
    # Only that session ended: the next sign-in makes one that works.
    assert who(signed_in(make_client(), user)) == user.email
    assert who(copy) is None


def test_sign_out_is_a_post_with_the_token(client: TestClient, make_user: MakeUser) -> None:
    signed_in(client, make_user())
    del client.headers["X-CSRF-Token"]

    assert client.get("/signout").status_code == 405
    assert client.post("/signout", follow_redirects=False).status_code == 403
    assert who(client) is not None


def test_moving_the_session_version_on_ends_every_session(
    client: TestClient, make_client: Callable[[], TestClient], make_user: MakeUser, app: FastAPI
) -> None:
    user = make_user()
    other = make_client()
    signed_in(client, user)
    signed_in(other, user)

    with app.state.sessionmaker() as session:
        end_sessions(session=session, user=session.get(User, user.id))  # type: ignore[arg-type]

    assert who(client) is None and who(other) is None
    assert sign_in(client, user.email).status_code == 303
    assert who(client) == user.email


def test_sign_out_everywhere_from_the_account_page(
    client: TestClient, make_client: Callable[[], TestClient], make_user: MakeUser
) -> None:
    user = make_user()
    elsewhere = make_client()
    signed_in(elsewhere, user)
    signed_in(client, user)

    response = client.post("/account/sessions/end", follow_redirects=False)

    assert response.status_code == 303 and response.headers["location"] == "/signin"
    assert who(client) is None and who(elsewhere) is None


def test_a_deleted_or_forged_session_cookie_is_nobody(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    signed_in(client, user)
    genuine = client.cookies.get(SESSION_COOKIE)
    assert genuine is not None
    forged = SessionSigner("another key").sign(SessionSigner(SECRET_KEY).read(genuine))  # type: ignore[arg-type]
    client.cookies.set(SESSION_COOKIE, forged, domain=COOKIE_DOMAIN)
    assert who(client) is None
    client.cookies.set(SESSION_COOKIE, genuine[:-2] + "xx", domain=COOKIE_DOMAIN)
    assert who(client) is None


# --- the guest's history --------------------------------------------------------------------------------------


def test_a_guest_who_signs_up_keeps_their_history(client: TestClient, app: FastAPI) -> None:
    first, second = answer_card(client), answer_card(client)

    assert sign_up(client, "ada@example.org").status_code == 303

    assert progress_links(client) == [second, first]
    assert client.get(first).status_code == 200
    with app.state.sessionmaker() as session:
        user = session.scalars(select(User)).one()
        learner = session.scalars(select(Learner).where(Learner.user_id == user.id)).one()
    assert [entry["id"] for entry in client.get("/api/v1/submissions").json()] == [
        int(second.rsplit("/", 1)[1]),
        int(first.rsplit("/", 1)[1]),
    ]
    assert learner.user_id == user.id


def test_a_guest_who_signs_in_to_an_account_without_answers_keeps_their_history(
    client: TestClient, make_user: MakeUser
) -> None:
    user = make_user()
    result = answer_card(client)

    assert sign_in(client, user.email).status_code == 303

    assert progress_links(client) == [result]


def test_a_guest_who_signs_in_to_an_account_with_answers_joins_both_histories(
    client: TestClient, make_client: Callable[[], TestClient], make_user: MakeUser
) -> None:
    user = make_user()
    laptop = make_client()
    signed_in(laptop, user)
    on_laptop = answer_card(laptop)
    as_guest = answer_card(client)

    assert sign_in(client, user.email).status_code == 303

    assert progress_links(client) == [as_guest, on_laptop]
    assert progress_links(laptop) == [as_guest, on_laptop]


def test_a_signed_in_learner_sees_the_same_seeds_on_every_device(
    client: TestClient, make_client: Callable[[], TestClient], make_user: MakeUser
) -> None:
    user = make_user()
    phone = make_client()
    signed_in(client, user)
    signed_in(phone, user)
    variant = "/api/v1/cards/compare-two-students/variant"
    assert client.get(variant).json()["seed"] == phone.get(variant).json()["seed"]


# --- brute force ----------------------------------------------------------------------------------------------


def test_ten_wrong_passwords_lock_the_account_with_retry_after(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    statuses = [sign_in(client, user.email, f"wrong password {i}").status_code for i in range(9)]
    assert statuses == [400] * 9

    tenth = sign_in(client, user.email, "wrong password 10")

    assert tenth.status_code == 429
    assert int(tenth.headers["retry-after"]) == 15 * 60
    assert "Too many failed sign-ins for this account or from this network" in tenth.text
    assert "try again in 15 minutes" in tenth.text
    locked = sign_in(client, user.email)  # even the right password waits
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    assert who(client) is None


def test_the_lock_is_per_email(client: TestClient, make_user: MakeUser) -> None:
    locked, other = make_user(), make_user()
    for i in range(10):
        sign_in(client, locked.email, f"wrong password {i}")
    assert sign_in(client, other.email).status_code == 303


# --- the navigation -------------------------------------------------------------------------------------------


def nav(html: str) -> str:
    return html[html.index('<nav aria-label="Main">') : html.index("</nav>")]


def test_the_navigation_offers_sign_in_and_sign_up_to_guests(client: TestClient) -> None:
    bar = nav(client.get("/").text)
    assert 'href="/signin"' in bar and 'href="/signup"' in bar
    assert "Sign out" not in bar and 'href="/account"' not in bar


def test_the_navigation_shows_the_user_their_account_and_a_sign_out_form(
    client: TestClient, make_user: MakeUser
) -> None:
    user = make_user()
    signed_in(client, user)
    bar = nav(client.get("/").text)
    assert f'href="/account"><span class="visually-hidden">Account: </span>{user.email}</a>' in bar
    signout = r'<form class="signout" method="post" action="/signout">\s*<input type="hidden" name="csrf_token"'
    assert re.search(signout, bar)
    assert 'href="/signin"' not in bar
    assert "/instructor" not in bar


@pytest.mark.parametrize("role", ["instructor", "admin"])
def test_instructors_and_admins_get_an_instructor_link(client: TestClient, make_user: MakeUser, role: str) -> None:
    signed_in(client, make_user(role))
    assert 'href="/instructor"' in nav(client.get("/").text)


# --- the forms are accessible ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/signin", "/signup", "/account"])
def test_every_field_of_the_account_forms_has_a_label_and_every_form_a_token(
    client: TestClient, make_user: MakeUser, path: str
) -> None:
    if path == "/account":
        signed_in(client, make_user("instructor"))
    html = client.get(path).text
    main = html[html.index("<main") :]
    ids = re.findall(r'<(?:input|textarea)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', main)
    labelled = set(re.findall(r'<label for="([^"]+)"', main))
    assert ids and set(ids) <= labelled
    assert main.count("<form") == main.count('name="csrf_token"')
    assert "<script" not in html
