"""Rate limits on submissions (per learner, per address) and on sign-in, counted in memory or in Redis."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from accounts_support import PASSWORD, SECRET_KEY, MakeUser, csrf_headers, form_csrf_token, signed_in
from decks_support import EXAMPLE, RIGHT, load_example_deck
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from redis_support import keys_under, redis_prefix, redis_url

from app.config import Settings
from app.db.models import User
from app.main import create_app
from app.services.tokens import create_token

SLUG = "evaluate-student-models"
SUBMIT = f"/api/v1/cards/{SLUG}/submissions"
ANSWERS = {"loss_a": "0.0268", "loss_b": "0.0452", "better": "Student A", "reasoning": "A is closer."}
# Limits no test reaches unless it sets them lower.
ROOMY = {"rate_limit_submissions": "1000/minute", "rate_limit_submissions_ip": "1000/minute"}


@pytest.fixture
def limits_config() -> dict[str, Any]:
    """The rate-limit settings of the test's app; a test sets its own with ``parametrize("limits_config", ...)``."""
    return {}


@pytest.fixture(params=["memory", "redis"])
def storage_config(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Counting in the app's memory, or in Redis under a key prefix of the test's own."""
    if request.param == "memory":
        yield {}
        return
    url = redis_url()
    with redis_prefix(url) as prefix:
        yield {"redis_url": url, "redis_key_prefix": prefix}


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, limits_config: dict[str, Any], storage_config: dict[str, Any]
) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        secret_key=SECRET_KEY,
        secret_key_file=tmp_path / "secret_key",
        **limits_config,
        **storage_config,
    )


def submit(client: TestClient, **headers: str) -> Any:
    return client.post(SUBMIT, json={"seed": 0, "answers": ANSWERS}, headers={**csrf_headers(client), **headers})


def refusal_message(response: Any) -> str:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 60
    [entry] = response.json()["detail"]
    assert entry["field"] is None
    message: str = entry["message"]
    return message


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    token = form_csrf_token(client.get("/signin").text)
    data = {"email": email, "password": password, "csrf_token": token}
    return client.post("/signin", data=data, follow_redirects=False)


# --- submissions --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limits_config", [{**ROOMY, "rate_limit_submissions": "3/minute"}])
def test_a_learner_over_the_limit_gets_429_with_retry_after_and_nothing_is_stored(
    client: TestClient, make_client: Callable[[], TestClient]
) -> None:
    statuses = [submit(client).status_code for _ in range(3)]

    refused = submit(client)

    assert statuses == [201] * 3
    message = refusal_message(refused)
    assert message.startswith("too many submissions from this learner: at most 3 per minute; try again in ")
    assert len(client.get("/api/v1/submissions").json()) == 3
    assert submit(make_client()).status_code == 201  # another learner at the same address has their own count


@pytest.mark.parametrize("limits_config", [{**ROOMY, "rate_limit_submissions": "2/minute"}])
def test_a_signed_in_learner_is_counted_on_every_device(
    app: FastAPI, make_client: Callable[[], TestClient], make_user: MakeUser
) -> None:
    user = make_user()
    laptop, phone = signed_in(make_client(), user), signed_in(make_client(), user)

    assert [submit(laptop).status_code, submit(phone).status_code] == [201, 201]
    assert "from this learner" in refusal_message(submit(laptop))


@pytest.mark.parametrize("limits_config", [{**ROOMY, "rate_limit_submissions_ip": "3/minute"}])
def test_an_address_over_its_limit_refuses_every_learner_behind_it(make_client: Callable[[], TestClient]) -> None:
    statuses = [submit(make_client()).status_code for _ in range(3)]

    refused = submit(make_client())

    assert statuses == [201] * 3
    assert refusal_message(refused).startswith("too many submissions from this network address: at most 3 per minute")


@pytest.mark.parametrize("limits_config", [{**ROOMY, "rate_limit_submissions": "2/minute"}])
def test_the_deck_route_and_the_answer_forms_count_with_the_api(app: FastAPI, client: TestClient) -> None:
    deck = load_example_deck(app)
    deck_card = f"/api/v1/decks/{deck}/cards/{SLUG}/submissions"
    assert submit(client).status_code == 201
    answered = client.post(deck_card, json={"answers": RIGHT}, headers=csrf_headers(client))
    assert answered.status_code == 201, answered.text
    assert "from this learner" in refusal_message(
        client.post(deck_card, json={"answers": RIGHT}, headers=csrf_headers(client))
    )

    for path in (f"/cards/{SLUG}", f"/decks/{EXAMPLE}/cards/{SLUG}"):
        token = form_csrf_token(client.get(path).text)
        page = client.post(path, data={"csrf_token": token, "seed": "0", **ANSWERS}, follow_redirects=False)

        assert page.status_code == 429
        assert 1 <= int(page.headers["retry-after"]) <= 60
        assert page.headers["content-type"].startswith("text/html")
        assert "Please wait a moment" in page.text
        assert "Too many answers from you in a short time (at most 2 per minute). Wait " in page.text
        assert f'href="{path}"' in page.text  # back to the same question


@pytest.mark.parametrize(
    "limits_config", [{"rate_limit_submissions": "1/minute", "rate_limit_submissions_ip": "1/minute"}]
)
def test_an_integration_token_relaying_a_course_is_not_limited(
    app: FastAPI, make_user: MakeUser, storage_config: dict[str, Any]
) -> None:
    with app.state.sessionmaker() as session:
        owner = session.get(User, make_user("admin").id)
        assert owner is not None
        secret = create_token(session=session, user=owner, name="lms", scopes=["read", "submit", "integrations"]).secret
    lms = TestClient(app, headers={"Authorization": f"Bearer {secret}"})

    statuses = [
        lms.post(SUBMIT, json={"seed": 0, "answers": ANSWERS, "learner": f"lms-{i % 2}"}).status_code for i in range(4)
    ]

    assert statuses == [201] * 4


@pytest.mark.parametrize(
    "limits_config",
    [{"rate_limit_enabled": False, "rate_limit_submissions": "1/minute", "rate_limit_submissions_ip": "1/minute"}],
)
def test_limits_switched_off_count_nothing(client: TestClient, storage_config: dict[str, Any]) -> None:
    assert [submit(client).status_code for _ in range(4)] == [201] * 4
    if storage_config:
        assert keys_under(storage_config["redis_url"], storage_config["redis_key_prefix"]) == []


# --- signing in --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limits_config", [{"rate_limit_signin": "3/minute"}])
def test_sign_ins_from_one_address_are_limited_and_the_form_says_how_long_to_wait(
    client: TestClient, make_user: MakeUser
) -> None:
    user = make_user()
    statuses = [sign_in(client, user.email, f"wrong {i}").status_code for i in range(3)]

    refused = sign_in(client, user.email)  # even the right password, until the minute is over

    assert statuses == [400] * 3
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Too many sign-in attempts from your network in a short time (at most 3 per minute)" in refused.text
    assert 'name="email"' in refused.text  # the form again, to try once the wait is over
    assert client.get("/api/v1/session").json()["user"] is None


def test_a_lock_out_made_on_one_server_holds_on_another(
    settings: Settings, app: FastAPI, make_user: MakeUser, storage_config: dict[str, Any]
) -> None:
    if not storage_config:
        pytest.skip("servers share lock-outs through Redis only")
    user = make_user()
    first, second = TestClient(app), TestClient(create_app(settings))
    with first, second:
        statuses = [sign_in(first, user.email, f"wrong {i}").status_code for i in range(10)]

        locked = sign_in(second, user.email)

        assert statuses == [400] * 9 + [429]
        assert locked.status_code == 429
        assert 14 * 60 <= int(locked.headers["retry-after"]) <= 15 * 60
        assert "Too many failed sign-ins for this account" in locked.text
        keys = keys_under(settings.redis_url, settings.redis_key_prefix)
        assert keys and not any(user.email in key for key in keys)  # addresses are hashed, never written out


# --- Redis out of reach --------------------------------------------------------------------------------------


@pytest.mark.parametrize("storage_config", [{"redis_url": "redis://127.0.0.1:1/0"}])
@pytest.mark.parametrize("limits_config", [{"rate_limit_submissions": "1/minute", "rate_limit_signin": "1/minute"}])
def test_with_redis_out_of_reach_requests_go_through_and_a_warning_is_logged(
    client: TestClient, make_user: MakeUser, caplog: pytest.LogCaptureFixture
) -> None:
    user = make_user()
    with caplog.at_level(logging.WARNING, logger="app.services.rate_limits"):
        statuses = [submit(client).status_code for _ in range(3)]
        for i in range(3):
            sign_in(client, user.email, f"wrong {i}")
        signed = sign_in(client, user.email)

    assert statuses == [201] * 3
    assert signed.status_code == 303
    warnings = [r.getMessage() for r in caplog.records if r.name == "app.services.rate_limits"]
    assert len(warnings) == 1  # once per outage, not once per request
    assert "cannot be reached" in warnings[0] and "let through" in warnings[0]


# --- settings ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        (
            "rate_limit_submissions",
            "60/minte",
            "RATE_LIMIT_SUBMISSIONS='60/minte' is not a rate in the limits notation",
        ),
        ("rate_limit_submissions_ip", "lots", "RATE_LIMIT_SUBMISSIONS_IP='lots' is not a rate"),
        ("rate_limit_signin", "1/second;5/minute", "RATE_LIMIT_SIGNIN='1/second;5/minute' holds 2 rates"),
        ("rate_limit_submissions", "0/minute", "allows nothing"),
        ("redis_url", "localhost:6379", "REDIS_URL='localhost:6379' is not a Redis URL"),
    ],
)
def test_a_bad_limit_setting_is_refused_at_start_naming_it(setting: str, value: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words.replace("(", r"\(").replace(";", ";")):
        Settings(_env_file=None, **{setting: value})


def test_the_defaults_leave_room_for_a_course_behind_one_address() -> None:
    defaults = Settings(_env_file=None)
    assert defaults.rate_limit_enabled
    assert (defaults.rate_limit_submissions, defaults.rate_limit_submissions_ip) == ("60/minute", "3000/minute")
    assert defaults.rate_limit_signin == "300/minute"
    assert defaults.redis_url == ""
