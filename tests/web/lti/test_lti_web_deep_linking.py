"""Deep linking through the web app: an instructor picks a deck, and the platform accepts the signed answer."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lti_platform import INSTRUCTOR, LEARNER, FakePlatform, quick_tool_keys
from lti_web import MakeUser, https_client, install_platform, launch, make_deck, without_worker

from app.config import Settings
from app.services.lti import claims as c
from app.services.lti.keys import rotate_key


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


def picker(client: TestClient, platform: FakePlatform, roles: tuple[str, ...] = (INSTRUCTOR,)) -> str:
    response = launch(client, platform, roles=roles, message_type=c.DEEP_LINKING_REQUEST)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/lti/deep-link?request=")
    return str(response.headers["location"])


def test_an_instructor_picks_a_deck_and_the_platform_accepts_the_signed_link(
    app: FastAPI, client: TestClient, platform: FakePlatform, make_user: MakeUser
) -> None:
    slug = make_deck(app, make_user("instructor"))
    page = client.get(picker(client, platform))
    assert page.status_code == 200
    assert f'value="deck:{slug}"' in page.text
    assert 'value="card:evaluate-student-models"' in page.text

    answer = client.post(
        "/lti/deep-link",
        data={
            "request": hidden(page.text, "request"),
            "choice": f"deck:{slug}",
            "csrf_token": hidden(page.text, "csrf_token"),
        },
    )
    assert answer.status_code == 200
    assert f'action="{platform.issuer}/deep_links/return"' in answer.text
    assert 'method="post"' in answer.text
    claims = platform.verify_deep_linking_response(hidden(answer.text, "JWT"))  # against /.well-known/jwks.json
    assert claims[c.DL_DATA] == "opaque-platform-data-123"
    [item] = claims[c.CONTENT_ITEMS]
    assert item == {
        "type": "ltiResourceLink",
        "title": "Week one",
        "url": f"https://testserver/decks/{slug}",
        "custom": {"deck": slug},
        "lineItem": {"scoreMaximum": 100.0, "label": "Week one", "resourceId": f"deck:{slug}", "tag": "distill-tutor"},
    }

    # The platform makes the link; a learner following it lands on the deck.
    with https_client(app) as learner_browser:
        followed = launch(
            learner_browser, platform, subject="learner-7", custom=item["custom"], resource_link_id="new-link"
        )
    assert followed.status_code == 303
    assert followed.headers["location"] == f"/decks/{slug}"


def test_the_answer_is_signed_with_the_active_key_after_a_rotation(
    app: FastAPI, client: TestClient, platform: FakePlatform
) -> None:
    page = client.get(picker(client, platform))
    with app.state.sessionmaker() as session:
        new_kid = rotate_key(session=session).kid
    answer = client.post(
        "/lti/deep-link",
        data={
            "request": hidden(page.text, "request"),
            "choice": "card:evaluate-student-models",
            "csrf_token": hidden(page.text, "csrf_token"),
        },
    )
    token = hidden(answer.text, "JWT")
    claims = platform.verify_deep_linking_response(token)
    assert claims[c.CONTENT_ITEMS][0]["custom"] == {"card": "evaluate-student-models"}
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["kid"] == new_kid


def test_a_learner_cannot_pick(client: TestClient, platform: FakePlatform) -> None:
    page = client.get(picker(client, platform, roles=(LEARNER,)))
    assert page.status_code == 403


@pytest.mark.parametrize(
    ("choice", "message"),
    [("", "Choose a deck or a card for the link."), ("deck:no-such-deck", "no published deck 'no-such-deck'")],
)
def test_a_missing_or_unknown_choice_is_said_on_the_page(
    client: TestClient, platform: FakePlatform, choice: str, message: str
) -> None:
    page = client.get(picker(client, platform))
    data = {"request": hidden(page.text, "request"), "choice": choice, "csrf_token": hidden(page.text, "csrf_token")}
    response = client.post("/lti/deep-link", data=data)
    assert response.status_code == 422
    assert message in html.unescape(response.text)
    assert 'name="JWT"' not in response.text


def test_the_choice_needs_the_csrf_token(client: TestClient, platform: FakePlatform) -> None:
    page = client.get(picker(client, platform))
    response = client.post("/lti/deep-link", data={"request": hidden(page.text, "request"), "choice": "card:x"})
    assert response.status_code == 403


def test_an_altered_or_foreign_request_is_refused(app: FastAPI, client: TestClient, platform: FakePlatform) -> None:
    location = picker(client, platform)
    altered = client.get(location[:-3] + "abc")
    assert altered.status_code == 400
    assert "expired or was altered" in altered.text
    with https_client(app) as other:
        launch(other, platform, roles=(INSTRUCTOR,), subject="another-instructor", message_type=c.DEEP_LINKING_REQUEST)
        foreign = other.get(location)
    assert foreign.status_code == 403
    assert "belongs to another user" in foreign.text
