"""The LTI pages under the Content-Security-Policy: the deep linking answer may post to its platform, no other.

The page that carries the signed answer back to the LMS is a form whose action is the platform's return URL; its
response (and only it) adds that platform's origin to ``form-action``. The launch signs the user in with
cookies that work inside the LMS's frame, so they are Secure whatever COOKIE_SECURE says.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lti_platform import INSTRUCTOR, FakePlatform, quick_tool_keys
from lti_web import MakeUser, https_client, install_platform, launch, make_deck, without_worker
from markup_support import executable_markup

from app.config import Settings
from app.services.lti import claims as c


@pytest.fixture(autouse=True)
def quick_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    quick_tool_keys(monkeypatch)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return without_worker(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with https_client(app) as test_client:
        yield test_client


@pytest.fixture
def platform(app: FastAPI, client: TestClient) -> FakePlatform:
    return install_platform(app, client)


def hidden(page: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', page)
    assert found is not None, f"no hidden field {name}"
    return html.unescape(found.group(1))


def form_action(response: object) -> str:
    policy: str = response.headers["content-security-policy"]  # type: ignore[attr-defined]
    return next(part.strip() for part in policy.split(";") if part.strip().startswith("form-action"))


def test_only_the_deep_linking_answer_may_post_to_the_platform(
    app: FastAPI, client: TestClient, platform: FakePlatform, make_user: MakeUser
) -> None:
    slug = make_deck(app, make_user("instructor"))
    launched = launch(client, platform, roles=(INSTRUCTOR,), message_type=c.DEEP_LINKING_REQUEST)
    assert launched.status_code == 303
    assert all("secure" in cookie.lower() for cookie in launched.headers.get_list("set-cookie"))
    picker = client.get(launched.headers["location"])
    assert form_action(picker) == "form-action 'self'"
    assert executable_markup(picker.text) == []

    answer = client.post(
        "/lti/deep-link",
        data={"request": hidden(picker.text, "request"), "choice": f"deck:{slug}",
              "csrf_token": hidden(picker.text, "csrf_token")},
    )
    assert answer.status_code == 200
    assert f'action="{platform.issuer}/deep_links/return"' in answer.text
    assert form_action(answer) == f"form-action 'self' {platform.issuer}"
    assert answer.headers["cross-origin-opener-policy"] == "unsafe-none"
    assert executable_markup(answer.text) == []  # the form is sent by static/lti-return.js

    assert form_action(client.get(f"/decks/{slug}")) == "form-action 'self'"
