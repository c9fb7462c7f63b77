"""The app delivers queued grades in the background while it serves, without anyone running the outbox."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lti_platform import FakePlatform, quick_tool_keys
from lti_web import MakeUser, answer_deck_card, https_client, install_platform, launch, launched_user, make_deck

from app.config import Settings


@pytest.fixture(autouse=True)
def quick_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    quick_tool_keys(monkeypatch)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"outbox_interval": 0.05})


@pytest.fixture
def platform(app: FastAPI) -> FakePlatform:
    return install_platform(app)  # before the app starts, so that its worker uses the fake platform


@pytest.fixture
def client(app: FastAPI, platform: FakePlatform) -> Iterator[TestClient]:
    with https_client(app) as test_client:
        yield test_client


def test_the_background_worker_posts_the_score(
    app: FastAPI, client: TestClient, platform: FakePlatform, make_user: MakeUser
) -> None:
    slug = make_deck(app, make_user("instructor"))
    assert launch(client, platform, custom={"deck": slug}, lineitem=platform.lineitem_url(4)).status_code == 303
    answer_deck_card(app, client, deck=slug, card="evaluate-student-models", user=launched_user(app))
    deadline = time.monotonic() + 10
    while not platform.scores and time.monotonic() < deadline:
        time.sleep(0.05)
    [posted] = platform.scores
    assert posted.lineitem == platform.lineitem_url(4)
    assert posted.payload["userId"] == "lms-user-42"
