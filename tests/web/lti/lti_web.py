"""Shared set-up of the LTI web tests: an https client, the fake platform registered and wired in, a launch.

Each test module declares its fixtures from these (a ``conftest.py`` here would shadow the one in tests/web).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from http.cookiejar import Cookie
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lti_platform import FakePlatform
from sqlalchemy import select

from app.config import Settings
from app.db.integrations import LtiIdentity
from app.db.models import Learner, User
from app.services.catalog import get_card
from app.services.deck_editing import create_deck
from app.services.decks import DeckInput, deck_seed
from app.services.lti.keys import published_keys
from app.services.lti.platforms import register_platform
from app.services.submissions import variant_for

MakeUser = Callable[..., User]  # the ``make_user`` fixture of tests/web/conftest.py


def without_worker(settings: Settings) -> Settings:
    """The test settings with the background outbox worker off: the tests deliver when they choose."""
    return settings.model_copy(update={"outbox_interval": 0.0})


def https_client(app: FastAPI) -> TestClient:
    """A browser on https: the LTI cookies are ``Secure`` and are only sent back over https."""
    return TestClient(app, base_url="https://testserver")


def install_platform(app: FastAPI, client: TestClient | None = None) -> FakePlatform:
    """The fake platform, registered in the app's database and behind the app's HTTP client.

    It reads the tool's keys from ``/.well-known/jwks.json`` through ``client``, or from the database without one.
    """

    def tool_keys() -> dict[str, Any]:
        if client is not None:
            found: dict[str, Any] = client.get("/.well-known/jwks.json").json()
            return found
        with app.state.sessionmaker() as session:
            return published_keys(session=session)

    platform = FakePlatform(tool_keys=tool_keys)
    with app.state.sessionmaker() as session:
        register_platform(session=session, **platform.registration())
    app.state.http_client = platform.client()
    return platform


def login(client: TestClient, platform: FakePlatform, **params: str) -> httpx.Response:
    response = client.get("/lti/login", params=platform.login_params(**params), follow_redirects=False)
    assert response.status_code == 302, response.text
    return response


def launch(client: TestClient, platform: FakePlatform, **claim_options: Any) -> httpx.Response:
    """A whole launch: login initiation, the platform's authorisation, and the form post to the launch URL."""
    form = platform.authorize(login(client, platform).headers["location"], **claim_options)
    return client.post("/lti/launch", data=form, follow_redirects=False)


def launched_user(app: FastAPI, subject: str = "lms-user-42") -> User:
    with app.state.sessionmaker() as session:
        user = session.scalars(
            select(User).join(LtiIdentity, LtiIdentity.user_id == User.id).where(LtiIdentity.subject == subject)
        ).one()
        return user


def make_deck(
    app: FastAPI, owner: User, *, slug: str = "week-one", cards: tuple[str, ...] = ("evaluate-student-models",)
) -> str:
    """A published deck of built-in cards, owned by ``owner``; returns its slug."""
    with app.state.sessionmaker() as session:
        data = DeckInput(slug=slug, title="Week one", cards=cards, status="published")
        return create_deck(session=session, user=owner, data=data).slug


def cookie(client: TestClient, name: str) -> Cookie | None:
    """The client's cookie ``name`` with its attributes (path, secure), or None."""
    return next((found for found in client.cookies.jar if found.name == name), None)


def set_cookie_headers(response: httpx.Response, name: str) -> list[str]:
    return [value for value in response.headers.get_list("set-cookie") if value.startswith(f"{name}=")]


def answer_deck_card(app: FastAPI, client: TestClient, *, deck: str, card: str, user: User) -> httpx.Response:
    """Answer ``card`` in ``deck`` through the page, every part right (the written one with a sentence)."""
    page = client.get(f"/decks/{deck}/cards/{card}")
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    with app.state.sessionmaker() as session:
        learner_id = session.scalars(select(Learner.id).where(Learner.user_id == user.id)).one()
        variant = variant_for(
            get_card(session=session, slug=card).spec, deck_seed(learner_id=learner_id, deck_slug=deck, card_slug=card)
        )
    answers = {key: str(value) for key, value in variant.answers.items() if value is not None}
    text_parts = {part.key: "Student A is closer to the teacher." for part in variant.parts if part.kind == "text"}
    form = {**answers, **text_parts, "csrf_token": html.unescape(token.group(1))}
    return client.post(f"/decks/{deck}/cards/{card}", data=form, follow_redirects=False)


TEST_PASSWORD = "a long enough test password"  # what ``make_user`` gives every user


def sign_in(client: TestClient, user: User, password: str = TEST_PASSWORD) -> None:
    """Sign ``client`` in through the sign-in form."""
    page = client.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    form = {"email": user.email, "password": password, "csrf_token": html.unescape(token.group(1))}
    response = client.post("/signin", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
